//! URL paths: which discovery document or resource a request addresses, and
//! the Kubernetes verb it amounts to.

use std::collections::HashMap;

/// A resource URL, e.g. `/apis/apps/v1/namespaces/ns/deployments/web/status`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct ResourcePath {
    pub group: String,
    pub version: String,
    pub plural: String,
    pub namespace: Option<String>,
    pub name: Option<String>,
    pub subresource: Option<String>,
}

/// What a path addresses.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Route {
    Version,
    /// `/api`
    Api,
    /// `/apis`
    Apis,
    /// `/apis/{group}`
    Group(String),
    /// `/api/{version}` or `/apis/{group}/{version}`
    GroupVersion(String, String),
    /// `/healthz`, `/readyz`, `/livez` (and sub-paths)
    Health,
    Resource(ResourcePath),
    /// `/openapi/v3` (`None`) or `/openapi/v3/<path>`
    OpenApiV3(Option<String>),
    Unknown,
}

/// Parses a URL path (already percent-decoded segments are not needed:
/// Kubernetes names never contain escapes).
pub(crate) fn parse(path: &str) -> Route {
    let segs: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    match segs.as_slice() {
        ["version"] => Route::Version,
        ["openapi", "v3"] => Route::OpenApiV3(None),
        ["openapi", "v3", rest @ ..] => Route::OpenApiV3(Some(rest.join("/"))),
        ["healthz" | "readyz" | "livez", ..] => Route::Health,
        ["api"] => Route::Api,
        ["apis"] => Route::Apis,
        ["apis", g] => Route::Group((*g).to_string()),
        ["api", v] => Route::GroupVersion(String::new(), (*v).to_string()),
        ["apis", g, v] => Route::GroupVersion((*g).to_string(), (*v).to_string()),
        ["api", v, rest @ ..] => resource("", v, rest),
        ["apis", g, v, rest @ ..] => resource(g, v, rest),
        _ => Route::Unknown,
    }
}

fn resource(group: &str, version: &str, rest: &[&str]) -> Route {
    let rp = |plural: &str, ns: Option<&str>, name: Option<&str>, sub: Option<&str>| {
        Route::Resource(ResourcePath {
            group: group.to_string(),
            version: version.to_string(),
            plural: plural.to_string(),
            namespace: ns.map(str::to_string),
            name: name.map(str::to_string),
            subresource: sub.map(str::to_string),
        })
    };
    // Subresources of the Namespace object itself.
    let ns_sub = |s: &str| group.is_empty() && matches!(s, "status" | "finalize");
    match rest {
        [r] => rp(r, None, None, None),
        [r, n] => rp(r, None, Some(n), None),
        ["namespaces", ns, s] if ns_sub(s) => rp("namespaces", None, Some(ns), Some(s)),
        ["namespaces", ns, r] => rp(r, Some(ns), None, None),
        [r, n, s] => rp(r, None, Some(n), Some(s)),
        ["namespaces", ns, r, n] => rp(r, Some(ns), Some(n), None),
        ["namespaces", ns, r, n, s] => rp(r, Some(ns), Some(n), Some(s)),
        _ => Route::Unknown,
    }
}

/// Parsed query parameters (first occurrence wins).
#[derive(Clone, Debug, Default)]
pub(crate) struct Query(HashMap<String, String>);

impl Query {
    pub(crate) fn parse(q: &str) -> Self {
        let mut m = HashMap::new();
        for (k, v) in form_urlencoded::parse(q.as_bytes()) {
            m.entry(k.into_owned()).or_insert_with(|| v.into_owned());
        }
        Query(m)
    }

    pub(crate) fn get(&self, k: &str) -> Option<&str> {
        self.0.get(k).map(String::as_str)
    }

    /// `true`/`1` → true (as the real server parses booleans).
    pub(crate) fn flag(&self, k: &str) -> bool {
        matches!(
            self.get(k),
            Some("true" | "1" | "True" | "TRUE" | "t" | "T")
        )
    }
}

/// The Kubernetes verb of a request.
pub(crate) fn verb(route: &Route, method: &str, q: &Query) -> &'static str {
    let Route::Resource(rp) = route else {
        return "get";
    };
    let collection = rp.name.is_none();
    match (method, collection) {
        ("GET", true) if q.flag("watch") => "watch",
        ("GET", true) => "list",
        ("GET", false) => "get",
        ("POST", _) => "create",
        ("PUT", _) => "update",
        ("PATCH", _) => "patch",
        ("DELETE", true) => "deletecollection",
        ("DELETE", false) => "delete",
        _ => "unknown",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn res(p: &str) -> ResourcePath {
        match parse(p) {
            Route::Resource(r) => r,
            other => panic!("{p}: {other:?}"),
        }
    }

    #[test]
    fn paths() {
        assert_eq!(parse("/api"), Route::Api);
        assert_eq!(
            parse("/apis/apps/v1"),
            Route::GroupVersion("apps".into(), "v1".into())
        );
        let r = res("/api/v1/namespaces/default/configmaps/x");
        assert_eq!(
            (r.plural.as_str(), r.namespace.as_deref(), r.name.as_deref()),
            ("configmaps", Some("default"), Some("x"))
        );
        let r = res("/api/v1/namespaces/default");
        assert_eq!(
            (r.plural.as_str(), r.name.as_deref()),
            ("namespaces", Some("default"))
        );
        let r = res("/api/v1/namespaces/default/status");
        assert_eq!(
            (
                r.plural.as_str(),
                r.name.as_deref(),
                r.subresource.as_deref()
            ),
            ("namespaces", Some("default"), Some("status"))
        );
        let r = res("/api/v1/namespaces/default/pods");
        assert_eq!(
            (r.plural.as_str(), r.namespace.as_deref(), r.name),
            ("pods", Some("default"), None)
        );
        let r = res("/apis/apps/v1/namespaces/a/deployments/web/status");
        assert_eq!(r.subresource.as_deref(), Some("status"));
        let r = res("/apis/example.com/v1/widgets");
        assert_eq!((r.plural.as_str(), r.namespace), ("widgets", None));
        assert_eq!(parse("/foo"), Route::Unknown);
    }

    #[test]
    fn verbs() {
        let q = Query::parse("watch=1&x=2");
        assert_eq!(verb(&parse("/api/v1/pods"), "GET", &q), "watch");
        assert_eq!(
            verb(&parse("/api/v1/pods"), "GET", &Query::default()),
            "list"
        );
        assert_eq!(
            verb(&parse("/api/v1/namespaces/a/pods/b"), "PATCH", &q),
            "patch"
        );
    }
}
