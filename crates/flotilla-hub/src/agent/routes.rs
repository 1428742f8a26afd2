//! The agent endpoints on the hub's listener (see
//! [`flotilla_core::agent`] for the protocol):
//!
//! | Method | Path | What |
//! |---|---|---|
//! | GET | `/agent/v1/assignment?cluster=NAME&after=GEN` | long poll: 200 and the assignment, or 204 after 20 s |
//! | POST | `/agent/v1/report?cluster=NAME` | one report (JSON); 204 when handed to the cluster's worker |
//!
//! Every request needs `Authorization: Bearer TOKEN`, the token of the
//! cluster named: 401 otherwise (the same answer for a wrong token, another
//! cluster's token and an unknown cluster, so nothing is learnt by trying).
//! 404 when the hub has no agent token directory; 409 when the cluster is
//! not an agent cluster of the loaded fleet (yet); 400 for a report of
//! another cluster. These routes are outside the page's and API's token
//! check: they have their own.

use std::sync::Arc;

use axum::Json;
use axum::Router;
use axum::extract::{DefaultBodyLimit, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Deserialize;

use super::{AgentHub, Refusal};
use flotilla_core::agent::AgentReport;

/// The largest report accepted (a drift report with diffs, object status).
pub const REPORT_BODY_LIMIT: usize = 16 * 1024 * 1024;

/// The agent routes, to merge into the hub's router.
pub fn routes(hub: Arc<AgentHub>) -> Router {
    Router::new()
        .route("/agent/v1/assignment", get(assignment))
        .route("/agent/v1/report", post(report))
        .layer(DefaultBodyLimit::max(REPORT_BODY_LIMIT))
        .with_state(hub)
}

#[derive(Deserialize)]
struct AssignmentQuery {
    cluster: String,
    #[serde(default)]
    after: u64,
}

#[derive(Deserialize)]
struct ReportQuery {
    cluster: String,
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then_some(token)
}

fn refused(r: Refusal) -> Response {
    let (status, message) = match r {
        Refusal::Disabled => (
            StatusCode::NOT_FOUND,
            "this hub takes no agents (serve --agent-token-dir)",
        ),
        Refusal::Unauthorized => (
            StatusCode::UNAUTHORIZED,
            "a valid bearer token of the cluster is needed",
        ),
        Refusal::UnknownCluster => (
            StatusCode::CONFLICT,
            "not an agent cluster of the loaded fleet (yet)",
        ),
    };
    let mut resp = (status, Json(serde_json::json!({ "error": message }))).into_response();
    if status == StatusCode::UNAUTHORIZED {
        resp.headers_mut()
            .insert(header::WWW_AUTHENTICATE, "Bearer".parse().expect("valid"));
    }
    resp
}

async fn assignment(
    State(hub): State<Arc<AgentHub>>,
    headers: HeaderMap,
    Query(q): Query<AssignmentQuery>,
) -> Response {
    if let Err(r) = hub.authenticate(&q.cluster, bearer(&headers)) {
        tracing::warn!(cluster = %q.cluster, "agent request refused: bad token");
        return refused(r);
    }
    match hub.poll(&q.cluster, q.after).await {
        Ok(Some(a)) => Json(&*a).into_response(),
        Ok(None) => StatusCode::NO_CONTENT.into_response(),
        Err(r) => refused(r),
    }
}

async fn report(
    State(hub): State<Arc<AgentHub>>,
    headers: HeaderMap,
    Query(q): Query<ReportQuery>,
    body: axum::body::Bytes,
) -> Response {
    if let Err(r) = hub.authenticate(&q.cluster, bearer(&headers)) {
        tracing::warn!(cluster = %q.cluster, "agent report refused: bad token");
        return refused(r);
    }
    let report: AgentReport = match serde_json::from_slice(&body) {
        Ok(r) => r,
        Err(e) => {
            return (
                StatusCode::BAD_REQUEST,
                Json(serde_json::json!({ "error": format!("not a report: {e}") })),
            )
                .into_response();
        }
    };
    if report.cluster != q.cluster {
        return (
            StatusCode::BAD_REQUEST,
            Json(serde_json::json!({ "error": "a report of another cluster" })),
        )
            .into_response();
    }
    match hub.report(&q.cluster, report).await {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(r) => refused(r),
    }
}
