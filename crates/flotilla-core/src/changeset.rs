//! The outcome of syncing one cluster: one typed action per object.

use std::fmt;

use serde::Serialize;

use crate::model::ObjectKey;

/// What happened to one object.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
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

/// One object's action, with the reason where it failed or was skipped.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Change {
    /// The object.
    pub key: ObjectKey,
    /// What happened.
    pub action: Action,
    /// Why, for `Failed` and `Skipped`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// Counts of each action.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
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
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
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
}

impl ChangeSet {
    /// An empty change set for `cluster`.
    pub fn new(cluster: impl Into<String>, dry_run: bool) -> Self {
        Self {
            cluster: cluster.into(),
            dry_run,
            changes: Vec::new(),
            error: None,
        }
    }

    /// A change set recording that the whole cluster failed.
    pub fn failed(cluster: impl Into<String>, dry_run: bool, error: impl Into<String>) -> Self {
        let mut c = Self::new(cluster, dry_run);
        c.error = Some(error.into());
        c
    }

    /// Records one action.
    pub fn push(&mut self, key: ObjectKey, action: Action, message: Option<String>) {
        self.changes.push(Change {
            key,
            action,
            message,
        });
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
