//! What the agent keeps in its state directory, so that a restarted agent,
//! or one whose hub is down, goes on from where it was: the last
//! assignment, what it last applied, its report number, and the reports
//! the hub has not acknowledged yet. Every write is a temporary file and a
//! rename, so a kill mid-write leaves the previous version.

use std::collections::VecDeque;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::AgentError;
use flotilla_core::agent::{AgentReport, Assignment, SyncResult};

/// At most this many unsent reports are kept; older ones are dropped
/// (the newest always says where the cluster stands).
pub const MAX_OUTBOX: usize = 64;

/// What the agent last applied.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Applied {
    /// The assignment's generation.
    pub generation: u64,
    /// Its digest.
    pub digest: String,
    /// Its revision.
    pub revision: Option<String>,
    /// The outcome.
    pub result: Option<SyncResult>,
}

impl Applied {
    /// Whether `digest` was applied and the sync succeeded: the same work
    /// need not be done again.
    pub fn done(&self, digest: &str) -> bool {
        self.digest == digest && self.result.as_ref().is_some_and(|r| r.synced)
    }
}

/// The state directory (or none: everything in memory only).
#[derive(Clone, Debug)]
pub struct Store {
    dir: Option<PathBuf>,
}

impl Store {
    /// A store in `dir` (created when missing); `None` keeps nothing.
    pub fn new(dir: Option<PathBuf>) -> Result<Self, AgentError> {
        if let Some(d) = &dir {
            std::fs::create_dir_all(d).map_err(|source| AgentError::State {
                path: d.display().to_string(),
                source,
            })?;
        }
        Ok(Self { dir })
    }

    fn path(&self, name: &str) -> Option<PathBuf> {
        self.dir.as_ref().map(|d| d.join(name))
    }

    fn read<T: for<'de> Deserialize<'de>>(&self, name: &str) -> Option<T> {
        let path = self.path(name)?;
        let text = std::fs::read(&path).ok()?;
        match serde_json::from_slice(&text) {
            Ok(v) => Some(v),
            Err(e) => {
                tracing::warn!(file = %path.display(), error = %e, "ignoring an unreadable state file");
                None
            }
        }
    }

    fn write<T: Serialize>(&self, name: &str, value: &T) {
        let Some(path) = self.path(name) else { return };
        if let Err(e) = write_atomic(&path, value) {
            tracing::warn!(file = %path.display(), error = %e, "could not write the state file");
        }
    }

    /// The last assignment received.
    pub fn assignment(&self) -> Option<Assignment> {
        self.read("assignment.json")
    }

    /// Keeps the last assignment received.
    pub fn save_assignment(&self, a: &Assignment) {
        self.write("assignment.json", a);
    }

    /// What was last applied.
    pub fn applied(&self) -> Applied {
        self.read("applied.json").unwrap_or_default()
    }

    /// Keeps what was last applied.
    pub fn save_applied(&self, a: &Applied) {
        self.write("applied.json", a);
    }

    /// The last report number used.
    pub fn seq(&self) -> u64 {
        self.read("seq.json").unwrap_or(0)
    }

    /// Keeps the last report number used.
    pub fn save_seq(&self, seq: u64) {
        self.write("seq.json", &seq);
    }

    /// The reports not sent yet.
    pub fn outbox(&self) -> VecDeque<AgentReport> {
        self.read("outbox.json").unwrap_or_default()
    }

    /// Keeps the reports not sent yet.
    pub fn save_outbox(&self, outbox: &VecDeque<AgentReport>) {
        self.write("outbox.json", outbox);
    }
}

fn write_atomic<T: Serialize>(path: &Path, value: &T) -> std::io::Result<()> {
    let text = serde_json::to_vec(value).map_err(std::io::Error::other)?;
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, text)?;
    std::fs::rename(&tmp, path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_survives_a_new_store_on_the_same_folder() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::new(Some(dir.path().join("state"))).unwrap();
        store.save_seq(41);
        store.save_applied(&Applied {
            generation: 3,
            digest: "abc".into(),
            revision: None,
            result: None,
        });
        let again = Store::new(Some(dir.path().join("state"))).unwrap();
        assert_eq!(again.seq(), 41);
        assert_eq!(again.applied().generation, 3);
        assert!(
            !again.applied().done("abc"),
            "a sync without a result is not done"
        );
    }

    #[test]
    fn without_a_folder_nothing_is_kept() {
        let store = Store::new(None).unwrap();
        store.save_seq(5);
        assert_eq!(store.seq(), 0);
    }
}
