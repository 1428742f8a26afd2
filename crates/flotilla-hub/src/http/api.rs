//! Probes, metrics and the JSON API.

use std::collections::BTreeMap;
use std::time::{SystemTime, UNIX_EPOCH};

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};

use super::App;
use super::scope::{Scope, View};
use crate::metrics::TenantLabel;
use crate::state::{ClusterState, FleetState, SyncStatus};
use flotilla_core::changeset::Counts;
use flotilla_core::drift::{ClusterDrift, ClusterStatus, DRIFT_REPORT_SCHEMA, DriftReport};
use flotilla_core::health::HealthStatus;
use flotilla_core::report::{Drift, OutputFormat, Report};
use flotilla_core::snapshot::CommitInfo;

/// The content type of prometheus-client's text encoder (OpenMetrics).
const OPENMETRICS: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// A JSON error body: `{"error": "..."}`.
pub(super) fn error(status: StatusCode, message: impl Into<String>) -> Response {
    (status, Json(serde_json::json!({ "error": message.into() }))).into_response()
}

/// Seconds since the Unix epoch, like the state's own JSON form.
pub(super) fn unix_secs(t: Option<SystemTime>) -> Option<u64> {
    t.and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map(|d| d.as_secs())
}

/// `GET /healthz`: the process runs.
pub(super) async fn healthz() -> &'static str {
    "ok"
}

/// `GET /readyz`: 200 once the first commit is read, else 503 and why.
pub(super) async fn readyz(State(app): State<App>) -> Response {
    let s = app.state();
    if s.ready {
        return (StatusCode::OK, "ready").into_response();
    }
    let reason = if let Some(e) = &s.git_error {
        format!("not ready: polling Git failed: {e}")
    } else if let Some(e) = &s.commit_error {
        format!("not ready: the first commit does not load: {e}")
    } else {
        "not ready: the first commit has not been read yet".to_string()
    };
    (StatusCode::SERVICE_UNAVAILABLE, reason).into_response()
}

/// The drifted objects of every cluster by tenant: a series for the
/// platform (`tenant=""`) and one for each tenant that may reach the
/// cluster, each object counted for the tenant of its namespace.
fn drifted_by_tenant(s: &FleetState) -> BTreeMap<TenantLabel, usize> {
    let mut out = BTreeMap::new();
    for (name, c) in &s.clusters {
        let label = |tenant: &str| TenantLabel {
            cluster: name.clone(),
            tenant: tenant.to_string(),
        };
        out.insert(label(""), 0);
        for t in &s.tenants {
            if View::Tenant(t).sees_cluster(c) {
                out.insert(label(&t.name), 0);
            }
        }
        for o in c.drift.iter().flat_map(|d| &d.objects) {
            let tenant = s.tenant_of_object(&o.key).map_or("", |t| t.name.as_str());
            *out.entry(label(tenant)).or_default() += 1;
        }
    }
    out
}

/// `GET /metrics`: refreshes the gauges that mirror the state, then encodes
/// the registry. The series span every cluster and tenant, so they are the
/// platform's: a tenant's token is refused (403).
pub(super) async fn metrics(
    State(app): State<App>,
    axum::Extension(scope): axum::Extension<Scope>,
) -> Response {
    if scope.is_tenant() {
        return error(
            StatusCode::FORBIDDEN,
            "metrics cover every tenant: scrape them with a token without tenant=",
        );
    }
    let body = {
        let mut set = app.drift_gauges.lock().unwrap_or_else(|e| e.into_inner());
        let current = drifted_by_tenant(&app.state());
        let drifted = &app.ctx.metrics.drifted;
        for gone in set.iter().filter(|l| !current.contains_key(*l)) {
            drifted.remove(gone);
        }
        for (label, n) in &current {
            drifted
                .get_or_create(label)
                .set(i64::try_from(*n).unwrap_or(i64::MAX));
        }
        *set = current.into_keys().collect();
        app.ctx.metrics.encode()
    };
    ([(header::CONTENT_TYPE, OPENMETRICS)], body).into_response()
}

