//! An advisory lock on a cache folder, so that two processes (or two sources in
//! one process) never fetch into the same cache at once.
//!
//! The lock is an OS file lock (`flock` on Unix) on a file next to the cache:
//! it is released when the holder exits, however it exits, so a crash never
//! leaves a stale lock behind.

use std::fs::{File, OpenOptions, TryLockError};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use super::SourceError;

/// How long to wait for another holder before giving up.
pub(crate) const LOCK_TIMEOUT: Duration = Duration::from_secs(300);

/// A held lock; released on drop.
#[derive(Debug)]
pub(crate) struct CacheLock {
    file: File,
    path: PathBuf,
}

impl CacheLock {
    /// Takes the lock at `path` (creating the file and its folder), waiting up
    /// to `timeout` for another holder.
    pub(crate) fn acquire(path: &Path, timeout: Duration) -> Result<Self, SourceError> {
        let io_err = |source| SourceError::Io {
            path: path.to_owned(),
            source,
        };
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(io_err)?;
        }
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .read(true)
            .write(true)
            .open(path)
            .map_err(io_err)?;
        let started = Instant::now();
        let mut logged = false;
        loop {
            match file.try_lock() {
                Ok(()) => {
                    return Ok(Self {
                        file,
                        path: path.to_owned(),
                    });
                }
                Err(TryLockError::WouldBlock) => {
                    if started.elapsed() >= timeout {
                        return Err(SourceError::CacheLocked {
                            path: path.to_owned(),
                            waited_secs: started.elapsed().as_secs(),
                        });
                    }
                    if !logged {
                        tracing::debug!(lock = %path.display(), "waiting for the Git cache lock");
                        logged = true;
                    }
                    std::thread::sleep(Duration::from_millis(25));
                }
                Err(TryLockError::Error(source)) => return Err(io_err(source)),
            }
        }
    }
}

impl Drop for CacheLock {
    fn drop(&mut self) {
        if let Err(e) = self.file.unlock() {
            tracing::debug!(lock = %self.path.display(), error = %e, "unlocking the Git cache");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_holder_waits_and_times_out() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/cache.lock");
        let first = CacheLock::acquire(&path, Duration::from_secs(1)).unwrap();
        let err = CacheLock::acquire(&path, Duration::from_millis(100)).unwrap_err();
        assert!(matches!(err, SourceError::CacheLocked { .. }), "{err}");
        drop(first);
        CacheLock::acquire(&path, Duration::from_millis(100)).unwrap();
    }
}
