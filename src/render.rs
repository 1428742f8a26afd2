//! `flotilla render`: print or write the desired state of clusters.

use serde_json::{Value, json};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use flotilla_core::render::DesiredState;
use flotilla_core::report::{Manifests, OutputFormat, Report};

use crate::clusters::ClusterArgs;
use crate::repo::RepoArgs;

/// Arguments of `flotilla render`.
#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    repo: RepoArgs,
    #[command(flatten)]
    select: ClusterArgs,
    /// Write one file per object to DIR/<cluster>/ instead of printing.
    #[arg(long, value_name = "DIR")]
    out: Option<PathBuf>,
    /// Output format.
    #[arg(short = 'o', long, value_parser = crate::output_formats(Manifests::FORMATS), default_value_t = OutputFormat::Yaml)]
    output: OutputFormat,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let snapshot = args.repo.snapshot(None)?;
    let threads = flotilla_source::Threads::available();
    let fleet = match flotilla_core::load::load_with(&snapshot, &threads) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("{e}");
            return Ok(ExitCode::from(1));
        }
    };
    let names = args.select.select(&fleet)?;
    // A bounded few clusters at a time (one per core, at most
    // RENDER_WIDTH), each rendered and serialised on its own worker thread,
    // then written or printed in order and dropped. Worker k takes clusters
    // k, k + width, ... and hands each over through a one-slot channel, so
    // it renders the next while the writer prints this one (no batch
    // barrier), and peak memory is the fleet plus two clusters per worker.
    let selected: Vec<&flotilla_core::model::Cluster> = fleet
        .clusters
        .iter()
        .filter(|c| names.contains(&c.name))
        .collect();
    let mut failed = false;
    let mut stream = match &args.out {
        Some(_) => None,
        None => Some(ManifestStream::new(args.output, selected.len())?),
    };
    let width = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .clamp(1, RENDER_WIDTH)
        .min(selected.len().max(1));
    let format = args.output;
    let printing = stream.is_some();
    let fleet = &fleet;
    let selected = &selected;
    std::thread::scope(|scope| -> anyhow::Result<()> {
        let receivers: Vec<std::sync::mpsc::Receiver<Rendered>> = (0..width)
            .map(|k| {
                let (send, receive) = std::sync::mpsc::sync_channel(1);
                scope.spawn(move || {
                    for cluster in selected.iter().skip(k).step_by(width) {
                        let rendered = std::panic::catch_unwind(|| {
                            render_one(fleet, cluster, format, printing)
                        })
                        .unwrap_or_else(|_| Err("rendering panicked".into()));
                        if send.send(rendered).is_err() {
                            // The writer stopped (an error): stop too.
                            break;
                        }
                    }
                });
                receive
            })
            .collect();
        let stdout = std::io::stdout();
        let mut out = stdout.lock();
        for i in 0..selected.len() {
            let r = receivers[i % width]
                .recv()
                .unwrap_or_else(|_| Err("rendering panicked".into()));
            let (state, body) = match r {
                Ok(r) => r,
                Err(e) => {
                    eprintln!("{e}");
                    failed = true;
                    continue;
                }
            };
            match (&args.out, &mut stream, body) {
                (Some(dir), _, _) => write_folder(&dir.join(&state.cluster), &state, args.output)?,
                (None, Some(stream), Some(body)) => {
                    stream.cluster(&mut out, &state.cluster, &body)?
                }
                _ => unreachable!("a stream without --out, a body for each printed cluster"),
            }
        }
        Ok(())
    })?;
    if let Some(stream) = stream {
        stream.end(&mut std::io::stdout().lock())?;
    }
    Ok(ExitCode::from(if failed { 1 } else { 0 }))
}

/// Renders one cluster and, when printing, serialises it (on a worker).
fn render_one(
    fleet: &flotilla_core::model::Fleet,
    cluster: &flotilla_core::model::Cluster,
    format: OutputFormat,
    printing: bool,
) -> Rendered {
    let state = flotilla_core::render::render_cluster(fleet, cluster).map_err(|e| e.to_string())?;
    let body = printing
        .then(|| ManifestStream::body(format, &state))
        .transpose()
        .map_err(|e| e.to_string())?;
    Ok((state, body))
}

/// The most clusters `render` holds at once (one per core up to this).
const RENDER_WIDTH: usize = 4;

/// One cluster rendered on a worker thread: its state and, when printing,
/// its serialised body; or its error, in words.
type Rendered = Result<(DesiredState, Option<String>), String>;

/// Manifests printed as each cluster is rendered, byte for byte what
/// [`Manifests`] prints for all of them at once: YAML documents (each
/// cluster after a `# cluster:` comment when several are selected), or JSON
/// (one `List`, or several in `{"clusters": [...]}`).
struct ManifestStream {
    format: OutputFormat,
    several: bool,
    written: usize,
}

