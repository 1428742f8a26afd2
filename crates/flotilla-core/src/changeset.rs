//! The outcome of syncing one cluster: one typed action per object.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::diff::ownership::FieldTaken;
use crate::model::ObjectKey;

/// What happened to one object.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    /// It did not exist and was created.
    Created,
    /// It existed and was changed.
    Configured,
    /// It already matched; nothing was written.
    Unchanged,
    /// It left Git and was deleted.
    Pruned,
    /// It was left alone on purpose (e.g. a refused mass prune).
    Skipped,
    /// Applying or deleting it failed.
    Failed,
}

impl Action {
    /// The word used in summaries.
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Created => "created",
            Action::Configured => "configured",
            Action::Unchanged => "unchanged",
            Action::Pruned => "pruned",
            Action::Skipped => "skipped",
            Action::Failed => "failed",
        }
    }
}

/// Why something failed, by kind, so callers decide without reading the
/// message (the engine maps its typed errors to this). Not in the JSON
/// output: the message says it for people.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Failure {
    /// The cluster could not be reached (connection refused, dropped, DNS).
    Unreachable,
    /// Another field manager owns fields this apply sets.
    Conflict,
    /// The server refused the request: its HTTP code and Kubernetes reason
    /// (`Invalid`, `Forbidden`, ...).
    Refused {
        /// HTTP status code.
        code: u16,
        /// The `Status` reason; empty when the server gave none.
        reason: String,
    },
    /// The cluster does not serve the object's kind (CRD missing).
    NotServed,
    /// A wait ran out of time.
    Timeout,
    /// Reading or writing a directory destination failed.
    Io,
    /// The connection settings are unusable.
    Config,
    /// The stored inventory is not readable.
    Inventory,
    /// The mass-prune guard refused this round's prune.
    PruneRefused,
    /// Anything else (a client-side failure, a render error, a halted wave).
    Other,
}

/// One object's action, with the reason where it failed or was skipped.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Change {
    /// The object.
    pub key: ObjectKey,
    /// What happened.
    pub action: Action,
    /// Why, for `Failed` and `Skipped`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// Why, by kind, for `Failed`.
    #[serde(skip)]
    pub failure: Option<Failure>,
    /// Fields Git sets that other field managers had taken, and that this
    /// apply took back (server-side apply with force).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub taken: Vec<FieldTaken>,
}

impl Change {
    /// One line per field taken back: `took /spec/replicas from manager
    /// kubectl (Update, subresource scale)`.
    pub fn taken_lines(&self) -> impl Iterator<Item = String> + '_ {
        self.taken.iter().map(took)
    }
}

/// `took /spec/replicas from manager kubectl (Update, subresource scale)`.
pub fn took(t: &FieldTaken) -> String {
    let mut line = format!(
        "took {} from manager {} ({}",
        t.path, t.manager, t.operation
    );
    if let Some(s) = &t.subresource {
        line.push_str(", subresource ");
        line.push_str(s);
    }
    line.push(')');
    line
}

/// Counts of each action.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counts {
    /// Objects created.
    pub created: usize,
    /// Objects changed.
    pub configured: usize,
    /// Objects that already matched.
    pub unchanged: usize,
    /// Objects deleted because they left Git.
    pub pruned: usize,
    /// Objects left alone on purpose.
    pub skipped: usize,
    /// Objects whose apply or delete failed.
    pub failed: usize,
}

/// Everything that happened to one cluster in one sync.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ChangeSet {
    /// The cluster.
    pub cluster: String,
    /// Whether this was a dry run (nothing was stored).
    pub dry_run: bool,
    /// Per-object actions, in the order they were taken.
    pub changes: Vec<Change>,
    /// A failure of the whole cluster (unreachable, render error, refused
    /// prune), if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The kind of [`ChangeSet::error`], when it is set.
    #[serde(skip)]
    pub failure: Option<Failure>,
}

impl ChangeSet {
    /// An empty change set for `cluster`.
    pub fn new(cluster: impl Into<String>, dry_run: bool) -> Self {
        Self {
            cluster: cluster.into(),
            dry_run,
            changes: Vec::new(),
            error: None,
            failure: None,
        }
    }

    /// A change set recording that the whole cluster failed (of
    /// [`Failure::Other`] kind; see [`ChangeSet::fail`] for a typed one).
    pub fn failed(cluster: impl Into<String>, dry_run: bool, error: impl Into<String>) -> Self {
        let mut c = Self::new(cluster, dry_run);
        c.fail(Failure::Other, error);
        c
    }

    /// Records a failure of the whole cluster, replacing an earlier one.
    pub fn fail(&mut self, failure: Failure, error: impl Into<String>) {
        self.error = Some(error.into());
        self.failure = Some(failure);
    }

    /// Records one action.
    pub fn push(&mut self, key: ObjectKey, action: Action, message: Option<String>) {
        self.changes.push(Change {
            key,
            action,
            message,
            failure: None,
            taken: Vec::new(),
        });
    }

    /// Records one apply that took fields back from other managers.
    pub fn push_taken(&mut self, key: ObjectKey, action: Action, taken: Vec<FieldTaken>) {
        self.changes.push(Change {
            key,
            action,
            message: None,
            failure: None,
            taken,
        });
    }

    /// Every field taken back in this sync, with its object.
    pub fn fields_taken(&self) -> impl Iterator<Item = (&ObjectKey, &FieldTaken)> {
        self.changes
            .iter()
            .flat_map(|c| c.taken.iter().map(move |t| (&c.key, t)))
    }

