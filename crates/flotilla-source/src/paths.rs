//! Small helpers on repository-relative, `/`-separated paths.

/// Whether a file or folder name is hidden (starts with a dot), like `.git`,
/// `.flotilla` or `.github`.
pub(crate) fn is_hidden(name: &str) -> bool {
    name.starts_with('.')
}

/// `prefix/name`, or `name` when `prefix` is empty.
pub(crate) fn join(prefix: &str, name: &str) -> String {
    if prefix.is_empty() {
        name.to_owned()
    } else {
        format!("{prefix}/{name}")
    }
}

/// The names the readers look for the fleet file under, in order:
/// `fleet.yml` is read only for loading's hint to rename it.
pub(crate) const FLEET_FILES: [&str; 2] = [flotilla_core::load::FLEET_FILE, "fleet.yml"];

/// The folders a reader walks for the fleet file `fleet_yaml` (its text;
/// empty when there is none): those it names
/// ([`flotilla_core::load::folders_named`]), less any inside another named
/// folder (read with it).
pub(crate) fn folders_to_read(fleet_yaml: &str) -> Vec<String> {
    let folders = flotilla_core::load::folders_named(fleet_yaml);
    folders
        .iter()
        .filter(|folder| {
            !folders
                .iter()
                .any(|other| folder.starts_with(&format!("{other}/")))
        })
        .cloned()
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_folder_inside_another_named_one_is_read_with_it() {
        let fleet = "spec:\n  bases: [{name: a, path: bases}, {name: b, path: bases/web}, {name: c, path: basesx}]\n";
        assert_eq!(folders_to_read(fleet), ["bases", "basesx", "clusters"]);
    }

    #[test]
    fn paths_join_and_hidden_names() {
        assert_eq!(join("", "a"), "a");
        assert_eq!(join("a", "b"), "a/b");
        assert!(is_hidden(".git") && !is_hidden("a.yaml"));
    }
}
