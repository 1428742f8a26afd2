//! The identity rules of Kubernetes objects, checked as a real API server
//! would before anything uses an object, and the safe file names derived
//! from an object's identity for directory targets and `render --out`.
//!
//! Rules (apimachinery's `validation` package):
//!
//! | field | rule |
//! | --- | --- |
//! | `apiVersion` | `[group/]version`: group a DNS-1123 subdomain, version a DNS-1123 label (`v1`, `v1beta1`) |
//! | `kind` | starts with a letter, letters and digits only, at most 63 characters |
//! | `metadata.namespace` | DNS-1123 label (at most 63) |
//! | `metadata.name` | by kind, see [`NAME_RULES`]; any other kind (custom resources too): DNS-1123 subdomain (at most 253) |

use serde_json::Value;

use super::object::ObjectKey;

/// How the API server validates `metadata.name` for a kind.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NameRule {
    /// Lower-case alphanumerics, `-` and `.`, alphanumeric at both ends, at most 253.
    Dns1123Subdomain,
    /// Lower-case alphanumerics and `-`, alphanumeric at both ends, at most 63.
    Dns1123Label,
    /// A DNS-1123 label that starts with a letter.
    Dns1035Label,
    /// Any text that is a path segment: no `/` or `%`, not `.` or `..`.
    PathSegment,
}

/// The kinds whose name rule is not [`NameRule::Dns1123Subdomain`], as
/// `(group, kind, rule)`.
pub const NAME_RULES: &[(&str, &str, NameRule)] = &[
    ("", "Namespace", NameRule::Dns1123Label),
    ("", "Service", NameRule::Dns1035Label),
    ("rbac.authorization.k8s.io", "Role", NameRule::PathSegment),
    (
        "rbac.authorization.k8s.io",
        "ClusterRole",
        NameRule::PathSegment,
    ),
    (
        "rbac.authorization.k8s.io",
        "RoleBinding",
        NameRule::PathSegment,
    ),
    (
        "rbac.authorization.k8s.io",
        "ClusterRoleBinding",
        NameRule::PathSegment,
    ),
];

/// The name rule of `kind` in `group`.
pub fn name_rule(group: &str, kind: &str) -> NameRule {
    NAME_RULES
        .iter()
        .find(|(g, k, _)| *g == group && *k == kind)
        .map_or(NameRule::Dns1123Subdomain, |(_, _, r)| *r)
}

/// Whether `s` is a DNS-1123 label.
pub fn is_dns1123_label(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b.len() <= 63
        && b.iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
        && b[0] != b'-'
        && b[b.len() - 1] != b'-'
}

/// Whether `s` is a DNS-1123 subdomain: dot-separated DNS-1123 labels, at
/// most 253 characters.
pub fn is_dns1123_subdomain(s: &str) -> bool {
    !s.is_empty() && s.len() <= 253 && s.split('.').all(is_dns1123_label)
}

fn is_path_segment(s: &str) -> bool {
    !s.is_empty() && s != "." && s != ".." && !s.contains(['/', '%'])
}

fn check_name(rule: NameRule, name: &str) -> Result<(), String> {
    let (ok, what) = match rule {
        NameRule::Dns1123Subdomain => (
            is_dns1123_subdomain(name),
            "a DNS-1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (at most 253 characters)",
        ),
        NameRule::Dns1123Label => (
            is_dns1123_label(name),
            "a DNS-1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (at most 63 characters)",
        ),
        NameRule::Dns1035Label => (
            is_dns1123_label(name) && name.as_bytes()[0].is_ascii_lowercase(),
            "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with a letter and end with an alphanumeric character (at most 63 characters)",
        ),
        NameRule::PathSegment => (
            is_path_segment(name),
            "may not be '.' or '..' and may not contain '/' or '%'",
        ),
    };
    if ok {
        Ok(())
    } else {
        Err(format!("invalid name {}: {what}", shown(name)))
    }
}

/// A value quoted for a message, cut to a readable length.
fn shown(s: &str) -> String {
    const MAX: usize = 80;
    if s.len() <= MAX {
        format!("{s:?}")
    } else {
        let mut end = MAX;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        format!("{:?}... ({} bytes)", &s[..end], s.len())
    }
}

