//! Reading Kubernetes objects (as JSON) in assertions.

use serde_json::Value;

/// The resource (plural) name of a kind, by the rules Kubernetes' own
/// kinds and the ones used here follow.
pub fn plural(kind: &str) -> String {
    let lower = kind.to_lowercase();
    if let Some(stem) = lower.strip_suffix('y')
        && !stem.ends_with(['a', 'e', 'i', 'o', 'u'])
    {
        format!("{stem}ies")
    } else if lower.ends_with('s') {
        format!("{lower}es")
    } else {
        format!("{lower}s")
    }
}

/// An object's `metadata.resourceVersion` (empty when absent).
pub fn resource_version(v: &Value) -> String {
    v["metadata"]["resourceVersion"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}
