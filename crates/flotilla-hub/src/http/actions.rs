//! The operator actions (`POST /api/v1/rollout/{pause,resume,retry}`,
//! `POST /api/v1/clusters/{name}/sync`): each needs the `operate` role
//! (403 otherwise; the rollout-wide ones also a platform token, 403 for a
//! tenant token), is refused from another origin (403 when an `Origin`
//! header names another host), is logged at info, and only records the
//! request in the [`FleetState`](crate::state::FleetState) and wakes the
//! reconcile loop, which carries it out. A browser's form post (the status
//! page's buttons) is answered with a redirect to `/`; any other client
//! gets JSON.
//!
//! CSRF: the actions take only POST, the session cookie is
//! `SameSite=Strict` (a cross-site form post does not carry it) and an
//! `Origin` of another host is refused; a bearer token is never sent by a
//! browser on its own.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::auth::Role;
use super::scope::Scope;
use super::{App, api::error, require_role};
use crate::state::SyncStatus;

/// The operator's action, for logs and answers.
#[derive(Clone, Copy, Debug)]
enum Action {
    Pause,
    Resume,
    Retry,
    Sync,
}

impl Action {
    fn name(self) -> &'static str {
        match self {
            Action::Pause => "pause",
            Action::Resume => "resume",
            Action::Retry => "retry",
            Action::Sync => "sync",
        }
    }
}

/// The refusal of a request without the operate role or from another
/// origin; `None` when it may go on.
fn refused(role: Option<&Role>, headers: &HeaderMap, action: Action) -> Option<Response> {
    if require_role(role, Role::Operate).is_err() {
        tracing::info!(
            action = action.name(),
            "operator action refused: the read role"
        );
        return Some(error(
            StatusCode::FORBIDDEN,
            "this action needs a token with the operate role",
        ));
    }
    if let Some(origin) = headers.get(header::ORIGIN) {
        let host = headers
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
            .unwrap_or_default();
        let origin = origin.to_str().unwrap_or_default();
        let origin_host = origin
            .split_once("://")
            .map_or("", |(_, rest)| rest.trim_end_matches('/'));
        if host.is_empty() || origin_host != host {
            tracing::info!(
                action = action.name(),
                origin,
                "operator action refused: another origin"
            );
            return Some(error(StatusCode::FORBIDDEN, "cross-origin request refused"));
        }
    }
    None
}

/// The refusal of a rollout-wide action: as [`refused`], and (403) when
/// asked with a tenant token; `None` when it may go on.
fn rollout_refused(
    role: Option<&Role>,
    headers: &HeaderMap,
    scope: &Scope,
    action: Action,
) -> Option<Response> {
    if let Some(r) = refused(role, headers, action) {
        return Some(r);
    }
    let tenant = scope.tenant.as_deref()?;
    tracing::info!(
        action = action.name(),
        tenant,
        "operator action refused: a tenant token"
    );
    Some(error(
        StatusCode::FORBIDDEN,
        "this action acts on the whole rollout: it needs a platform token (one without a tenant)",
    ))
}

/// Whether the request is a browser's form post (answered with a redirect).
fn from_form(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"))
}

/// 303 to the page for a form, else `status` and a JSON body.
fn done(headers: &HeaderMap, status: StatusCode, body: serde_json::Value) -> Response {
    if from_form(headers) {
        return (StatusCode::SEE_OTHER, [(header::LOCATION, "/")]).into_response();
    }
    (status, Json(body)).into_response()
}

/// `POST /api/v1/rollout/pause`: no new wave starts, no cluster is synced
/// by the rollout or self-healed, until resumed.
pub(super) async fn pause(
    State(app): State<App>,
    role: Option<axum::Extension<Role>>,
    axum::Extension(scope): axum::Extension<Scope>,
    headers: HeaderMap,
) -> Response {
    let action = Action::Pause;
    if let Some(r) = rollout_refused(role.as_deref(), &headers, &scope, action) {
        return r;
    }
    let was = {
        let mut s = app.state_mut();
        std::mem::replace(&mut s.rollout.paused, true)
    };
    tracing::info!(
        action = action.name(),
        already = was,
        "operator action: rollout paused"
    );
    done(
        &headers,
        StatusCode::OK,
        serde_json::json!({ "action": action.name(), "paused": true }),
    )
}

