use std::collections::{HashMap, HashSet};
use std::sync::Mutex;

use flotilla_core::snapshot::Snapshot;

use super::*;

/// Fleet `demo`: c1 and c2 in wave `canary` (label wave=canary), r1..r3 in
/// wave `rest`.
fn fleet() -> Arc<Fleet> {
    let mut yaml = String::from(
        "apiVersion: flotilla.dev/v1alpha1\nkind: Fleet\nmetadata: {name: demo}\nspec:\n  clusters:\n",
    );
    for (name, wave) in [
        ("c1", "canary"),
        ("r1", "rest"),
        ("c2", "canary"),
        ("r2", "rest"),
        ("r3", "rest"),
    ] {
        yaml.push_str(&format!(
            "    - {{name: {name}, labels: {{wave: {wave}}}, connection: {{directory: out/{name}}}}}\n"
        ));
    }
    yaml.push_str("  bases:\n    - {name: app, path: bases/app}\n");
    yaml.push_str("  rollout:\n    waves:\n      - {name: canary, clusterSelector: {matchLabels: {wave: canary}}}\n      - {name: rest}\n");
    let snapshot = Snapshot::from_files([
        ("fleet.yaml", yaml.as_str()),
        (
            "bases/app/cm.yaml",
            "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a, namespace: default}\n",
        ),
    ]);
    Arc::new(flotilla_core::load::load(&snapshot).expect("the test fleet loads"))
}

fn wave(name: &str, clusters: &[&str]) -> Wave {
    Wave {
        name: name.into(),
        clusters: clusters.iter().map(|c| c.to_string()).collect(),
    }
}

#[test]
fn plan_keeps_wave_order_and_the_selection() {
    let f = fleet();
    assert_eq!(
        plan(&f, &[]),
        vec![
            wave("canary", &["c1", "c2"]),
            wave("rest", &["r1", "r2", "r3"])
        ]
    );
    assert_eq!(
        plan(&f, &["r2".into(), "c2".into()]),
        vec![wave("canary", &["c2"]), wave("rest", &["r2"])]
    );
    assert_eq!(
        plan(&f, &["r1".into()]),
        vec![wave("canary", &[]), wave("rest", &["r1"])]
    );
}

#[test]
fn a_cluster_passes_when_synced_and_gated_healthy() {
    use HealthStatus::*;
    assert_eq!(cluster_verdict(true, None, false), None);
    assert_eq!(cluster_verdict(true, Some(Progressing), false), None);
    assert_eq!(cluster_verdict(false, None, false), Some(HaltCause::Failed));
    assert_eq!(
        cluster_verdict(false, Some(Healthy), true),
        Some(HaltCause::Failed)
    );
    assert_eq!(cluster_verdict(true, Some(Healthy), true), None);
    for h in [Unknown, Progressing, Degraded, Missing] {
        assert_eq!(
            cluster_verdict(true, Some(h), true),
            Some(HaltCause::Unhealthy(h))
        );
    }
    assert_eq!(
        cluster_verdict(true, None, true),
        Some(HaltCause::Unhealthy(Unknown))
    );
}

#[test]
fn a_wave_halts_on_its_first_cluster_that_did_not_pass() {
    let results = [
        ("c1", true, Some(HealthStatus::Healthy)),
        ("c2", true, Some(HealthStatus::Progressing)),
        ("c3", false, None),
    ];
    let halt = verdict("canary", results, true).expect("halts");
    assert_eq!(
        halt,
        Halt {
            wave: "canary".into(),
            cluster: "c2".into(),
            cause: HaltCause::Unhealthy(HealthStatus::Progressing)
        }
    );
    assert_eq!(
        halt.to_string(),
        "wave \"canary\" was not healthy on cluster c2 (Progressing)"
    );
    let halt = verdict("canary", results, false).expect("halts");
    assert_eq!(halt.cluster, "c3");
    // The text `flotilla sync` prints after "not synced: ".
    assert_eq!(halt.to_string(), "wave \"canary\" failed on cluster c3");
    assert_eq!(verdict("canary", results[..1].iter().copied(), true), None);
    assert_eq!(verdict("empty", [], true), None);
}

