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

/// The repository-relative path a symlink in folder `dir` with target `target`
/// points at, or `None` when it leaves the repository (absolute, or too many `..`).
pub(crate) fn resolve_link(dir: &str, target: &str) -> Option<String> {
    if target.starts_with('/') || target.starts_with('\\') || target.contains(':') {
        return None;
    }
    let mut parts: Vec<&str> = dir.split('/').filter(|s| !s.is_empty()).collect();
    for segment in target.split(['/', '\\']) {
        match segment {
            "" | "." => {}
            ".." => {
                parts.pop()?;
            }
            s => parts.push(s),
        }
    }
    Some(parts.join("/"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_resolve_inside_and_are_refused_outside() {
        assert_eq!(
            resolve_link("a/b", "../c/d.yaml").as_deref(),
            Some("a/c/d.yaml")
        );
        assert_eq!(resolve_link("", "./x").as_deref(), Some("x"));
        assert_eq!(resolve_link("a", "..").as_deref(), Some(""));
        assert_eq!(resolve_link("a", "../../x"), None);
        assert_eq!(resolve_link("a", "/etc/passwd"), None);
        assert_eq!(join("", "a"), "a");
        assert_eq!(join("a", "b"), "a/b");
        assert!(is_hidden(".git") && !is_hidden("a.yaml"));
    }
}
