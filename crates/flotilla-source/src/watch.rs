//! The local development loop: watch a fleet folder and say when to re-render.
//!
//! A [`FolderWatcher`] watches a folder recursively with `notify`, ignores
//! hidden paths (`.git`, `.flotilla`, editor swap files starting with a dot)
//! and access-only events, and folds a burst of events (an editor saving,
//! `git checkout` rewriting many files) into one [`Edits`] once the folder has
//! been quiet for the debounce interval (200 ms by default).
//!
//! ```no_run
//! use std::time::Duration;
//! use flotilla_source::FolderWatcher;
//!
//! let watcher = FolderWatcher::new("examples/fleet")?;
//! loop {
//!     if let Some(change) = watcher.next_change(Duration::from_secs(1))? {
//!         println!("re-rendering after changes to {:?}", change.paths);
//!     }
//! #   break;
//! }
//! # Ok::<(), flotilla_source::SourceError>(())
//! ```

use std::collections::BTreeSet;
use std::path::{Component, Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, channel};
use std::time::{Duration, Instant};

use notify::event::EventKind;
use notify::{Event, RecommendedWatcher, RecursiveMode, Watcher};

use super::SourceError;
use super::paths::is_hidden;

/// The default quiet interval that ends a burst of events.
pub const DEFAULT_DEBOUNCE: Duration = Duration::from_millis(200);

/// A burst of changes is reported at the latest this many debounce intervals
/// after it started, even if the folder never goes quiet.
const MAX_BURST_INTERVALS: u32 = 10;

/// Files that changed in a burst, relative to the watched folder, sorted.
/// Empty when the watcher lost track (event queue overflow): re-render anyway.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Edits {
    /// The changed paths (created, modified, removed or renamed).
    pub paths: Vec<PathBuf>,
}

/// Watches a folder; stops watching when dropped.
pub struct FolderWatcher {
    root: PathBuf,
    debounce: Duration,
    events: Receiver<notify::Result<Event>>,
    _watcher: RecommendedWatcher,
}

impl std::fmt::Debug for FolderWatcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FolderWatcher")
            .field("root", &self.root)
            .field("debounce", &self.debounce)
            .finish()
    }
}

impl FolderWatcher {
    /// Starts watching `root` (recursively) with the default debounce.
    pub fn new(root: impl AsRef<Path>) -> Result<Self, SourceError> {
        Self::with_debounce(root, DEFAULT_DEBOUNCE)
    }

    /// Starts watching `root` (recursively), ending bursts after `debounce` of quiet.
    pub fn with_debounce(root: impl AsRef<Path>, debounce: Duration) -> Result<Self, SourceError> {
        let given = root.as_ref();
        let root = std::fs::canonicalize(given).map_err(|_| SourceError::FolderNotFound {
            path: given.to_owned(),
        })?;
        if !root.is_dir() {
            return Err(SourceError::FolderNotFound {
                path: given.to_owned(),
            });
        }
        let watch_error = |e: notify::Error| SourceError::Watch {
            path: given.to_owned(),
            message: e.to_string(),
        };
        let (sender, events) = channel();
        let mut watcher = notify::recommended_watcher(sender).map_err(watch_error)?;
        watcher
            .watch(&root, RecursiveMode::Recursive)
            .map_err(watch_error)?;
        Ok(Self {
            root,
            debounce,
            events,
            _watcher: watcher,
        })
    }

