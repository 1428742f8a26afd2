//! `flotilla validate`: load and render every cluster, report every error.

use std::process::ExitCode;

use flotilla_core::report::{OutputFormat, Report, ValidatedCluster, Validation};

use crate::repo::RepoArgs;

/// Arguments of `flotilla validate`.
#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    repo: RepoArgs,
    /// Output format.
    #[arg(short = 'o', long, value_parser = crate::output_formats(Validation::FORMATS), default_value_t = OutputFormat::Text)]
    output: OutputFormat,
    /// Keep running: validate again whenever a file of the local folder
    /// changes (the local development loop). Stop with Ctrl-C.
    #[arg(long)]
    watch: bool,
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
        // Only changes to what the loader reads count (not a build folder
        // beside the fleet); no path at all: the watcher lost track.
        let fleet_yaml = std::fs::read_to_string(folder.join(flotilla_core::load::FLEET_FILE))
            .unwrap_or_default();
        let read = change.read_by_loader(&fleet_yaml, |p| folder.join(p).is_dir());
        if read.is_empty() && !change.paths.is_empty() {
            return true;
        }
        println!(
            "\n# changed: {}",
            read.iter()
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
    let (fleet, mut errors) =
        flotilla_core::load::load_partial_with(&snapshot, &flotilla_source::Threads::available());
    let mut clusters = Vec::new();
    // Notes (not errors): fields controllers own, with the clusters they occur in.
    let mut notes = std::collections::BTreeMap::<String, Vec<String>>::new();
    if let Some(fleet) = &fleet {
        // Merge patches that replace lists kubectl and kustomize would merge by key.
        notes.extend(flotilla_core::render::strategic::merge_patch_warnings(
            fleet,
        ));
        // One cluster at a time, dropped once counted.
        for cluster in &fleet.clusters {
            let objects = match flotilla_core::render::render_cluster(fleet, cluster) {
                Ok(state) => {
                    let objects = state.objects.iter().map(|o| &o.object);
                    for f in flotilla_core::diff::controlled::controlled_fields(objects, []) {
                        notes
                            .entry(f.to_string())
                            .or_default()
                            .push(cluster.name.clone());
                    }
                    Some(state.objects.len())
                }
                Err(e) => {
                    errors.extend(e);
                    None
                }
            };
            clusters.push(ValidatedCluster {
                name: cluster.name.clone(),
                objects,
            });
        }
    }
    let validation = Validation {
        revision: snapshot.revision().unwrap_or("work tree").to_string(),
        clusters,
        errors: errors.coalesce(),
        notes: notes.into_iter().collect(),
    };
    crate::print_report(&validation, args.output)?;
    Ok(ExitCode::from(if validation.is_valid() { 0 } else { 1 }))
}