impl ManifestStream {
    fn new(format: OutputFormat, selected: usize) -> anyhow::Result<Self> {
        if !Manifests::FORMATS.contains(&format) {
            // The report's own error, as before.
            Manifests(&[]).render(format)?;
        }
        Ok(Self {
            format,
            several: selected != 1,
            written: 0,
        })
    }

    /// One cluster's manifests in `format`, framed by [`Self::cluster`]
    /// (independent of its place in the output, so worker threads make it).
    fn body(format: OutputFormat, state: &DesiredState) -> anyhow::Result<String> {
        Ok(match format {
            OutputFormat::Json => flotilla_core::report::json::pretty(
                &flotilla_core::report::json::manifest_list(state),
            )?,
            _ => state.to_yaml(),
        })
    }

    /// Prints one cluster's [`Self::body`] in its place in the output.
    fn cluster(&mut self, out: &mut impl Write, cluster: &str, body: &str) -> anyhow::Result<()> {
        match self.format {
            OutputFormat::Json if self.several => {
                let head = if self.written == 0 {
                    "{\n  \"clusters\": [\n"
                } else {
                    ",\n"
                };
                out.write_all(head.as_bytes())?;
                let mut lines = body.trim_end().lines().peekable();
                while let Some(line) = lines.next() {
                    out.write_all(b"    ")?;
                    out.write_all(line.as_bytes())?;
                    if lines.peek().is_some() {
                        out.write_all(b"\n")?;
                    }
                }
            }
            OutputFormat::Json => out.write_all(body.as_bytes())?,
            _ => {
                if self.several {
                    writeln!(out, "# cluster: {cluster}")?;
                }
                out.write_all(body.as_bytes())?;
            }
        }
        self.written += 1;
        Ok(())
    }

    fn end(self, out: &mut impl Write) -> anyhow::Result<()> {
        if self.format == OutputFormat::Json && self.several {
            if self.written == 0 {
                out.write_all(b"{\n  \"clusters\": []\n}\n")?;
            } else {
                out.write_all(b"\n  ]\n}\n")?;
            }
        }
        out.flush()?;
        Ok(())
    }
}

/// The file `render --out` keeps in each cluster's folder, listing the files
/// it wrote there; only files it lists are ever removed.
const MANIFEST: &str = ".flotilla-render.json";

/// Writes one file per object and removes the files of objects no longer
/// there: only files listed in the folder's manifest, which the previous
/// `render --out` wrote. Every file goes through a temporary file and a
/// rename, and every path is checked to stay inside the folder.
fn write_folder(dir: &Path, state: &DesiredState, format: OutputFormat) -> anyhow::Result<()> {
    use flotilla_core::model::names::safe_file_name;
    use flotilla_engine::destination::safe_fs;
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let ext = if format == OutputFormat::Json {
        "json"
    } else {
        "yaml"
    };
    let before = read_manifest(dir)?;
    let mut written = std::collections::BTreeSet::new();
    for o in &state.objects {
        let name = safe_file_name(&o.key, ext);
        let text = match format {
            OutputFormat::Json => flotilla_core::report::json::pretty(&o.object)?,
            _ => flotilla_core::yaml::value_to_string(&o.object),
        };
        let private = o.key.group.is_empty() && o.key.kind == "Secret";
        safe_fs::write_file(dir, &name, text.as_bytes(), private)
            .with_context(|| format!("writing {}", dir.join(&name).display()))?;
        written.insert(name);
    }
    // The manifest lists what was written before anything is removed, so an
    // interrupted run never forgets a file it wrote.
    let listed: std::collections::BTreeSet<String> = before.union(&written).cloned().collect();
    write_manifest(dir, &listed)?;
    for name in before.difference(&written) {
        safe_fs::remove_file(dir, name)
            .with_context(|| format!("removing {}", dir.join(name).display()))?;
    }
    write_manifest(dir, &written)
}

/// The files the manifest of `dir` lists; names that are not plain file
/// names of the folder are ignored (never trusted as paths).
fn read_manifest(dir: &Path) -> anyhow::Result<std::collections::BTreeSet<String>> {
    let path = dir.join(MANIFEST);
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Default::default()),
        Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
    };
    let value: Value =
        serde_json::from_str(&text).with_context(|| format!("reading {}", path.display()))?;
    Ok(value["files"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .filter(|n| {
            flotilla_engine::destination::safe_fs::is_plain_file_name(n)
                && !n.starts_with('.')
                && (n.ends_with(".yaml") || n.ends_with(".json"))
        })
        .map(str::to_string)
        .collect())
}

fn write_manifest(dir: &Path, files: &std::collections::BTreeSet<String>) -> anyhow::Result<()> {
    let text = serde_json::to_string_pretty(&json!({
        "generatedBy": "flotilla render --out",
        "files": files,
    }))? + "\n";
    flotilla_engine::destination::safe_fs::write_file(dir, MANIFEST, text.as_bytes(), false)
        .with_context(|| format!("writing {}", dir.join(MANIFEST).display()))?;
    Ok(())
}
