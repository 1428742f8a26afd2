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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_join_and_hidden_names() {
        assert_eq!(join("", "a"), "a");
        assert_eq!(join("a", "b"), "a/b");
        assert!(is_hidden(".git") && !is_hidden("a.yaml"));
    }
}
