//! The status page (`GET /`): the daemon's state as a
//! [`StatusPage`] view, rendered to HTML by the core
//! ([`flotilla_core::report::html`]), like every other report.

use std::borrow::Cow;
use std::time::SystemTime;

use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};

use super::App;
use super::auth::Role;
use super::scope::Scope;
use crate::state::{ClusterState, FleetState, SyncStatus};
use flotilla_core::drift::ClusterDrift;
use flotilla_core::report::{Badge, ClusterRow, StatusPage, Tone, html};

/// No scripts, no outside resources, only the inline style sheet; forms
/// (the operator actions) post to this server only.
const CSP: &str = "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'; \
                   base-uri 'none'; form-action 'self'";

/// `GET /`: the action buttons only for the operate role of the platform
/// (a tenant token may not pause, resume or retry the rollout); a tenant
/// token sees only its clusters and the drifted objects in its namespaces.
pub(super) async fn status_page(
    State(app): State<App>,
    role: Option<axum::Extension<Role>>,
    scope: Option<axum::Extension<Scope>>,
) -> Response {
    let scope = scope.map(|s| s.0).unwrap_or_default();
    let can_operate = role.is_some_and(|r| r.allows(Role::Operate)) && !scope.is_tenant();
    let html = render_scoped(&app.state(), SystemTime::now(), can_operate, &scope);
    (
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CONTENT_SECURITY_POLICY, CSP),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        html,
    )
        .into_response()
}

/// A rollout status as the page shows it: its name (as in the JSON API)
/// and its tone.
fn sync_badge(s: SyncStatus) -> Badge {
    let (word, tone) = match s {
        SyncStatus::Pending => ("Pending", Tone::Info),
        SyncStatus::Syncing => ("Syncing", Tone::Info),
        SyncStatus::Synced => ("Synced", Tone::Ok),
        SyncStatus::Unreachable => ("Unreachable", Tone::Warn),
        SyncStatus::Halted => ("Halted", Tone::Warn),
        SyncStatus::Failed => ("Failed", Tone::Bad),
        SyncStatus::RenderError => ("RenderError", Tone::Bad),
    };
    Badge { word, tone }
}

fn row<'a>(c: &'a ClusterState, drift: Option<&'a ClusterDrift>) -> ClusterRow<'a> {
    ClusterRow {
        name: &c.name,
        wave: &c.wave,
        revision: c.revision.as_deref(),
        status: sync_badge(c.status),
        health: c.health,
        health_judged: c.health_judged,
        labels: c
            .labels
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect(),
        drift,
        drift_since: c.drift_since,
        last_success: c.last_success,
        last_error: c.last_error.as_deref(),
        owner: c.owner.as_deref(),
    }
}

/// The page of a fleet state at time `now` as the platform sees it;
/// `can_operate` shows the action buttons.
#[cfg(test)]
pub(super) fn render(s: &FleetState, now: SystemTime, can_operate: bool) -> String {
    render_scoped(s, now, can_operate, &Scope::default())
}

/// The page of a fleet state at time `now` as `scope` sees it.
pub(super) fn render_scoped(
    s: &FleetState,
    now: SystemTime,
    can_operate: bool,
    scope: &Scope,
) -> String {
    let view = scope.view(s);
    let rows: Vec<(&ClusterState, Option<Cow<'_, ClusterDrift>>)> = s
        .clusters
        .values()
        .filter(|c| view.sees_cluster(c))
        .map(|c| (c, c.drift.as_ref().map(|d| view.drift(d))))
        .collect();
    let page = html::status_page(&StatusPage {
        fleet: &s.fleet,
        ready: s.ready,
        good_revision: s.good_revision.as_deref(),
        seen_revision: s.seen_revision.as_deref(),
        last_poll: s.last_poll,
        commit_error: s.commit_error.as_deref(),
        git_error: s.git_error.as_deref(),
        commit_summary: s.commit.as_ref().map(|c| c.summary.as_str()),
        commit_author: s.commit.as_ref().map(|c| c.author.as_str()),
        waves: s.waves.iter().map(String::as_str).collect(),
        paused: s.rollout.paused,
        halt: s.rollout.halt.as_deref().map(|h| {
            if scope.is_tenant() {
                super::api::TENANT_HALT
            } else {
                h
            }
        }),
        can_operate,
        clusters: rows.iter().map(|(c, d)| row(c, d.as_deref())).collect(),
        now,
    });
    super::objects::with_section(page, s, now, &view)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_state_renders() {
        let html = render(&FleetState::default(), SystemTime::now(), false);
        assert!(html.contains("No clusters yet"));
        assert!(html.contains("not ready"));
    }

    #[test]
    fn sync_statuses_read_as_in_the_api() {
        for s in [
            SyncStatus::Pending,
            SyncStatus::Syncing,
            SyncStatus::Synced,
            SyncStatus::Failed,
            SyncStatus::Unreachable,
            SyncStatus::RenderError,
            SyncStatus::Halted,
        ] {
            assert_eq!(
                serde_json::to_value(s).unwrap(),
                serde_json::json!(sync_badge(s).word)
            );
        }
    }
}
