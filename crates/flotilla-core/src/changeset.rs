//! The outcome of syncing one cluster: one typed action per object.

use std::fmt;

use serde::Serialize;

use crate::diff::ownership::FieldTaken;
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
    /// Fields Git sets that other field managers had taken, and that this
    /// apply took back (server-side apply with force).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub taken: Vec<FieldTaken>,
}

impl Change {
    /// One line per field taken back: `took /spec/replicas from kubectl
    /// (Update, subresource scale)`.
    pub fn taken_lines(&self) -> impl Iterator<Item = String> + '_ {
        self.taken.iter().map(took)
    }
}

/// `took /spec/replicas from kubectl (Update, subresource scale)`.
pub fn took(t: &FieldTaken) -> String {
    let mut line = format!("took {} from {} ({}", t.path, t.manager, t.operation);
    if let Some(s) = &t.subresource {
        line.push_str(", subresource ");
        line.push_str(s);
    }
    line.push(')');
    line
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
            taken: Vec::new(),
        });
    }

    /// Records one apply that took fields back from other managers.
    pub fn push_taken(&mut self, key: ObjectKey, action: Action, taken: Vec<FieldTaken>) {
        self.changes.push(Change {
            key,
            action,
            message: None,
            taken,
        });
    }

    /// Every field taken back in this sync, with its object.
    pub fn fields_taken(&self) -> impl Iterator<Item = (&ObjectKey, &FieldTaken)> {
        self.changes
            .iter()
            .flat_map(|c| c.taken.iter().map(move |t| (&c.key, t)))
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
    /// `eu-1: 2 created, 1 configured, 40 unchanged, 1 pruned, 0 failed`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let c = self.counts();
        write!(
            f,
            "{}: {} created, {} configured, {} unchanged, {} pruned, {} failed",
            self.cluster, c.created, c.configured, c.unchanged, c.pruned, c.failed
        )?;
        if c.skipped > 0 {
            write!(f, ", {} skipped", c.skipped)?;
        }
        if self.dry_run {
            write!(f, " (dry run)")?;
        }
        if let Some(e) = &self.error {
            write!(f, "; error: {e}")?;
        }
        Ok(())
    }
}
