//! What a poll found.

use flotilla_core::snapshot::Snapshot;

/// The result of [`Source::poll`](super::Source::poll).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PollOutcome {
    /// Nothing changed since the last poll.
    Unchanged {
        /// The commit id still tracked (`None` for a work tree).
        revision: Option<String>,
    },
    /// A new commit (or, for a work tree, new contents) to render. The first
    /// poll of a source always reports one.
    Updated {
        /// The files at the new revision.
        snapshot: Snapshot,
        /// The commit seen by the previous poll, if any.
        previous: Option<String>,
        /// Whether history was rewritten (a force-push): the new commit does not
        /// descend from the previous one. Still a new commit to render, but worth
        /// a warning: commits that were deployed are gone from the branch.
        history_rewritten: bool,
    },
}

impl PollOutcome {
    /// The new snapshot, if there is one.
    pub fn snapshot(&self) -> Option<&Snapshot> {
        match self {
            PollOutcome::Unchanged { .. } => None,
            PollOutcome::Updated { snapshot, .. } => Some(snapshot),
        }
    }

    /// The new snapshot, if there is one, by value.
    pub fn into_snapshot(self) -> Option<Snapshot> {
        match self {
            PollOutcome::Unchanged { .. } => None,
            PollOutcome::Updated { snapshot, .. } => Some(snapshot),
        }
    }

    /// Whether something new was found.
    pub fn is_updated(&self) -> bool {
        matches!(self, PollOutcome::Updated { .. })
    }

    /// Whether history was rewritten since the previous poll.
    pub fn history_rewritten(&self) -> bool {
        matches!(
            self,
            PollOutcome::Updated {
                history_rewritten: true,
                ..
            }
        )
    }
}