    /// The watched folder (canonical).
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Waits up to `timeout` for a relevant change, then for the burst it starts
    /// to settle, and returns it; `None` if nothing relevant happened in time.
    /// The call returns within `timeout` plus at most ten debounce intervals.
    pub fn next_change(&self, timeout: Duration) -> Result<Option<Edits>, SourceError> {
        let deadline = Instant::now() + timeout;
        let mut paths = BTreeSet::new();
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Ok(None);
            }
            match self.events.recv_timeout(left) {
                Ok(event) => {
                    if self.collect(event, &mut paths) {
                        break;
                    }
                }
                Err(RecvTimeoutError::Timeout) => return Ok(None),
                Err(RecvTimeoutError::Disconnected) => return Err(self.stopped()),
            }
        }
        let started = Instant::now();
        let burst_deadline = started + self.debounce * MAX_BURST_INTERVALS;
        let mut quiet_from = started;
        loop {
            let now = Instant::now();
            let wait = (quiet_from + self.debounce)
                .min(burst_deadline)
                .saturating_duration_since(now);
            if wait.is_zero() {
                break;
            }
            match self.events.recv_timeout(wait) {
                Ok(event) => {
                    if self.collect(event, &mut paths) {
                        quiet_from = Instant::now();
                    }
                }
                Err(RecvTimeoutError::Timeout) => break,
                Err(RecvTimeoutError::Disconnected) => return Err(self.stopped()),
            }
        }
        Ok(Some(Edits {
            paths: paths.into_iter().collect(),
        }))
    }

    /// Calls `on_change` for every change until `stop` is set (checked at least
    /// every 100 ms), or until `on_change` returns `false`.
    pub fn run(
        &self,
        stop: &AtomicBool,
        mut on_change: impl FnMut(&Edits) -> bool,
    ) -> Result<(), SourceError> {
        while !stop.load(Ordering::Relaxed) {
            if let Some(change) = self.next_change(Duration::from_millis(100))?
                && !on_change(&change)
            {
                break;
            }
        }
        Ok(())
    }

    /// Adds the relevant paths of `event` to `paths`; whether it was relevant.
    fn collect(&self, event: notify::Result<Event>, paths: &mut BTreeSet<PathBuf>) -> bool {
        let event = match event {
            Ok(event) => event,
            Err(e) => {
                tracing::warn!(folder = %self.root.display(), error = %e, "file watcher error");
                return false;
            }
        };
        if event.need_rescan() {
            return true;
        }
        if matches!(event.kind, EventKind::Access(_)) {
            return false;
        }
        let mut relevant = false;
        for path in &event.paths {
            let Ok(relative) = path.strip_prefix(&self.root) else {
                continue;
            };
            if relative.as_os_str().is_empty() || is_hidden_path(relative) {
                continue;
            }
            paths.insert(relative.to_owned());
            relevant = true;
        }
        relevant
    }

    fn stopped(&self) -> SourceError {
        SourceError::Watch {
            path: self.root.clone(),
            message: "the file watcher stopped".into(),
        }
    }
}

impl Edits {
    /// The changed paths that can change what the loader reads, given the
    /// `fleet.yaml` now in the folder (its text; empty when there is none):
    /// see [`read_by_loader`]. `is_dir` tells whether a path is a folder
    /// now (a removed one is judged by its name).
    pub fn read_by_loader(&self, fleet_yaml: &str, is_dir: impl Fn(&Path) -> bool) -> Vec<&Path> {
        let folders = flotilla_core::load::folders_named(fleet_yaml);
        self.paths
            .iter()
            .map(PathBuf::as_path)
            .filter(|p| read_by_loader(p, is_dir(p), &folders))
            .collect()
    }
}

/// Whether a change at `relative` (to the fleet folder) can change what the
/// loader reads, `folders` being those `fleet.yaml` names
/// ([`flotilla_core::load::folders_named`]): `fleet.yaml` (or `fleet.yml`,
/// for the hint to rename it), and a YAML file or a folder in a named
/// folder or on the way to one. A name without a dot may be a removed or
/// renamed folder, so it counts there too. Anything else (a build folder
/// beside the fleet, a README) cannot.
pub fn read_by_loader(relative: &Path, is_dir: bool, folders: &[String]) -> bool {
    let Some(path) = relative.to_str() else {
        return false;
    };
    let path = path.replace('\\', "/");
    if super::paths::FLEET_FILES.contains(&path.as_str()) {
        return true;
    }
    let name = path.rsplit('/').next().unwrap_or_default();
    let kind = is_dir || flotilla_core::load::is_yaml_file(name) || !name.contains('.');
    kind && flotilla_core::load::on_read_path(&path, folders)
}

