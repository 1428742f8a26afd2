//! Checks of a cluster's `connection` in fleet.yaml beyond its shape:
//! `${VAR}` only from the allow-list ([`crate::model::env_vars`]), and no
//! two clusters writing to one folder (they would overwrite each other's
//! files). Pure: folders are compared as written, normalised lexically.

use std::collections::BTreeMap;

use super::fleet_file::Checker;
use crate::model::Connection;

/// Checks the connection of cluster `name` (declared at `line`, field
/// `field`); `folders` maps each directory seen so far to its cluster.
pub(crate) fn check(
    name: &str,
    connection: &Connection,
    line: usize,
    field: &str,
    folders: &mut BTreeMap<String, String>,
    ck: &mut Checker,
) {
    let (key, path) = match connection {
        Connection::Kubeconfig { path, .. } => ("kubeconfig", path),
        Connection::Directory { path } => ("directory", path),
        Connection::Agent => return,
    };
    if let Err(e) = crate::model::env_vars::check(path) {
        ck.error(line, format!("{field}.connection.{key}"), e);
    }
    if let Connection::Directory { path } = connection {
        let folder = normalise(path);
        if let Some(first) = folders.get(&folder) {
            ck.error(
                line,
                format!("{field}.connection.directory"),
                format!(
                    "cluster {name:?} writes to the same folder as cluster {first:?} ({path:?}): give each cluster its own folder"
                ),
            );
        } else {
            folders.insert(folder, name.to_string());
        }
    }
}

/// A folder path normalised lexically: no `.` or empty segments, `a/..`
/// folded, no trailing `/`; an absolute path keeps its leading `/`.
fn normalise(path: &str) -> String {
    let absolute = path.starts_with('/');
    let mut parts: Vec<&str> = Vec::new();
    for seg in path.split('/') {
        match seg {
            "" | "." => {}
            ".." if parts.last().is_some_and(|p| *p != "..") => {
                parts.pop();
            }
            ".." if absolute => {}
            s => parts.push(s),
        }
    }
    let joined = parts.join("/");
    if absolute {
        format!("/{joined}")
    } else {
        joined
    }
}

#[cfg(test)]
mod tests {
    use super::normalise;

    #[test]
    fn folders_compare_lexically() {
        assert_eq!(normalise("./out//eu-1/"), "out/eu-1");
        assert_eq!(normalise("out/x/../eu-1"), "out/eu-1");
        assert_eq!(normalise("/a/../../b"), "/b");
        assert_eq!(normalise("../a"), "../a");
    }
}
