//! The one-shot push driver (`flotilla sync`): renders a cluster, connects
//! to it (API server or directory), syncs, and for the health gate
//! connects again and waits. Nothing is kept between calls.

use std::sync::Arc;
use std::time::{Duration, Instant};

use flotilla_core::changeset::ChangeSet;
use flotilla_core::health::HealthStatus;
use flotilla_core::model::{Cluster, Fleet};
use flotilla_core::render::render_cluster;
use flotilla_engine::destination::{ConnectOptions, connect};
use flotilla_engine::reconcile::{SyncOptions, reconcile_cluster};

use super::ClusterDriver;

/// Progress of a long sync: `(cluster, objects done, objects in all)`.
pub type Progress = dyn Fn(&str, usize, usize) + Send + Sync;

/// Syncs by connecting to each cluster afresh.
pub struct PushDriver {
    /// How to reach clusters.
    pub connect: ConnectOptions,
    /// How to sync them.
    pub options: SyncOptions,
    /// Told of progress on long syncs (after 2 s, at most every 2 s).
    pub progress: Option<Arc<Progress>>,
}

impl ClusterDriver for PushDriver {
    type Report = ChangeSet;

    fn failure(&self, _cluster: &str, report: &ChangeSet) -> Option<String> {
        report.error.clone()
    }

    async fn sync(&self, fleet: &Arc<Fleet>, cluster: &Cluster) -> ChangeSet {
        let dry_run = self.options.dry_run;
        let desired = match render_cluster(fleet, cluster) {
            Ok(d) => d,
            Err(e) => {
                return ChangeSet::failed(
                    &cluster.name,
                    dry_run,
                    format!("render error, nothing applied or pruned:\n{e}"),
                );
            }
        };
        let mut destination = match connect(cluster, &self.connect).await {
            Ok(t) => t,
            Err(e) => {
                let mut failed = ChangeSet::new(&cluster.name, dry_run);
                failed.fail(e.failure(), e.to_string());
                return failed;
            }
        };
        let started = Instant::now();
        let mut last = Instant::now();
        let every = Duration::from_secs(2);
        reconcile_cluster(
            &mut destination,
            &fleet.name,
            fleet.revision.as_deref(),
            &desired,
            self.options,
            |done, total| {
                if let Some(p) = &self.progress
                    && started.elapsed() > every
                    && last.elapsed() > every
                {
                    last = Instant::now();
                    p(&cluster.name, done, total);
                }
            },
        )
        .await
    }

    fn synced(report: &ChangeSet) -> bool {
        !report.is_failure()
    }

    async fn wait_healthy(
        &self,
        fleet: &Arc<Fleet>,
        cluster: &Cluster,
        timeout: Duration,
    ) -> HealthStatus {
        let Ok(desired) = render_cluster(fleet, cluster) else {
            return HealthStatus::Unknown;
        };
        let Ok(mut destination) = connect(cluster, &self.connect).await else {
            return HealthStatus::Unknown;
        };
        flotilla_engine::wait::wait_healthy(&mut destination, &desired, timeout).await
    }
}