/// Checks `apiVersion`: `[group/]version`.
pub fn check_api_version(api_version: &str) -> Result<(), String> {
    let (group, version) = match api_version.split_once('/') {
        Some((g, v)) => (Some(g), v),
        None => (None, api_version),
    };
    let bad = |why: &str| Err(format!("invalid apiVersion {}: {why}", shown(api_version)));
    if let Some(g) = group
        && !is_dns1123_subdomain(g)
    {
        return bad(
            "the group must be a DNS-1123 subdomain (lower case alphanumeric characters, '-' or '.', e.g. apps or example.com), written group/version",
        );
    }
    if !is_dns1123_label(version) {
        return bad(
            "the version must be a DNS-1123 label such as v1 or v1beta1, written [group/]version",
        );
    }
    Ok(())
}

/// Checks `kind`.
pub fn check_kind(kind: &str) -> Result<(), String> {
    let b = kind.as_bytes();
    if !b.is_empty()
        && b.len() <= 63
        && b[0].is_ascii_alphabetic()
        && b.iter().all(u8::is_ascii_alphanumeric)
    {
        Ok(())
    } else {
        Err(format!(
            "invalid kind {}: a kind starts with a letter and holds only letters and digits (at most 63 characters)",
            shown(kind)
        ))
    }
}

/// Checks `metadata.namespace`.
pub fn check_namespace(namespace: &str) -> Result<(), String> {
    if is_dns1123_label(namespace) {
        Ok(())
    } else {
        Err(format!(
            "invalid namespace {}: a DNS-1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (at most 63 characters)",
            shown(namespace)
        ))
    }
}

/// One identity field that breaks the rules.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InvalidField {
    /// `apiVersion`, `kind`, `metadata.name` or `metadata.namespace`.
    pub field: &'static str,
    /// What is wrong, quoting the value.
    pub message: String,
}

/// Checks the identity fields of `object` (those present and strings; a
/// missing one is reported elsewhere). With `templated`, a value still
/// holding `${` is skipped: it is checked after substitution, at render.
pub fn check_object_identity(object: &Value, templated: bool) -> Vec<InvalidField> {
    let mut out = Vec::new();
    let get = |p: &str| object.pointer(p).and_then(Value::as_str);
    let skip = |s: &str| templated && s.contains("${");
    let mut push = |field: &'static str, r: Result<(), String>| {
        if let Err(message) = r {
            out.push(InvalidField { field, message });
        }
    };
    let api_version = get("/apiVersion").filter(|s| !skip(s));
    let kind = get("/kind").filter(|s| !skip(s));
    if let Some(v) = api_version {
        push("apiVersion", check_api_version(v));
    }
    if let Some(k) = kind {
        push("kind", check_kind(k));
    }
    if let Some(ns) = get("/metadata/namespace").filter(|s| !skip(s)) {
        push("metadata.namespace", check_namespace(ns));
    }
    if let Some(name) = get("/metadata/name").filter(|s| !skip(s)) {
        // Without a known group and kind, the most lenient rule of the
        // table applies here; the full check runs at render.
        let rule = match (api_version, kind) {
            (Some(v), Some(k)) => name_rule(super::object::group_of(v), k),
            _ => NameRule::PathSegment,
        };
        push("metadata.name", check_name(rule, name));
    }
    out
}

/// The longest file name (in bytes, extension included) written for an
/// object; longer ones are cut and end in a hash of the whole name.
pub const MAX_FILE_NAME: usize = 200;