#[test]
fn halted_clusters_show_the_halt() {
    let halt = Halt {
        wave: "canary".into(),
        cluster: "c1".into(),
        cause: HaltCause::Failed,
    };
    let shown: Vec<ClusterOutcome<()>> = halted(&wave("rest", &["r1", "r2"]), &halt);
    assert_eq!(shown.len(), 2);
    assert_eq!(shown[1].cluster, "r2");
    assert_eq!(shown[1].wave, "rest");
    assert_eq!(shown[1].outcome, Outcome::Halted(halt));
}

/// A driver that records what it was asked, fails the clusters in `fail`
/// and reports `health` (Healthy by default).
#[derive(Default)]
struct Fake {
    fail: HashSet<String>,
    health: HashMap<String, HealthStatus>,
    synced: Mutex<Vec<String>>,
    waited: Mutex<Vec<(String, Duration)>>,
    /// Paused once this many clusters synced.
    pause_after: Option<usize>,
}

impl ClusterDriver for Fake {
    type Report = (String, bool);

    async fn sync(&self, _fleet: &Arc<Fleet>, cluster: &Cluster) -> (String, bool) {
        self.synced.lock().unwrap().push(cluster.name.clone());
        (cluster.name.clone(), !self.fail.contains(&cluster.name))
    }

    fn synced(report: &(String, bool)) -> bool {
        report.1
    }

    fn paused(&self) -> bool {
        self.pause_after
            .is_some_and(|n| self.synced.lock().unwrap().len() >= n)
    }

    async fn wait_healthy(
        &self,
        _fleet: &Arc<Fleet>,
        cluster: &Cluster,
        timeout: Duration,
    ) -> HealthStatus {
        self.waited
            .lock()
            .unwrap()
            .push((cluster.name.clone(), timeout));
        self.health
            .get(&cluster.name)
            .copied()
            .unwrap_or(HealthStatus::Healthy)
    }
}

async fn roll(fake: &Fake, gate: Option<Duration>) -> Vec<ClusterOutcome<(String, bool)>> {
    let f = fleet();
    let stop = AtomicBool::new(false);
    run(
        &f,
        &plan(&f, &[]),
        fake,
        &Pool::new(2),
        RolloutOptions { health_gate: gate },
        &stop,
    )
    .await
}

#[tokio::test]
async fn every_wave_runs_when_all_pass() {
    let fake = Fake::default();
    let out = roll(&fake, None).await;
    let names: Vec<&str> = out.iter().map(|o| o.cluster.as_str()).collect();
    assert_eq!(names, ["c1", "c2", "r1", "r2", "r3"]);
    assert!(
        out.iter()
            .all(|o| matches!(o.outcome, Outcome::Done { health: None, .. }))
    );
    assert!(fake.waited.lock().unwrap().is_empty(), "no gate, no wait");
    // The canaries were synced before any cluster of the rest.
    let synced = fake.synced.lock().unwrap().clone();
    let mut canaries = synced[..2].to_vec();
    canaries.sort();
    assert_eq!(canaries, ["c1", "c2"]);
}

#[tokio::test]
async fn a_failed_wave_halts_the_later_ones_untouched() {
    let fake = Fake {
        fail: HashSet::from(["c2".to_string()]),
        ..Fake::default()
    };
    let out = roll(&fake, None).await;
    let halt = Halt {
        wave: "canary".into(),
        cluster: "c2".into(),
        cause: HaltCause::Failed,
    };
    for o in &out[2..] {
        assert_eq!(o.outcome, Outcome::Halted(halt.clone()), "{}", o.cluster);
    }
    assert_eq!(out.len(), 5);
    let mut synced = fake.synced.lock().unwrap().clone();
    synced.sort();
    assert_eq!(synced, ["c1", "c2"], "the rest were never synced");
}