/// `POST /api/v1/rollout/resume`: lifts the pause and starts a rollout
/// round at once.
pub(super) async fn resume(
    State(app): State<App>,
    role: Option<axum::Extension<Role>>,
    axum::Extension(scope): axum::Extension<Scope>,
    headers: HeaderMap,
) -> Response {
    let action = Action::Resume;
    if let Some(r) = rollout_refused(role.as_deref(), &headers, &scope, action) {
        return r;
    }
    let was = {
        let mut s = app.state_mut();
        s.rollout.round_requested = true;
        std::mem::replace(&mut s.rollout.paused, false)
    };
    app.ctx.trigger.notify_one();
    tracing::info!(
        action = action.name(),
        was_paused = was,
        "operator action: rollout resumed"
    );
    done(
        &headers,
        StatusCode::OK,
        serde_json::json!({ "action": action.name(), "paused": false }),
    )
}

/// `POST /api/v1/rollout/retry`: a rollout round now, for a rollout that
/// halted (or whose clusters failed). 409 when paused or nothing failed.
pub(super) async fn retry(
    State(app): State<App>,
    role: Option<axum::Extension<Role>>,
    axum::Extension(scope): axum::Extension<Scope>,
    headers: HeaderMap,
) -> Response {
    let action = Action::Retry;
    if let Some(r) = rollout_refused(role.as_deref(), &headers, &scope, action) {
        return r;
    }
    let refused = {
        let mut s = app.state_mut();
        let failed = s.rollout.halt.is_some()
            || s.clusters.values().any(|c| {
                matches!(
                    c.status,
                    SyncStatus::Halted
                        | SyncStatus::Failed
                        | SyncStatus::Unreachable
                        | SyncStatus::RenderError
                )
            });
        if s.rollout.paused {
            Some("the rollout is paused: resume it instead")
        } else if !failed {
            Some("nothing to retry: the rollout is not halted and no cluster failed")
        } else {
            s.rollout.round_requested = true;
            None
        }
    };
    if let Some(why) = refused {
        tracing::info!(action = action.name(), why, "operator action refused");
        return error(StatusCode::CONFLICT, why);
    }
    app.ctx.trigger.notify_one();
    tracing::info!(
        action = action.name(),
        "operator action: rollout retry queued"
    );
    done(
        &headers,
        StatusCode::ACCEPTED,
        serde_json::json!({ "action": action.name(), "queued": true }),
    )
}

/// `POST /api/v1/clusters/{name}/sync`: syncs one cluster to the commit
/// being rolled out, now (in its turn in the pool). 404 for an unknown
/// cluster (and, for a tenant token, a cluster its tenant may not reach),
/// 409 while the rollout is paused.
pub(super) async fn sync_cluster(
    State(app): State<App>,
    role: Option<axum::Extension<Role>>,
    axum::Extension(scope): axum::Extension<Scope>,
    Path(name): Path<String>,
    headers: HeaderMap,
) -> Response {
    let action = Action::Sync;
    if let Some(r) = refused(role.as_deref(), &headers, action) {
        return r;
    }
    let refused = {
        let mut s = app.state_mut();
        let visible = {
            let view = scope.view(&s);
            s.clusters.get(&name).is_some_and(|c| view.sees_cluster(c))
        };
        if !visible {
            Some((StatusCode::NOT_FOUND, format!("unknown cluster {name:?}")))
        } else if s.rollout.paused {
            Some((
                StatusCode::CONFLICT,
                "the rollout is paused: resume it first".to_string(),
            ))
        } else {
            s.rollout.sync_requested.insert(name.clone());
            None
        }
    };
    if let Some((status, why)) = refused {
        tracing::info!(action = action.name(), cluster = %name, why, "operator action refused");
        return error(status, why);
    }
    app.ctx.trigger.notify_one();
    tracing::info!(action = action.name(), cluster = %name, "operator action: sync queued");
    done(
        &headers,
        StatusCode::ACCEPTED,
        serde_json::json!({ "action": action.name(), "cluster": name, "queued": true }),
    )
}