/// `GET /api/v1/fleet`.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct FleetView<'a> {
    fleet: &'a str,
    ready: bool,
    seen_revision: Option<&'a str>,
    good_revision: Option<&'a str>,
    commit_error: Option<&'a str>,
    git_error: Option<&'a str>,
    last_poll: Option<u64>,
    /// The summary and author of the commit being rolled out.
    commit: Option<&'a CommitInfo>,
    /// The rollout waves, in order.
    waves: &'a [String],
    /// Whether an operator paused the rollout.
    paused: bool,
    /// Why the last rollout round halted, while it stands.
    halt: Option<&'a str>,
    /// With many replicas: the id of the replica that answered.
    #[serde(skip_serializing_if = "Option::is_none")]
    replica: Option<&'a str>,
    clusters: Vec<ClusterRow<'a>>,
}

/// One row of the fleet x cluster matrix.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ClusterRow<'a> {
    name: &'a str,
    wave: &'a str,
    revision: Option<&'a str>,
    status: SyncStatus,
    health: HealthStatus,
    /// `false` for a target without status (a directory): `health` is
    /// then not judged.
    health_judged: bool,
    labels: &'a BTreeMap<String, String>,
    /// `null` until the first drift check.
    drift: Option<DriftCounts<'a>>,
    drift_since: Option<u64>,
    last_success: Option<u64>,
    last_error: Option<&'a str>,
    /// `null` until the first sync.
    last_sync: Option<LastSync<'a>>,
    /// With many replicas: the replica id that owns the cluster (`null`
    /// while no live replica holds it); absent with one replica.
    #[serde(skip_serializing_if = "Option::is_none")]
    owner: Option<Option<&'a str>>,
    /// `agent` for a pull-mode cluster; absent for push.
    #[serde(skip_serializing_if = "Option::is_none")]
    mode: Option<&'static str>,
    /// An agent cluster's agent: last contact (seconds since the epoch),
    /// whether it is connected, recent activity.
    #[serde(skip_serializing_if = "Option::is_none")]
    agent: Option<AgentRow<'a>>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct AgentRow<'a> {
    last_contact: Option<u64>,
    connected: bool,
    generation: u64,
    reported_generation: u64,
    recent: &'a [String],
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct DriftCounts<'a> {
    status: ClusterStatus,
    in_sync: usize,
    modified: usize,
    missing: usize,
    to_be_pruned: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<&'a str>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct LastSync<'a> {
    dry_run: bool,
    #[serde(flatten)]
    counts: Counts,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<&'a str>,
}

fn row<'a>(c: &'a ClusterState, drift: Option<&'a ClusterDrift>, ha: bool) -> ClusterRow<'a> {
    ClusterRow {
        name: &c.name,
        wave: &c.wave,
        revision: c.revision.as_deref(),
        status: c.status,
        health: c.health,
        health_judged: c.health_judged,
        labels: &c.labels,
        drift: drift.map(|d| DriftCounts {
            status: d.status,
            in_sync: d.in_sync,
            modified: d.modified,
            missing: d.missing,
            to_be_pruned: d.to_be_pruned,
            error: d.error.as_deref(),
        }),
        drift_since: unix_secs(c.drift_since),
        last_success: unix_secs(c.last_success),
        last_error: c.last_error.as_deref(),
        last_sync: c.last_sync.as_ref().map(|l| LastSync {
            dry_run: l.dry_run,
            counts: l.counts,
            error: l.error.as_deref(),
        }),
        owner: ha.then_some(c.owner.as_deref()),
        mode: c.agent.as_ref().map(|_| "agent"),
        agent: c.agent.as_ref().map(|a| AgentRow {
            last_contact: unix_secs(a.last_contact),
            connected: a.connected,
            generation: a.generation,
            reported_generation: a.reported_generation,
            recent: &a.recent,
        }),
    }
}

/// What a tenant sees of a halt: it may name other tenants' clusters.
pub(super) const TENANT_HALT: &str = "the rollout halted (a platform token shows where)";

/// `GET /api/v1/fleet`: the fleet and one row per cluster the token may
/// see, by name.
pub(super) async fn fleet(
    State(app): State<App>,
    axum::Extension(scope): axum::Extension<Scope>,
) -> Response {
    let s = app.state();
    let view = scope.view(&s);
    let rows: Vec<(&ClusterState, Option<std::borrow::Cow<'_, ClusterDrift>>)> = s
        .clusters
        .values()
        .filter(|c| view.sees_cluster(c))
        .map(|c| (c, c.drift.as_ref().map(|d| view.drift(d))))
        .collect();
    let view = FleetView {
        fleet: &s.fleet,
        ready: s.ready,
        seen_revision: s.seen_revision.as_deref(),
        good_revision: s.good_revision.as_deref(),
        commit_error: s.commit_error.as_deref(),
        git_error: s.git_error.as_deref(),
        last_poll: unix_secs(s.last_poll),
        commit: s.commit.as_ref(),
        waves: &s.waves,
        paused: s.rollout.paused,
        halt: s
            .rollout
            .halt
            .as_deref()
            .map(|h| if scope.is_tenant() { TENANT_HALT } else { h }),
        replica: s.replica.as_deref(),
        clusters: rows
            .iter()
            .map(|(c, d)| row(c, d.as_deref(), s.replica.is_some()))
            .collect(),
    };
    Json(view).into_response()
}

/// The query of `/api/v1/clusters/{name}/drift`.
#[derive(Deserialize)]
pub(super) struct DriftQuery {
    /// `json` (the default), `text` or `markdown`.
    format: Option<String>,
}

/// The one-cluster report the text and markdown forms are made from.
fn one_cluster_report(s: &FleetState, c: &ClusterState, d: &ClusterDrift) -> DriftReport {
    DriftReport {
        schema: DRIFT_REPORT_SCHEMA,
        fleet: s.fleet.clone(),
        revision: c.revision.clone().or_else(|| s.good_revision.clone()),
        clusters: vec![d.clone()],
    }
}

/// `GET /api/v1/clusters/{name}/drift`: the cluster's last drift check, as
/// JSON (a `ClusterDrift`), plain text or markdown. 404 with a JSON error
/// when the cluster is unknown or not checked yet; 400 for another format.
pub(super) async fn cluster_drift(
    State(app): State<App>,
    axum::Extension(scope): axum::Extension<Scope>,
    Path(name): Path<String>,
    Query(q): Query<DriftQuery>,
) -> Response {
    let format = match q
        .format
        .as_deref()
        .map_or(Ok(OutputFormat::Json), str::parse)
    {
        Ok(f) if Drift::FORMATS.contains(&f) => f,
        Ok(other) => return unknown_format(other.name()),
        Err(e) => return unknown_format(&e.0),
    };
    let s = app.state();
    let view = scope.view(&s);
    let Some(c) = s.clusters.get(&name).filter(|c| view.sees_cluster(c)) else {
        return error(StatusCode::NOT_FOUND, format!("unknown cluster {name:?}"));
    };
    let Some(d) = c.drift.as_ref().map(|d| view.drift(d)) else {
        return error(
            StatusCode::NOT_FOUND,
            format!("cluster {name:?} has not been checked for drift yet"),
        );
    };
    if format == OutputFormat::Json {
        // The cluster's own drift, as the JSON API has always answered.
        return Json(&*d).into_response();
    }
    let report = one_cluster_report(&s, c, &d);
    match (Drift {
        report: &report,
        diffs: true,
    })
    .render(format)
    {
        Ok(body) => ([(header::CONTENT_TYPE, format.media_type())], body).into_response(),
        Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    }
}

/// 400 for a format the drift API does not have.
fn unknown_format(name: &str) -> Response {
    error(
        StatusCode::BAD_REQUEST,
        format!("unknown format {name:?}: use json, text or markdown"),
    )
}
