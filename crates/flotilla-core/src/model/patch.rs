//! Patch documents: what an overlay changes on objects already placed.

use globset::GlobMatcher;

use serde::Deserialize;

use super::fleet::{Origin, Template};
use super::object::group_of;
use crate::diagnostic::Diagnostic;
use serde_json::Value;

/// A parsed `flotilla.dev/v1alpha1` `Patch` document.
#[derive(Clone, Debug)]
pub struct Patch {
    /// Where it was read from.
    pub origin: Origin,
    /// The objects it changes.
    pub target: Target,
    /// What it does to them.
    pub action: PatchAction,
    /// Whether matching nothing is fine (otherwise an error).
    pub optional: bool,
    /// The document as parsed, kept when it holds `${...}` so the action can
    /// be rebuilt per cluster after substitution.
    pub template: Option<Template>,
}

/// What a patch does to each object it targets.
#[derive(Clone, Debug)]
pub enum PatchAction {
    /// An RFC 7386 JSON merge patch.
    Merge(Value),
    /// A Kubernetes strategic merge patch: lists merged by their merge keys
    /// for built-in kinds, RFC 7386 for other kinds
    /// ([`crate::render::strategic`]).
    StrategicMerge(Box<Value>),
    /// RFC 6902 operations.
    Json(json_patch::Patch),
    /// The object is not placed on the cluster.
    Delete,
}

/// Which objects a patch applies to.
#[derive(Clone, Debug)]
pub struct Target {
    /// The kind, matched exactly.
    pub kind: String,
    /// The name as written (a glob).
    pub name: String,
    /// Compiled form of `name`.
    pub name_matcher: NameMatcher,
    /// If given, the namespace must equal it.
    pub namespace: Option<String>,
    /// If given, the apiVersion must equal it.
    pub api_version: Option<String>,
    /// If given, the API group must equal it.
    pub group: Option<String>,
}

/// How a target's name is matched: most names are plain, and compiling a
/// glob (a regular expression) for each of tens of thousands of patches
/// costs far more time and memory than comparing text.
#[derive(Clone, Debug)]
pub enum NameMatcher {
    /// `*`: every name.
    Any,
    /// A name without glob characters, matched exactly.
    Exact(String),
    /// A glob of `*`, `?` and `[...]`, matched without a regex.
    Wildcard(super::wildcard::Wildcard),
    /// Any other glob (`{a,b}`, escapes), compiled by globset.
    Glob(GlobMatcher),
}

impl NameMatcher {
    /// The matcher of `pattern`; an error when it is not a valid glob.
    pub fn new(pattern: &str) -> Result<Self, globset::Error> {
        if pattern == "*" {
            return Ok(Self::Any);
        }
        if !pattern.contains(['*', '?', '[', ']', '{', '}', '\\']) {
            return Ok(Self::Exact(pattern.to_string()));
        }
        // globset checks the syntax (without compiling a regex) either way.
        let glob = globset::GlobBuilder::new(pattern)
            .literal_separator(false)
            .build()?;
        match super::wildcard::Wildcard::parse(pattern) {
            Some(w) => Ok(Self::Wildcard(w)),
            None => Ok(Self::Glob(glob.compile_matcher())),
        }
    }

    /// Whether `name` matches.
    pub fn is_match(&self, name: &str) -> bool {
        match self {
            Self::Any => true,
            Self::Exact(n) => n == name,
            Self::Wildcard(w) => w.is_match(name),
            Self::Glob(g) => g.is_match(name),
        }
    }
}

impl Target {
    /// Whether the target selects `object`.
    pub fn matches(&self, object: &Value) -> bool {
        let str_at = |ptr: &str| object.pointer(ptr).and_then(Value::as_str);
        let api_version = str_at("/apiVersion").unwrap_or("");
        str_at("/kind") == Some(self.kind.as_str())
            && str_at("/metadata/name").is_some_and(|n| self.name_matcher.is_match(n))
            && self
                .namespace
                .as_deref()
                .is_none_or(|ns| str_at("/metadata/namespace").unwrap_or("") == ns)
            && self.api_version.as_deref().is_none_or(|v| v == api_version)
            && self
                .group
                .as_deref()
                .is_none_or(|g| g == group_of(api_version))
    }
}

