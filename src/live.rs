//! Reading the live state of clusters for `diff` (live) and `drift`.

use flotilla_core::drift::{ClusterDrift, ClusterStatus, DRIFT_REPORT_SCHEMA, DriftReport};
use flotilla_core::model::{Cluster, Fleet};
use flotilla_core::report::{Drift, OutputFormat};
use flotilla_engine::destination::{ConnectOptions, connect};
use flotilla_engine::reconcile::check_cluster;
use futures::StreamExt;

use crate::clusters::ClusterArgs;
use crate::connect::ConnectArgs;
use crate::repo::RepoArgs;

/// Which clusters, and how to reach them.
#[derive(clap::Args)]
pub struct LiveArgs {
    #[command(flatten)]
    pub select: ClusterArgs,
    #[command(flatten)]
    pub connect: ConnectArgs,
    /// How many clusters to read at once (at least 1).
    #[arg(long, default_value_t = 8, value_parser = crate::at_least_one)]
    pub concurrency: usize,
}

/// Compares every selected cluster's desired state with its live state.
pub fn report(
    fleet: &Fleet,
    args: &LiveArgs,
    directory_base: Option<std::path::PathBuf>,
) -> anyhow::Result<DriftReport> {
    let names = args.select.select(fleet)?;
    let options = args
        .connect
        .options(fleet)?
        .with_directory_base(directory_base);
    let selected: Vec<&Cluster> = fleet
        .clusters
        .iter()
        .filter(|c| names.contains(&c.name))
        .collect();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let mut clusters: Vec<ClusterDrift> = runtime.block_on(
        futures::stream::iter(selected)
            .map(|c| one(fleet, c, &options))
            .buffer_unordered(args.concurrency.max(1))
            .collect(),
    );
    let order: Vec<&str> = fleet.clusters.iter().map(|c| c.name.as_str()).collect();
    clusters.sort_by_key(|c| order.iter().position(|n| *n == c.cluster));
    Ok(DriftReport {
        schema: DRIFT_REPORT_SCHEMA,
        fleet: fleet.name.clone(),
        revision: fleet.revision.clone(),
        clusters,
    })
}

async fn one(fleet: &Fleet, cluster: &Cluster, options: &ConnectOptions) -> ClusterDrift {
    let desired = match flotilla_core::render::render_cluster(fleet, cluster) {
        Ok(d) => d,
        Err(e) => {
            return ClusterDrift::failed(&cluster.name, ClusterStatus::RenderError, e.to_string());
        }
    };
    let mut destination = match connect(cluster, options).await {
        Ok(t) => t,
        Err(e) => {
            return ClusterDrift::failed(&cluster.name, ClusterStatus::Unreachable, e.to_string());
        }
    };
    match check_cluster(&mut destination, &fleet.name, &desired, |key| {
        fleet.ignored_fields(key)
    })
    .await
    {
        Ok(d) => ClusterDrift::detected(&cluster.name, d),
        Err(e) => ClusterDrift::failed(&cluster.name, ClusterStatus::Unreachable, e.to_string()),
    }
}

/// Loads the fleet, compares the clusters with live and prints the report;
/// `diffs` adds each object's unified diff to the text form. Exit code 0 in
/// sync, 1 drift, 2 a cluster not compared or the fleet does not load.
pub fn print_report(
    repo: &RepoArgs,
    live: &LiveArgs,
    format: OutputFormat,
    diffs: bool,
) -> anyhow::Result<std::process::ExitCode> {
    let snapshot = repo.snapshot(None)?;
    let threads = flotilla_source::Threads::available();
    let fleet = match flotilla_core::load::load_with(&snapshot, &threads) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("{e}\nthe fleet does not load: no cluster compared, no drift report");
            return Ok(std::process::ExitCode::from(2));
        }
    };
    let r = report(&fleet, live, repo.directory_base())?;
    crate::print_report(&Drift { report: &r, diffs }, format)?;
    Ok(std::process::ExitCode::from(exit_code(&r)))
}

/// The exit code of a report: 0 in sync, 1 drift, 2 a cluster not compared.
fn exit_code(r: &DriftReport) -> u8 {
    if r.has_errors() {
        2
    } else if r.has_drift() {
        1
    } else {
        0
    }
}
