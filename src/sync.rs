//! `flotilla sync`: apply each cluster's desired state, wave by wave.

use std::io::Write;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use clap::ValueEnum;
use flotilla_core::changeset::ChangeSet;
use flotilla_core::model::{Cluster, Fleet};
use flotilla_core::plan::PlanOptions;
use flotilla_engine::cluster::{ConnectOptions, connect};
use flotilla_engine::sync::{SyncOptions, sync_cluster};
use futures::StreamExt;

use crate::connect::ConnectArgs;
use crate::repo::RepoArgs;

/// Arguments of `flotilla sync`.
#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    repo: RepoArgs,
    /// Sync only these clusters (repeatable); all clusters by default.
    #[arg(long = "cluster", value_name = "NAME")]
    clusters: Vec<String>,
    /// Validate and compute on the servers (dryRun=All); store nothing.
    #[arg(long)]
    dry_run: bool,
    /// Delete objects that left Git (the fleet's `prune` setting by default).
    #[arg(long, overrides_with = "no_prune")]
    prune: bool,
    /// Never delete anything this run.
    #[arg(long)]
    no_prune: bool,
    /// Allow one round to prune more than --max-prune-ratio of a cluster's objects.
    #[arg(long)]
    allow_mass_prune: bool,
    /// The largest share of a cluster's managed objects one round may prune.
    #[arg(long, default_value_t = 0.5, value_name = "RATIO", value_parser = flotilla_core::plan::parse_prune_ratio)]
    max_prune_ratio: f64,
    /// Take fields back from other field managers (the default, unless the
    /// fleet says `spec.conflicts: fail`).
    #[arg(long, overrides_with = "no_force_conflicts")]
    force_conflicts: bool,
    /// Fail on a conflict with another field manager instead of taking the
    /// fields back (kubectl's behaviour).
    #[arg(long)]
    no_force_conflicts: bool,
    /// How many clusters to sync at once.
    #[arg(long, default_value_t = 8)]
    concurrency: usize,
    #[command(flatten)]
    connect: ConnectArgs,
    /// Output format of the summary.
    #[arg(short = 'o', long, value_enum, default_value_t = Format::Text)]
    output: Format,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Format {
    Text,
    Json,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let snapshot = args.repo.snapshot(None)?;
    let fleet = match flotilla_core::load::load(&snapshot) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("{e}\nthe fleet does not load: nothing was synced");
            return Ok(ExitCode::from(2));
        }
    };
    for name in &args.clusters {
        anyhow::ensure!(fleet.cluster(name).is_some(), "unknown cluster {name:?}");
    }
    let connect_options = args.connect.options(&fleet)?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let results = runtime.block_on(sync_waves(&fleet, &args, &connect_options));
    let failed = results.iter().any(ChangeSet::is_failure);
    match args.output {
        Format::Json => println!("{}", serde_json::to_string_pretty(&results)?),
        Format::Text => {
            for r in &results {
                println!("{r}");
                for c in r.changes.iter().filter(|c| c.message.is_some()) {
                    println!(
                        "  {} {}: {}",
                        c.action.as_str(),
                        c.key,
                        c.message.as_deref().unwrap_or("")
                    );
                }
                for c in &r.changes {
                    for line in c.taken_lines() {
                        println!("  {} {}: {line}", c.action.as_str(), c.key);
                    }
                }
            }
        }
    }
    Ok(ExitCode::from(if failed { 2 } else { 0 }))
}

/// Syncs the selected clusters wave by wave; a wave with a failed cluster
/// stops the rollout, and later waves are reported as not synced.
async fn sync_waves(
    fleet: &Fleet,
    args: &Args,
    connect_options: &ConnectOptions,
) -> Vec<ChangeSet> {
    let prune = if args.no_prune {
        false
    } else {
        args.prune || fleet.prune
    };
    let options = SyncOptions {
        dry_run: args.dry_run,
        force_conflicts: if args.no_force_conflicts {
            false
        } else {
            args.force_conflicts || fleet.conflicts.force()
        },
        plan: PlanOptions {
            prune,
            max_prune_ratio: args.max_prune_ratio,
            allow_mass_prune: args.allow_mass_prune,
        },
        ..SyncOptions::default()
    };
    let mut results = Vec::new();
    let mut halted: Option<String> = None;
    for wave in &fleet.rollout.waves {
        let members: Vec<&Cluster> = wave
            .clusters
            .iter()
            .filter(|n| args.clusters.is_empty() || args.clusters.contains(n))
            .filter_map(|n| fleet.cluster(n))
            .collect();
        if let Some(why) = &halted {
            results.extend(
                members
                    .iter()
                    .map(|c| ChangeSet::failed(&c.name, args.dry_run, why.clone())),
            );
            continue;
        }
        let done: Vec<ChangeSet> = futures::stream::iter(members)
            .map(|c| sync_one(fleet, c, options, connect_options))
            .buffer_unordered(args.concurrency.max(1))
            .collect()
            .await;
        if let Some(bad) = done.iter().find(|r| r.is_failure()) {
            halted = Some(format!(
                "not synced: wave {:?} failed on cluster {}",
                wave.name, bad.cluster
            ));
        }
        results.extend(done);
    }
    let order: Vec<&str> = fleet.clusters.iter().map(|c| c.name.as_str()).collect();
    results.sort_by_key(|r| order.iter().position(|n| *n == r.cluster));
    results
}

async fn sync_one(
    fleet: &Fleet,
    cluster: &Cluster,
    options: SyncOptions,
    connect_options: &ConnectOptions,
) -> ChangeSet {
    let desired = match flotilla_core::render::render_cluster(fleet, cluster) {
        Ok(d) => d,
        Err(e) => {
            return ChangeSet::failed(
                &cluster.name,
                options.dry_run,
                format!("render error, nothing applied or pruned:\n{e}"),
            );
        }
    };
    let mut target = match connect(cluster, connect_options).await {
        Ok(t) => t,
        Err(e) => return ChangeSet::failed(&cluster.name, options.dry_run, e.to_string()),
    };
    let started = Instant::now();
    let mut last = Instant::now();
    let name = cluster.name.clone();
    sync_cluster(
        &mut target,
        &fleet.name,
        fleet.revision.as_deref(),
        &desired,
        options,
        |done, total| {
            // A progress line on long syncs, at most every two seconds.
            if started.elapsed() > Duration::from_secs(2) && last.elapsed() > Duration::from_secs(2)
            {
                last = Instant::now();
                let _ = writeln!(std::io::stderr(), "{name}: {done}/{total} objects");
            }
        },
    )
    .await
}