/// Appends `part` to `out` with every byte outside `[A-Za-z0-9.-]` (and a
/// leading `.`) written as `%XX`, so that the result is a single, non-hidden
/// path component and different parts never give the same text.
fn escape_into(out: &mut String, part: &str) {
    for (i, b) in part.bytes().enumerate() {
        let plain = b.is_ascii_alphanumeric() || b == b'-' || (b == b'.' && i > 0);
        if plain {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
}

/// The file name of the object `key` in a folder of manifests:
/// `<group>_<kind>_<namespace>_<name>.<ext>` (`core` for the core group,
/// the kind in lower case, an empty namespace for cluster-scoped objects).
/// Every byte outside `[A-Za-z0-9.-]` is escaped as `%XX` (valid names
/// have none), so the name is always one path component, never `.` or
/// `..`, never hidden; a name longer than [`MAX_FILE_NAME`] bytes is cut
/// and ends in `~` and 16 hex digits of the SHA-1 of the whole name.
pub fn safe_file_name(key: &ObjectKey, ext: &str) -> String {
    let group = if key.group.is_empty() {
        "core"
    } else {
        &key.group
    };
    let mut stem = String::new();
    escape_into(&mut stem, group);
    stem.push('_');
    escape_into(&mut stem, &key.kind.to_lowercase());
    stem.push('_');
    escape_into(&mut stem, &key.namespace);
    stem.push('_');
    escape_into(&mut stem, &key.name);
    let mut ext_part = String::from(".");
    escape_into(&mut ext_part, ext);
    if stem.len() + ext_part.len() <= MAX_FILE_NAME {
        return stem + &ext_part;
    }
    let hash = crate::digest::sha1_hex(stem.as_bytes());
    let keep = MAX_FILE_NAME - ext_part.len() - 17;
    // Only ASCII is left after escaping, so any cut is a char boundary.
    format!("{}~{}{}", &stem[..keep], &hash[..16], ext_part)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn key(group: &str, kind: &str, ns: &str, name: &str) -> ObjectKey {
        ObjectKey {
            group: group.into(),
            kind: kind.into(),
            namespace: ns.into(),
            name: name.into(),
        }
    }

    #[test]
    fn valid_names_keep_their_file_name() {
        assert_eq!(
            safe_file_name(&key("apps", "Deployment", "shop", "web"), "yaml"),
            "apps_deployment_shop_web.yaml"
        );
        assert_eq!(
            safe_file_name(&key("", "Namespace", "", "shop"), "json"),
            "core_namespace__shop.json"
        );
    }

    #[test]
    fn hostile_parts_never_leave_the_folder() {
        for (g, k, ns, n) in [
            ("/abs/path", "x", "", "y"),
            ("../../x", "Kind", "..", ".."),
            ("", "a/b", "c/../d", "."),
            (".", "", "", ""),
            ("a_b", "c", "", "d"),
        ] {
            let f = safe_file_name(&key(g, k, ns, n), "yaml");
            assert!(!f.contains('/') && !f.starts_with('.'), "{f}");
            assert!(f != "." && f != "..", "{f}");
        }
        // `_` inside a part is escaped, so parts never run together.
        assert_ne!(
            safe_file_name(&key("a_b", "c", "", "d"), "yaml"),
            safe_file_name(&key("a", "b_c", "", "d"), "yaml")
        );
    }

    #[test]
    fn long_names_are_cut_with_a_hash() {
        let long = "a".repeat(250);
        let f = safe_file_name(&key("", "ConfigMap", "shop", &long), "yaml");
        assert_eq!(f.len(), MAX_FILE_NAME);
        assert!(f.ends_with(".yaml") && f.contains('~'), "{f}");
        let other = safe_file_name(&key("", "ConfigMap", "shop", &"a".repeat(251)), "yaml");
        assert_ne!(f, other);
    }

    #[test]
    fn identity_is_checked_as_the_api_server_does() {
        let bad = json!({"apiVersion": "../../x/v1", "kind": "Config/Map",
            "metadata": {"name": "../x", "namespace": "a/b"}});
        let fields: Vec<_> = check_object_identity(&bad, false)
            .into_iter()
            .map(|i| i.field)
            .collect();
        assert_eq!(
            fields,
            ["apiVersion", "kind", "metadata.namespace", "metadata.name"]
        );
        for v in ["v1", "apps/v1", "example.com/v1beta1"] {
            assert!(check_api_version(v).is_ok(), "{v}");
        }
        for v in ["/abs/path/v1", "a/b/v1", "Apps/v1", "apps/", "apps/V1", ""] {
            assert!(check_api_version(v).is_err(), "{v}");
        }
        assert!(check_name(NameRule::PathSegment, "system:controller:x").is_ok());
        assert!(check_name(NameRule::PathSegment, "..").is_err());
        assert!(check_name(NameRule::Dns1035Label, "1web").is_err());
        assert!(check_name(NameRule::Dns1123Subdomain, &"a".repeat(254)).is_err());
        let templated = json!({"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "web-${cluster.name}"}});
        assert!(check_object_identity(&templated, true).is_empty());
        assert_eq!(check_object_identity(&templated, false).len(), 1);
    }
}
