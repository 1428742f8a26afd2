//! Federated status, push and pull alike: `GET /api/v1/clusters/{name}/objects`
//! (each managed object's health; for an object that is not healthy, the
//! reason and its latest events) and the status page's section listing the
//! unhealthy objects per cluster, and the agents' last contact.

use super::scope::View;
use std::fmt::Write as _;
use std::time::SystemTime;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use super::App;
use super::api::{error, unix_secs};
use crate::state::{AgentContact, FleetState};
use flotilla_core::agent::ObjectHealth;
use flotilla_core::health::HealthStatus;
use flotilla_core::report::html::escape;

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ObjectsView<'a> {
    cluster: &'a str,
    /// `push` or `agent`.
    mode: &'static str,
    health: HealthStatus,
    /// For an agent cluster: seconds since the epoch of its last contact.
    #[serde(skip_serializing_if = "Option::is_none")]
    last_contact: Option<u64>,
    objects: Vec<ObjectHealth>,
}

/// `GET /api/v1/clusters/{name}/objects`: 404 for an unknown cluster.
pub(super) async fn cluster_objects(
    State(app): State<App>,
    axum::Extension(scope): axum::Extension<super::scope::Scope>,
    Path(name): Path<String>,
) -> Response {
    let s = app.state();
    let view = scope.view(&s);
    let Some(c) = s.clusters.get(&name).filter(|c| view.sees_cluster(c)) else {
        return error(StatusCode::NOT_FOUND, format!("unknown cluster {name:?}"));
    };
    let objects: Vec<ObjectHealth> = c
        .objects
        .iter()
        .filter(|o| view.sees_object(&o.key))
        .collect();
    Json(ObjectsView {
        cluster: &c.name,
        mode: if c.agent.is_some() { "agent" } else { "push" },
        health: c.health,
        last_contact: c.agent.as_ref().and_then(|a| unix_secs(a.last_contact)),
        objects,
    })
    .into_response()
}

/// "3 s ago", "4 min ago", or "never".
fn ago(t: Option<SystemTime>, now: SystemTime) -> String {
    match t.and_then(|t| now.duration_since(t).ok()) {
        None if t.is_some() => "just now".into(),
        None => "never".into(),
        Some(d) if d.as_secs() < 120 => format!("{} s ago", d.as_secs()),
        Some(d) if d.as_secs() < 7200 => format!("{} min ago", d.as_secs() / 60),
        Some(d) => format!("{} h ago", d.as_secs() / 3600),
    }
}

fn agent_line(out: &mut String, name: &str, a: &AgentContact, now: SystemTime) {
    let _ = writeln!(
        out,
        "<li><code>{}</code>: agent {}, last contact {}</li>",
        escape(name),
        if a.connected {
            "connected"
        } else {
            "not connected"
        },
        escape(&ago(a.last_contact, now)),
    );
}

/// The page's federated-status section: agent clusters with their last
/// contact, and per cluster the objects that are not healthy, with reason
/// and events. Empty when there is nothing to show.
pub(super) fn section(s: &FleetState, now: SystemTime, view: &View<'_>) -> String {
    let mut out = String::new();
    let agents: Vec<_> = s
        .clusters
        .values()
        .filter(|c| view.sees_cluster(c))
        .filter_map(|c| c.agent.as_ref().map(|a| (c.name.as_str(), a)))
        .collect();
    if !agents.is_empty() {
        out.push_str("<section id=\"agents\"><h2>Agent clusters</h2><ul>\n");
        for (name, a) in agents {
            agent_line(&mut out, name, a, now);
        }
        out.push_str("</ul></section>\n");
    }
    let unhealthy: Vec<_> = s
        .clusters
        .values()
        .filter(|c| view.sees_cluster(c))
        .map(|c| {
            let bad: Vec<ObjectHealth> = c
                .objects
                .unhealthy()
                .filter(|o| view.sees_object(&o.key))
                .collect();
            (c.name.as_str(), bad)
        })
        .filter(|(_, bad)| !bad.is_empty())
        .collect();
    if !unhealthy.is_empty() {
        out.push_str("<section id=\"unhealthy\"><h2>Unhealthy objects</h2>\n");
        for (cluster, objects) in unhealthy {
            let _ = writeln!(out, "<h3><code>{}</code></h3><ul>", escape(cluster));
            for o in objects {
                let _ = write!(
                    out,
                    "<li><code>{}</code> {:?}{}",
                    escape(&o.key.to_string()),
                    o.health,
                    if o.reason.is_empty() {
                        String::new()
                    } else {
                        format!(": {}", escape(&o.reason))
                    }
                );
                if !o.events.is_empty() {
                    out.push_str("<ul>");
                    for e in &o.events {
                        let _ = write!(
                            out,
                            "<li>{} {} (x{}): {}</li>",
                            escape(&e.kind),
                            escape(&e.reason),
                            e.count,
                            escape(&e.message)
                        );
                    }
                    out.push_str("</ul>");
                }
                out.push_str("</li>\n");
            }
            out.push_str("</ul>\n");
        }
        out.push_str("</section>\n");
    }
    out
}

/// `page` with [`section`] placed at the end of its main part.
pub(super) fn with_section(
    page: String,
    s: &FleetState,
    now: SystemTime,
    view: &View<'_>,
) -> String {
    let extra = section(s, now, view);
    if extra.is_empty() {
        return page;
    }
    match page.rfind("</main>") {
        Some(at) => format!("{}{extra}{}", &page[..at], &page[at..]),
        None => page + &extra,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::{ClusterState, ObjectsHealth};
    use flotilla_core::agent::ObjectEvent;
    use flotilla_core::model::ObjectKey;

    #[test]
    fn the_section_lists_unhealthy_objects_with_reason_and_events_escaped() {
        let mut s = FleetState::default();
        let mut c = ClusterState::new("eu-1", "canary");
        c.agent = Some(AgentContact::default());
        c.objects = ObjectsHealth::from(vec![
            ObjectHealth {
                key: ObjectKey {
                    group: "apps".into(),
                    kind: "Deployment".into(),
                    namespace: "demo".into(),
                    name: "web".into(),
                },
                health: HealthStatus::Degraded,
                reason: "image <pull> failed".into(),
                events: vec![ObjectEvent {
                    kind: "Warning".into(),
                    reason: "BackOff".into(),
                    message: "Back-off pulling image".into(),
                    count: 3,
                    last_seen: String::new(),
                }],
            },
            ObjectHealth {
                key: ObjectKey {
                    group: String::new(),
                    kind: "ConfigMap".into(),
                    namespace: "demo".into(),
                    name: "ok".into(),
                },
                health: HealthStatus::Healthy,
                reason: String::new(),
                events: vec![],
            },
        ]);
        s.clusters.insert("eu-1".into(), c);
        let html = section(&s, SystemTime::now(), &View::Platform);
        assert!(html.contains("Agent clusters"), "{html}");
        assert!(html.contains("last contact never"), "{html}");
        assert!(html.contains("image &lt;pull&gt; failed"), "{html}");
        assert!(
            html.contains("BackOff (x3): Back-off pulling image"),
            "{html}"
        );
        assert!(
            !html.contains("ok</code>"),
            "healthy objects are not listed: {html}"
        );
    }
}
