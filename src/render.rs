//! `flotilla render`: print or write the desired state of clusters.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, bail};
use flotilla_core::render::DesiredState;
use flotilla_core::report::{Manifests, OutputFormat, Report};

use crate::repo::RepoArgs;

/// Arguments of `flotilla render`.
#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    repo: RepoArgs,
    /// Render only these clusters (repeatable); all clusters by default.
    #[arg(long = "cluster", value_name = "NAME")]
    clusters: Vec<String>,
    /// Write one file per object to DIR/<cluster>/ instead of printing.
    #[arg(long, value_name = "DIR")]
    out: Option<PathBuf>,
    /// Output format.
    #[arg(short = 'o', long, value_parser = crate::output_formats(Manifests::FORMATS), default_value_t = OutputFormat::Yaml)]
    output: OutputFormat,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let snapshot = args.repo.snapshot(None)?;
    let fleet = match flotilla_core::load::load(&snapshot) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("{e}");
            return Ok(ExitCode::from(1));
        }
    };
    for name in &args.clusters {
        if fleet.cluster(name).is_none() {
            let known: Vec<_> = fleet.clusters.iter().map(|c| c.name.as_str()).collect();
            bail!(
                "unknown cluster {name:?}; the fleet has: {}",
                known.join(", ")
            );
        }
    }
    let mut failed = false;
    let mut states = Vec::new();
    for cluster in &fleet.clusters {
        if !args.clusters.is_empty() && !args.clusters.contains(&cluster.name) {
            continue;
        }
        match flotilla_core::render::render_cluster(&fleet, cluster) {
            Ok(s) => states.push(s),
            Err(e) => {
                eprintln!("{e}");
                failed = true;
            }
        }
    }
    match &args.out {
        Some(dir) => {
            for s in &states {
                write_folder(&dir.join(&s.cluster), s, args.output)?;
            }
        }
        None => crate::print_report(&Manifests(&states), args.output)?,
    }
    Ok(ExitCode::from(if failed { 1 } else { 0 }))
}

/// Writes one file per object and removes files of objects no longer there.
fn write_folder(dir: &Path, state: &DesiredState, format: OutputFormat) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let ext = if format == OutputFormat::Json {
        "json"
    } else {
        "yaml"
    };
    let mut written = std::collections::BTreeSet::new();
    for o in &state.objects {
        let name = o.key.file_name().replace(".yaml", &format!(".{ext}"));
        let text = match format {
            OutputFormat::Json => flotilla_core::report::json::pretty(&o.object)?,
            _ => flotilla_core::yaml::to_string(&o.object),
        };
        let path = dir.join(&name);
        std::fs::write(&path, text).with_context(|| format!("writing {}", path.display()))?;
        written.insert(name);
    }
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name().to_string_lossy().to_string();
        let ours = name.ends_with(".yaml") || name.ends_with(".json");
        if ours && !written.contains(&name) && entry.file_type()?.is_file() {
            std::fs::remove_file(entry.path())?;
        }
    }
    Ok(())
}