impl std::fmt::Display for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if let Some(v) = &self.api_version {
            write!(f, "{v} ")?;
        } else if let Some(g) = &self.group {
            write!(f, "{g} ")?;
        }
        write!(f, "{}", self.kind)?;
        match &self.namespace {
            Some(ns) => write!(f, " {ns}/{}", self.name),
            None => write!(f, " {}", self.name),
        }
    }
}

/// A `Patch` document as users write it.
#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct PatchSpec {
    #[allow(dead_code)]
    api_version: String,
    #[allow(dead_code)]
    kind: String,
    #[serde(default)]
    #[allow(dead_code)]
    metadata: Option<Value>,
    target: TargetSpec,
    merge: Option<Value>,
    strategic_merge: Option<Value>,
    json_patch: Option<json_patch::Patch>,
    #[serde(default)]
    delete: bool,
    #[serde(default)]
    optional: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct TargetSpec {
    kind: String,
    name: Option<String>,
    namespace: Option<String>,
    api_version: Option<String>,
    group: Option<String>,
}

/// Builds a patch from its parsed document, checking it has exactly one
/// action and a valid target.
pub fn build_patch(
    origin: Origin,
    spec: PatchSpec,
    template: Option<Template>,
) -> Result<Patch, Diagnostic> {
    let action = match (
        spec.merge,
        spec.strategic_merge,
        spec.json_patch,
        spec.delete,
    ) {
        (Some(m), None, None, false) => {
            if !m.is_object() {
                return Err(origin
                    .diagnostic("a merge patch must be a mapping of the fields to change")
                    .context("merge"));
            }
            PatchAction::Merge(m)
        }
        (None, Some(m), None, false) => {
            if !m.is_object() {
                return Err(origin
                    .diagnostic("a strategic merge patch must be a mapping of the fields to change")
                    .context("strategicMerge"));
            }
            // Applied recursively: keep it within the depth budget.
            let depth = super::budget::json_depth(&m);
            if depth > super::budget::MAX_DEPTH {
                return Err(origin
                    .diagnostic(format!(
                        "the patch nests {depth} levels deep; at most {} are allowed",
                        super::budget::MAX_DEPTH
                    ))
                    .context("strategicMerge"));
            }
            PatchAction::StrategicMerge(Box::new(m))
        }
        (None, None, Some(ops), false) => PatchAction::Json(ops),
        (None, None, None, true) => PatchAction::Delete,
        _ => {
            return Err(origin.diagnostic(
                "a Patch needs exactly one of merge, strategicMerge, jsonPatch or delete: true",
            ));
        }
    };
    let t = spec.target;
    if t.kind.is_empty() {
        return Err(origin
            .diagnostic("must not be empty")
            .context("target.kind"));
    }
    let name = t.name.unwrap_or_else(|| "*".to_string());
    let name_matcher = NameMatcher::new(&name).map_err(|e| {
        origin
            .diagnostic(format!("invalid glob: {e}"))
            .context("target.name")
    })?;
    Ok(Patch {
        origin,
        target: Target {
            kind: t.kind,
            name,
            name_matcher,
            namespace: t.namespace,
            api_version: t.api_version,
            group: t.group,
        },
        action,
        optional: spec.optional,
        template,
    })
}

/// Rebuilds a patch from its document after `${...}` substitution.
pub fn rebuild_patch(patch: &Patch, value: Value) -> Result<Patch, Diagnostic> {
    let spec: PatchSpec = serde_json::from_value(value)
        .map_err(|e| patch.origin.diagnostic(format!("after substitution: {e}")))?;
    build_patch(patch.origin.clone(), spec, None)
}