/// Whether any component of a relative path is hidden.
fn is_hidden_path(relative: &Path) -> bool {
    relative.components().any(|c| match c {
        Component::Normal(name) => name.to_str().is_none_or(is_hidden),
        _ => false,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_what_the_loader_reads_counts_as_a_change() {
        let folders = flotilla_core::load::folders_named(
            "spec:\n  bases: [{name: web, path: bases/web}]\n  overlays: [{name: eu, path: overlays/eu}]\n",
        );
        let counts = |p: &str, dir: bool| read_by_loader(Path::new(p), dir, &folders);
        for (path, dir) in [
            ("fleet.yaml", false),
            ("fleet.yml", false),
            ("bases/web/deploy.yaml", false),
            ("bases/web/extra/x.yml", false),
            ("overlays/eu", true),
            // A folder on the way, renamed or removed.
            ("bases", false),
            ("bases/web", false),
            ("clusters/eu-1/patch.yaml", false),
        ] {
            assert!(counts(path, dir), "{path} should count");
        }
        for (path, dir) in [
            ("target/debug/build.yaml", false),
            ("target", true),
            ("bases/web/README.md", false),
            ("bases/api/deploy.yaml", false),
            ("overlays/us/x.yaml", false),
            ("notes.txt", false),
        ] {
            assert!(!counts(path, dir), "{path} should not count");
        }
    }

    const WAIT: Duration = Duration::from_secs(10);

    #[test]
    fn a_new_file_is_reported_once_the_burst_settles() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("bases")).unwrap();
        let watcher = FolderWatcher::with_debounce(dir.path(), Duration::from_millis(50)).unwrap();
        std::fs::write(dir.path().join("bases/web.yaml"), "kind: Service\n").unwrap();
        std::fs::write(dir.path().join("fleet.yaml"), "kind: Fleet\n").unwrap();
        let change = watcher
            .next_change(WAIT)
            .unwrap()
            .expect("a change within 10 s");
        assert!(
            change.paths.contains(&PathBuf::from("bases/web.yaml")),
            "{change:?}"
        );
        // The burst may straddle the debounce on a loaded machine; drain it.
        let mut seen: BTreeSet<_> = change.paths.into_iter().collect();
        while !seen.contains(Path::new("fleet.yaml")) {
            let more = watcher
                .next_change(WAIT)
                .unwrap()
                .expect("fleet.yaml reported");
            seen.extend(more.paths);
        }
    }

    #[test]
    fn hidden_paths_are_ignored() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join(".flotilla/live")).unwrap();
        let watcher = FolderWatcher::with_debounce(dir.path(), Duration::from_millis(50)).unwrap();
        std::fs::write(dir.path().join(".flotilla/live/x.yaml"), "x").unwrap();
        std::fs::write(dir.path().join(".hidden.swp"), "x").unwrap();
        assert_eq!(
            watcher.next_change(Duration::from_millis(400)).unwrap(),
            None
        );
        std::fs::write(dir.path().join("a.yaml"), "a").unwrap();
        let change = watcher
            .next_change(WAIT)
            .unwrap()
            .expect("a change within 10 s");
        assert_eq!(change.paths, [PathBuf::from("a.yaml")]);
    }

    #[test]
    fn run_stops_when_asked() {
        let dir = tempfile::tempdir().unwrap();
        let watcher = FolderWatcher::with_debounce(dir.path(), Duration::from_millis(20)).unwrap();
        let stop = AtomicBool::new(false);
        std::fs::write(dir.path().join("a.yaml"), "a").unwrap();
        let mut calls = 0;
        let started = Instant::now();
        watcher
            .run(&stop, |_| {
                calls += 1;
                false
            })
            .unwrap();
        assert_eq!(calls, 1);
        assert!(started.elapsed() < WAIT);
        stop.store(true, Ordering::Relaxed);
        watcher.run(&stop, |_| unreachable!()).unwrap();
    }

    #[test]
    fn a_missing_folder_is_an_error() {
        let err = FolderWatcher::new("/nonexistent/flotilla-watch").unwrap_err();
        assert!(matches!(err, SourceError::FolderNotFound { .. }), "{err}");
    }
}
