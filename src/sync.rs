//! `flotilla sync`: apply each cluster's desired state, wave by wave,
//! through the hub's rollout (the one `flotilla serve` uses).

use std::io::Write;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use flotilla_core::changeset::ChangeSet;
use flotilla_core::health::HealthStatus;
use flotilla_core::model::Fleet;
use flotilla_core::plan::PlanOptions;
use flotilla_core::report::{OutputFormat, Report, SyncSummary};
use flotilla_engine::destination::ConnectOptions;
use flotilla_engine::reconcile::SyncOptions;
use flotilla_hub::pool::Pool;
use flotilla_hub::rollout::{self, Outcome, RolloutOptions, push::PushDriver};

use crate::clusters::ClusterArgs;
use crate::connect::ConnectArgs;
use crate::repo::RepoArgs;

/// Arguments of `flotilla sync`.
#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    repo: RepoArgs,
    #[command(flatten)]
    select: ClusterArgs,
    /// Validate and compute on the servers (dryRun=All); store nothing.
    /// Lists each object that would be created, configured or pruned.
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
    /// How many pruning rounds the mass-prune guard looks back over, this
    /// one included (fleet.yaml `spec.pruneWindow`, else 5; 1 = this round alone).
    #[arg(long, value_name = "ROUNDS", value_parser = flotilla_core::plan::parse_prune_window)]
    prune_window: Option<usize>,
    /// Take fields back from other field managers (the default, unless the
    /// fleet says `spec.conflicts: fail`).
    #[arg(long, overrides_with = "no_force_conflicts")]
    force_conflicts: bool,
    /// Fail on a conflict with another field manager instead of taking the
    /// fields back (kubectl's behaviour).
    #[arg(long)]
    no_force_conflicts: bool,
    /// How many clusters to sync at once (at least 1).
    #[arg(long, default_value_t = 8, value_parser = crate::at_least_one)]
    concurrency: usize,
    /// With `healthGate` in fleet.yaml: wait for each wave's clusters to be
    /// healthy before the next wave (exit 2 if one is not).
    #[arg(long)]
    wait: bool,
    /// How long a wave may take to become healthy with --wait (e.g. 5m).
    #[arg(long, default_value = "5m", value_parser = crate::positive_duration, requires = "wait")]
    health_timeout: Duration,
    #[command(flatten)]
    connect: ConnectArgs,
    /// Output format of the summary.
    #[arg(short = 'o', long, value_parser = crate::output_formats(SyncSummary::FORMATS), default_value_t = OutputFormat::Text)]
    output: OutputFormat,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let snapshot = args.repo.snapshot(None)?;
    let threads = flotilla_source::Threads::available();
    let fleet = match flotilla_core::load::load_with(&snapshot, &threads) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("{e}\nthe fleet does not load: nothing was synced");
            return Ok(ExitCode::from(2));
        }
    };
    let names = args.select.select(&fleet)?;
    let connect_options = args
        .connect
        .options(&fleet)?
        .with_directory_base(args.repo.directory_base());
    // One cluster's sync is one sequence of stages: on one thread it costs
    // less than its wake-ups between threads would (about a third less CPU
    // for 1,000 objects). Several clusters: their connections' I/O runs on
    // the other threads beside the syncs.
    let runtime = if names.len() == 1 {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?
    } else {
        tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()?
    };
    let results = runtime.block_on(sync_waves(Arc::new(fleet), &args, &names, &connect_options));
    let failed = results.iter().any(ChangeSet::is_failure);
    crate::print_report(&SyncSummary(&results), args.output)?;
    Ok(ExitCode::from(if failed { 2 } else { 0 }))
}

/// Syncs the selected clusters wave by wave; a wave with a failed cluster
/// (or, with `--wait` and `healthGate`, one not healthy in time) stops the
/// rollout, and later waves are reported as not synced.
async fn sync_waves(
    fleet: Arc<Fleet>,
    args: &Args,
    names: &[String],
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
            prune_window: args
                .prune_window
                .or(fleet.prune_window)
                .unwrap_or(flotilla_core::plan::DEFAULT_PRUNE_WINDOW),
        },
        ..SyncOptions::default()
    };
    let driver = PushDriver {
        connect: connect_options.clone(),
        options,
        progress: Some(Arc::new(|name: &str, done: usize, total: usize| {
            // A progress line on long syncs.
            let _ = writeln!(std::io::stderr(), "{name}: {done}/{total} objects");
        })),
    };
    let gate = args.wait && fleet.rollout.health_gate;
    let rollout_options = RolloutOptions {
        health_gate: gate.then_some(args.health_timeout),
    };
    let waves = rollout::plan(&fleet, names);
    let pool = Pool::new(args.concurrency);
    let outcomes = rollout::run(
        &fleet,
        &waves,
        &driver,
        &pool,
        rollout_options,
        &AtomicBool::new(false),
    )
    .await;
    let mut results: Vec<ChangeSet> = outcomes
        .into_iter()
        .map(|o| match o.outcome {
            Outcome::Done { mut report, health } => {
                if let Some(h) = health.filter(|h| *h != HealthStatus::Healthy) {
                    report.error = Some(format!(
                        "synced, but not healthy within {} ({h:?})",
                        humantime::format_duration(args.health_timeout)
                    ));
                }
                report
            }
            Outcome::Halted(halt) => {
                ChangeSet::failed(&o.cluster, args.dry_run, format!("not synced: {halt}"))
            }
        })
        .collect();
    let order: Vec<&str> = fleet.clusters.iter().map(|c| c.name.as_str()).collect();
    results.sort_by_key(|r| order.iter().position(|n| *n == r.cluster));
    results
}
