//! Checks over a cluster's whole desired state that one object alone cannot
//! tell.

use crate::diagnostic::Diagnostic;
use crate::model::{ObjectKey, Origin};

/// The spelling of each kind in one cluster's desired state: `kind:
/// CONFIGMAP` beside `ConfigMap` of one group is an error, since file names
/// (and the API server's resource names) lower-case the kind, so the two
/// would overwrite each other.
#[derive(Default)]
pub(super) struct KindSpellings {
    /// Group, kind as first spelt, and where; a cluster has few kinds, so
    /// a list scanned without allocating is cheapest.
    seen: Vec<(String, String, Origin)>,
}

impl KindSpellings {
    /// Records `key`'s kind; an error when the same group already has the
    /// kind spelt with other letter case.
    pub(super) fn check(&mut self, key: &ObjectKey, origin: &Origin) -> Result<(), Diagnostic> {
        let first = self
            .seen
            .iter()
            .find(|(g, k, _)| *g == key.group && k.eq_ignore_ascii_case(&key.kind));
        match first {
            Some((_, kind, first)) if *kind != key.kind => Err(origin
                .diagnostic(format!(
                    "kind {:?} differs only in letter case from kind {kind:?} in {} document {} (line {}): spell it the same everywhere",
                    key.kind, first.file, first.document, first.line
                ))
                .context("kind")),
            Some(_) => Ok(()),
            None => {
                self.seen
                    .push((key.group.clone(), key.kind.clone(), origin.clone()));
                Ok(())
            }
        }
    }
}
