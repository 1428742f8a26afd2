//! `flotilla validate`: load and render every cluster, report every error.

use std::process::ExitCode;

use clap::ValueEnum;
use serde_json::json;

use crate::repo::RepoArgs;

/// Arguments of `flotilla validate`.
#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    repo: RepoArgs,
    /// Output format.
    #[arg(short = 'o', long, value_enum, default_value_t = Format::Text)]
    output: Format,
    /// Keep running: validate again whenever a file of the local folder
    /// changes (the local development loop). Stop with Ctrl-C.
    #[arg(long)]
    watch: bool,
}

#[derive(Clone, Copy, ValueEnum)]
enum Format {
    Text,
    Json,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    if !args.watch {
        return validate_once(&args);
    }
    let folder = args.repo.local_folder()?;
    let watcher = flotilla_source::FolderWatcher::new(&folder)?;
    let stop = std::sync::atomic::AtomicBool::new(false);
    let mut last = validate_once(&args)?;
    watcher.run(&stop, |change| {
        println!(
            "\n# changed: {}",
            change
                .paths
                .iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        );
        match validate_once(&args) {
            Ok(code) => last = code,
            Err(e) => eprintln!("error: {e:#}"),
        }
        true
    })?;
    Ok(last)
}

fn validate_once(args: &Args) -> anyhow::Result<ExitCode> {
    let snapshot = args.repo.snapshot(None)?;
    // Render even after load errors, to report render errors too; the
    // partial fleet is used for nothing else.
    let (fleet, mut errors) = flotilla_core::load::load_partial(&snapshot);
    let mut summary = Vec::new();
    // Notes (not errors): fields controllers own, with the clusters they occur in.
    let mut notes = std::collections::BTreeMap::<String, Vec<String>>::new();
    if let Some(fleet) = &fleet {
        for (cluster, result) in flotilla_core::render::render_fleet(fleet) {
            match result {
                Ok(state) => {
                    let objects = state.objects.iter().map(|o| &o.object);
                    for f in flotilla_core::diff::controlled::controlled_fields(objects, []) {
                        notes
                            .entry(f.to_string())
                            .or_default()
                            .push(cluster.name.clone());
                    }
                    summary.push((cluster.name.clone(), Some(state.objects.len())))
                }
                Err(e) => {
                    summary.push((cluster.name.clone(), None));
                    errors.extend(e);
                }
            }
        }
    }
    let errors = errors.coalesce();
    let revision = snapshot.revision().unwrap_or("work tree").to_string();
    match args.output {
        Format::Json => {
            let clusters: Vec<_> = summary
                .iter()
                .map(|(n, count)| json!({"name": n, "rendered": count.is_some(), "objects": count}))
                .collect();
            let out = json!({
                "valid": errors.is_empty(),
                "revision": revision,
                "clusters": clusters,
                "errors": errors,
            });
            println!("{}", serde_json::to_string_pretty(&out)?);
        }
        Format::Text => {
            for e in errors.iter() {
                println!("{e}");
            }
            if errors.is_empty() {
                let objects: usize = summary.iter().filter_map(|(_, c)| *c).sum();
                println!(
                    "ok: {} clusters rendered, {objects} objects ({revision})",
                    summary.len()
                );
            } else {
                let files: std::collections::BTreeSet<_> = errors.iter().map(|e| &e.file).collect();
                println!(
                    "{} error{} in {} file{} ({revision})",
                    errors.len(),
                    if errors.len() == 1 { "" } else { "s" },
                    files.len(),
                    if files.len() == 1 { "" } else { "s" },
                );
            }
            for (note, clusters) in &notes {
                println!("note: {note} (clusters {})", clusters.join(", "));
            }
        }
    }
    Ok(ExitCode::from(if errors.is_empty() { 0 } else { 1 }))
}
