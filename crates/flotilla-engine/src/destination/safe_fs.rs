//! Writing and deleting files of a folder of manifests (directory targets,
//! `render --out`) so that nothing ever lands outside the folder: a defence
//! in depth behind the validation of object identities. File names come
//! from [`flotilla_core::model::names::safe_file_name`]; every path is checked here
//! to be one plain component whose parent is the folder itself (compared
//! canonicalised), and an existing symlink is never written through or
//! deleted.

use std::io;
use std::path::{Component, Path, PathBuf};

fn refuse(message: String) -> io::Error {
    io::Error::new(io::ErrorKind::PermissionDenied, message)
}

/// Whether `name` is a single, plain, non-empty file name: no separator,
/// not `.` or `..`, no NUL.
pub fn is_plain_file_name(name: &str) -> bool {
    let mut parts = Path::new(name).components();
    matches!(parts.next(), Some(Component::Normal(_)))
        && parts.next().is_none()
        && !name.contains(['/', '\\', '\0'])
}

/// The path of `name` in `folder`, checked to stay inside it: `name` must
/// be a plain file name, and when the folder exists, the file's parent,
/// canonicalised, must be the folder canonicalised; a symlink there is
/// refused.
pub fn path_inside(folder: &Path, name: &str) -> io::Result<PathBuf> {
    if !is_plain_file_name(name) {
        return Err(refuse(format!(
            "refusing file name {name:?}: not a plain file name inside {}",
            folder.display()
        )));
    }
    let path = folder.join(name);
    let real_folder = match folder.canonicalize() {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(path),
        Err(e) => return Err(e),
    };
    let parent = path
        .parent()
        .map(Path::canonicalize)
        .transpose()?
        .unwrap_or_default();
    if parent != real_folder {
        return Err(refuse(format!(
            "refusing {}: it is not inside {}",
            path.display(),
            folder.display()
        )));
    }
    if let Ok(meta) = std::fs::symlink_metadata(&path)
        && meta.file_type().is_symlink()
    {
        return Err(refuse(format!(
            "refusing {}: it is a symlink",
            path.display()
        )));
    }
    Ok(path)
}

/// Writes `bytes` to `name` in `folder` (created when missing): to a
/// temporary file in the folder first, then renamed over the target, so a
/// crash or a full disk never leaves half a file. With `private`, the file
/// is readable by its owner only (0600 on unix), as fits a Secret.
pub fn write_file(folder: &Path, name: &str, bytes: &[u8], private: bool) -> io::Result<PathBuf> {
    std::fs::create_dir_all(folder)?;
    let path = path_inside(folder, name)?;
    let tmp = path_inside(folder, &format!(".{name}.tmp~"))?;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(if private { 0o600 } else { 0o644 });
    }
    let _ = private;
    let result = (|| {
        use std::io::Write;
        let mut f = options.open(&tmp)?;
        #[cfg(unix)]
        if private {
            // The mode above only applies when the file is created.
            use std::os::unix::fs::PermissionsExt;
            f.set_permissions(std::fs::Permissions::from_mode(0o600))?;
        }
        f.write_all(bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, &path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result.map(|()| path)
}

/// Removes `name` from `folder`; `Ok(false)` when it was not there.
pub fn remove_file(folder: &Path, name: &str) -> io::Result<bool> {
    let path = path_inside(folder, name)?;
    match std::fs::remove_file(&path) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_plain_names_inside_the_folder() {
        let dir = tempfile::tempdir().unwrap();
        for bad in ["../x", "/etc/passwd", "a/b", ".", "..", ""] {
            assert!(path_inside(dir.path(), bad).is_err(), "{bad}");
        }
        assert!(path_inside(dir.path(), "a.yaml").is_ok());
        write_file(dir.path(), "s.yaml", b"x", true).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.path().join("s.yaml"))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
            let outside = tempfile::tempdir().unwrap();
            std::os::unix::fs::symlink(outside.path().join("t"), dir.path().join("l.yaml"))
                .unwrap();
            assert!(write_file(dir.path(), "l.yaml", b"x", false).is_err());
            assert!(!outside.path().join("t").exists());
        }
        assert!(remove_file(dir.path(), "s.yaml").unwrap());
        assert!(!remove_file(dir.path(), "s.yaml").unwrap());
    }
}