    /// Records that one object failed, and why.
    pub fn push_failed(&mut self, key: ObjectKey, failure: Failure, message: String) {
        self.changes.push(Change {
            key,
            action: Action::Failed,
            message: Some(message),
            failure: Some(failure),
            taken: Vec::new(),
        });
    }

    /// Whether the failure is that the cluster was not reached: the
    /// cluster-level failure when there is one, else any object's.
    pub fn is_unreachable(&self) -> bool {
        match &self.failure {
            Some(f) => *f == Failure::Unreachable,
            None => self
                .changes
                .iter()
                .any(|c| c.failure == Some(Failure::Unreachable)),
        }
    }

    /// How many objects got each action.
    pub fn counts(&self) -> Counts {
        let mut c = Counts::default();
        for ch in &self.changes {
            *match ch.action {
                Action::Created => &mut c.created,
                Action::Configured => &mut c.configured,
                Action::Unchanged => &mut c.unchanged,
                Action::Pruned => &mut c.pruned,
                Action::Skipped => &mut c.skipped,
                Action::Failed => &mut c.failed,
            } += 1;
        }
        c
    }

    /// Whether the cluster or any object failed.
    pub fn is_failure(&self) -> bool {
        self.error.is_some() || self.changes.iter().any(|c| c.action == Action::Failed)
    }

    /// Whether anything was (or, in a dry run, would be) written.
    pub fn has_writes(&self) -> bool {
        self.changes.iter().any(|c| {
            matches!(
                c.action,
                Action::Created | Action::Configured | Action::Pruned
            )
        })
    }
}

impl fmt::Display for ChangeSet {
    /// `eu-1: 2 created, 1 configured, 40 unchanged, 1 pruned, 0 failed`
    /// ([`crate::report::words::sync_line`]).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&crate::report::words::sync_line(self))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(name: &str) -> ObjectKey {
        ObjectKey {
            group: String::new(),
            kind: "ConfigMap".into(),
            namespace: "shop".into(),
            name: name.into(),
        }
    }

    #[test]
    fn unreachable_is_read_from_the_typed_failure_not_the_text() {
        let mut c = ChangeSet::new("eu-1", false);
        c.push(key("a"), Action::Created, None);
        c.push_failed(
            key("b"),
            Failure::Refused {
                code: 422,
                reason: "Invalid".into(),
            },
            "cluster unreachable: in the message only".into(),
        );
        assert!(c.is_failure());
        assert!(!c.is_unreachable(), "the text does not decide");
        c.push_failed(key("c"), Failure::Unreachable, "applying c: refused".into());
        assert!(c.is_unreachable());
        // A cluster-level failure decides over the objects'.
        c.fail(Failure::PruneRefused, "refusing to prune");
        assert!(!c.is_unreachable());
        c.fail(Failure::Unreachable, "reading the inventory: gone");
        assert!(c.is_unreachable());
        assert_eq!(c.error.as_deref(), Some("reading the inventory: gone"));
    }

    #[test]
    fn the_json_form_leaves_the_typed_failure_out() {
        let mut c = ChangeSet::new("eu-1", true);
        c.push_failed(key("b"), Failure::Conflict, "conflict".into());
        c.fail(Failure::Unreachable, "gone");
        assert_eq!(
            serde_json::to_value(&c).unwrap(),
            serde_json::json!({
                "cluster": "eu-1", "dryRun": true, "error": "gone",
                "changes": [{
                    "key": serde_json::to_value(key("b")).unwrap(),
                    "action": "failed", "message": "conflict",
                }],
            })
        );
        let halted = ChangeSet::failed("us-1", false, "not synced");
        assert_eq!(halted.failure, Some(Failure::Other));
    }

    #[test]
    fn fields_taken_back_show_in_every_form_of_the_sync_summary() {
        use crate::report::{OutputFormat, Report, SyncSummary};
        let mut c = ChangeSet::new("eu-1", false);
        let web = ObjectKey {
            group: "apps".into(),
            kind: "Deployment".into(),
            namespace: "shop".into(),
            name: "web".into(),
        };
        c.push(key("a"), Action::Unchanged, None);
        c.push_taken(
            web.clone(),
            Action::Configured,
            vec![FieldTaken {
                path: "/spec/replicas".into(),
                manager: "kubectl".into(),
                operation: "Update".into(),
                subresource: Some("scale".into()),
                api_version: "apps/v1".into(),
            }],
        );
        assert_eq!(c.fields_taken().count(), 1);
        assert_eq!(c.fields_taken().next().unwrap().0, &web);
        let results = [c];
        let text = SyncSummary(&results).render(OutputFormat::Text).unwrap();
        assert_eq!(
            text,
            "eu-1: 0 created, 1 configured, 1 unchanged, 0 pruned, 0 failed\n  configured Deployment.apps shop/web: took /spec/replicas from manager kubectl (Update, subresource scale)\n"
        );
        let json: serde_json::Value =
            serde_json::from_str(&SyncSummary(&results).render(OutputFormat::Json).unwrap())
                .unwrap();
        assert_eq!(
            json[0]["changes"][1]["taken"],
            serde_json::json!([{"path": "/spec/replicas", "manager": "kubectl", "operation": "Update",
                "subresource": "scale", "apiVersion": "apps/v1"}])
        );
        assert!(json[0]["changes"][0].get("taken").is_none(), "{json:#}");
    }
}