#[tokio::test]
async fn the_health_gate_waits_and_halts_on_an_unhealthy_wave() {
    let fake = Fake {
        health: HashMap::from([("c1".to_string(), HealthStatus::Progressing)]),
        ..Fake::default()
    };
    let gate = Duration::from_secs(7);
    let out = roll(&fake, Some(gate)).await;
    assert_eq!(
        out[0].outcome,
        Outcome::Done {
            report: ("c1".into(), true),
            health: Some(HealthStatus::Progressing)
        }
    );
    for o in &out[2..] {
        match &o.outcome {
            Outcome::Halted(h) => {
                assert_eq!(h.cluster, "c1");
                assert_eq!(h.cause, HaltCause::Unhealthy(HealthStatus::Progressing));
            }
            other => panic!("{}: {other:?}", o.cluster),
        }
    }
    let mut waited = fake.waited.lock().unwrap().clone();
    waited.sort();
    assert_eq!(waited, [("c1".to_string(), gate), ("c2".to_string(), gate)]);
}

#[tokio::test]
async fn gated_and_healthy_the_next_wave_runs_and_a_failed_sync_is_not_waited_on() {
    let fake = Fake {
        fail: HashSet::from(["r3".to_string()]),
        ..Fake::default()
    };
    let out = roll(&fake, Some(Duration::from_secs(1))).await;
    assert_eq!(out.len(), 5);
    assert!(
        out.iter()
            .all(|o| matches!(o.outcome, Outcome::Done { .. }))
    );
    let waited: Vec<String> = fake
        .waited
        .lock()
        .unwrap()
        .iter()
        .map(|(c, _)| c.clone())
        .collect();
    assert_eq!(waited.len(), 4);
    assert!(!waited.contains(&"r3".to_string()));
}

#[tokio::test]
async fn a_stop_starts_no_new_wave() {
    let f = fleet();
    let fake = Fake::default();
    let stop = AtomicBool::new(true);
    let out = run(
        &f,
        &plan(&f, &[]),
        &fake,
        &Pool::new(2),
        RolloutOptions::default(),
        &stop,
    )
    .await;
    assert!(out.is_empty());
    assert!(fake.synced.lock().unwrap().is_empty());
}

#[tokio::test]
async fn a_pause_starts_no_new_wave_and_halts_nothing() {
    let fake = Fake {
        pause_after: Some(2),
        ..Fake::default()
    };
    let out = roll(&fake, None).await;
    let names: Vec<&str> = out.iter().map(|o| o.cluster.as_str()).collect();
    assert_eq!(names, ["c1", "c2"], "the canary wave ran, the rest did not");
    assert!(
        out.iter()
            .all(|o| matches!(o.outcome, Outcome::Done { .. })),
        "a pause is no halt"
    );
    assert_eq!(fake.synced.lock().unwrap().len(), 2);
    // Paused from the start: nothing at all.
    let fake = Fake {
        pause_after: Some(0),
        ..Fake::default()
    };
    assert!(roll(&fake, None).await.is_empty());
    assert!(fake.synced.lock().unwrap().is_empty());
}

/// Many replicas: r1 is synced by another replica, so this one only waits
/// on it (here: until r2 synced) and takes no slot for that.
struct WaitsOnR1 {
    r2_synced: tokio::sync::Notify,
}

impl ClusterDriver for WaitsOnR1 {
    type Report = bool;

    async fn sync(&self, _fleet: &Arc<Fleet>, cluster: &Cluster) -> bool {
        if cluster.name == "r1" {
            self.r2_synced.notified().await;
        } else {
            self.r2_synced.notify_one();
        }
        true
    }

    fn synced(report: &bool) -> bool {
        *report
    }

    async fn wait_healthy(&self, _: &Arc<Fleet>, _: &Cluster, _: Duration) -> HealthStatus {
        HealthStatus::Healthy
    }

    fn uses_slot(&self, cluster: &Cluster) -> bool {
        cluster.name != "r1"
    }
}

#[tokio::test]
async fn a_cluster_driven_elsewhere_is_waited_on_without_a_slot() {
    let f = fleet();
    let pool = Pool::new(1);
    let driver = WaitsOnR1 {
        r2_synced: tokio::sync::Notify::new(),
    };
    let waves = [wave("rest", &["r1", "r2"])];
    let stop = AtomicBool::new(false);
    let run = run(&f, &waves, &driver, &pool, RolloutOptions::default(), &stop);
    let out = tokio::time::timeout(Duration::from_secs(10), run)
        .await
        .expect("r1's wait holds no slot, so r2 gets the only one");
    assert_eq!(out.len(), 2);
}
