//! Label selectors (`labelSelector=`) and field selectors (`fieldSelector=`)
//! in the string syntax of `k8s.io/apimachinery/pkg/labels` and `.../fields`.

use serde_json::{Map, Value};

use crate::meta::get_path;

/// One label requirement.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Requirement {
    Exists(String),
    NotExists(String),
    Equals(String, String),
    NotEquals(String, String),
    In(String, Vec<String>),
    NotIn(String, Vec<String>),
    GreaterThan(String, i64),
    LessThan(String, i64),
}

/// A parsed label selector: all requirements must hold.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct LabelSelector {
    reqs: Vec<Requirement>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Tok {
    Ident(String),
    Not,      // !
    Eq,       // =
    DoubleEq, // ==
    NotEq,    // !=
    Gt,       // >
    Lt,       // <
    Comma,    // ,
    Open,     // (
    Close,    // )
}

fn is_ident_char(c: char) -> bool {
    !c.is_whitespace() && !matches!(c, '!' | '=' | '>' | '<' | ',' | '(' | ')')
}

fn lex(s: &str) -> Vec<Tok> {
    let chars: Vec<char> = s.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        match c {
            c if c.is_whitespace() => i += 1,
            '!' if chars.get(i + 1) == Some(&'=') => {
                out.push(Tok::NotEq);
                i += 2;
            }
            '!' => {
                out.push(Tok::Not);
                i += 1;
            }
            '=' if chars.get(i + 1) == Some(&'=') => {
                out.push(Tok::DoubleEq);
                i += 2;
            }
            '=' => {
                out.push(Tok::Eq);
                i += 1;
            }
            '>' => {
                out.push(Tok::Gt);
                i += 1;
            }
            '<' => {
                out.push(Tok::Lt);
                i += 1;
            }
            ',' => {
                out.push(Tok::Comma);
                i += 1;
            }
            '(' => {
                out.push(Tok::Open);
                i += 1;
            }
            ')' => {
                out.push(Tok::Close);
                i += 1;
            }
            _ => {
                let start = i;
                while i < chars.len() && is_ident_char(chars[i]) {
                    i += 1;
                }
                out.push(Tok::Ident(chars[start..i].iter().collect()));
            }
        }
    }
    out
}

/// The real parser's message (`unable to parse requirement: <why>`).
fn err(_sel: &str, why: &str) -> String {
    format!("unable to parse requirement: {why}")
}

impl LabelSelector {
    /// Parses `a=b,c!=d,e in (f,g),!h,i`.
    pub(crate) fn parse(sel: &str) -> Result<Self, String> {
        let toks = lex(sel);
        let mut reqs = Vec::new();
        let mut i = 0;
        if toks.is_empty() {
            return Ok(LabelSelector::default());
        }
        // Bounded: every iteration consumes at least one token or returns.
        while i < toks.len() {
            let req = match &toks[i] {
                Tok::Not => {
                    let Some(Tok::Ident(k)) = toks.get(i + 1) else {
                        return Err(err(sel, "found '!', expected: identifier"));
                    };
                    validate_key(sel, k)?;
                    i += 2;
                    Requirement::NotExists(k.clone())
                }
                Tok::Ident(k) => {
                    validate_key(sel, k)?;
                    let key = k.clone();
                    i += 1;
                    match toks.get(i) {
                        None | Some(Tok::Comma) => Requirement::Exists(key),
                        Some(Tok::Eq) | Some(Tok::DoubleEq) | Some(Tok::NotEq) => {
                            let neg = toks[i] == Tok::NotEq;
                            i += 1;
                            let value = match toks.get(i) {
                                Some(Tok::Ident(v)) => {
                                    i += 1;
                                    v.clone()
                                }
                                None | Some(Tok::Comma) => String::new(),
                                Some(_) => return Err(err(sel, "expected a value")),
                            };
                            validate_value(sel, &value)?;
                            if neg {
                                Requirement::NotEquals(key, value)
                            } else {
                                Requirement::Equals(key, value)
                            }
                        }
                        Some(Tok::Gt) | Some(Tok::Lt) => {
                            let gt = toks[i] == Tok::Gt;
                            i += 1;
                            let Some(Tok::Ident(v)) = toks.get(i) else {
                                return Err(err(sel, "expected an integer"));
                            };
                            let n: i64 = v.parse().map_err(|_| {
                                err(sel, &format!("for 'Gt', 'Lt' operators, the value must be an integer: {v}"))
                            })?;
                            i += 1;
                            if gt {
                                Requirement::GreaterThan(key, n)
                            } else {
                                Requirement::LessThan(key, n)
                            }
                        }
                        Some(Tok::Ident(op)) if op == "in" || op == "notin" => {
                            let notin = op == "notin";
                            i += 1;
                            if toks.get(i) != Some(&Tok::Open) {
                                return Err(err(sel, "found end of string, expected: '('"));
                            }
                            i += 1;
                            let mut values = Vec::new();
                            loop {
                                match toks.get(i) {
                                    Some(Tok::Ident(v)) => {
                                        validate_value(sel, v)?;
                                        values.push(v.clone());
                                        i += 1;
                                    }
                                    Some(Tok::Comma) => {
                                        // an empty value between commas
                                        values.push(String::new());
                                    }
                                    Some(Tok::Close) => {
                                        values.push(String::new());
                                    }
                                    None => {
                                        return Err(err(
                                            sel,
                                            "found '', expected: ',', ')' or identifier",
                                        ));
                                    }
                                    _ => return Err(err(sel, "expected a value or ')'")),
                                }
                                match toks.get(i) {
                                    Some(Tok::Comma) => i += 1,
                                    Some(Tok::Close) => {
                                        i += 1;
                                        break;
                                    }
                                    _ => return Err(err(sel, "expected ',' or ')'")),
                                }
                            }
                            // `(a)` parsed via the Close arm pushes a spurious
                            // empty string only when the set was `()`.
                            if values.len() == 1 && values[0].is_empty() {
                                return Err(err(
                                    sel,
                                    "for 'in', 'notin' operators, values set can't be empty",
                                ));
                            }
                            if notin {
                                Requirement::NotIn(key, values)
                            } else {
                                Requirement::In(key, values)
                            }
                        }
                        Some(t) => return Err(err(sel, &format!("unexpected token {t:?}"))),
                    }
                }
                t => return Err(err(sel, &format!("unexpected token {t:?}"))),
            };
            reqs.push(req);
            match toks.get(i) {
                None => break,
                Some(Tok::Comma) => {
                    i += 1;
                    if i >= toks.len() {
                        return Err(err(sel, "found ',', expected: identifier"));
                    }
                }
                Some(t) => return Err(err(sel, &format!("unexpected token {t:?}"))),
            }
        }
        Ok(LabelSelector { reqs })
    }

    /// Whether `labels` satisfy every requirement.
    pub(crate) fn matches(&self, labels: &Map<String, Value>) -> bool {
        let get = |k: &str| labels.get(k).and_then(Value::as_str);
        self.reqs.iter().all(|r| match r {
            Requirement::Exists(k) => labels.contains_key(k),
            Requirement::NotExists(k) => !labels.contains_key(k),
            Requirement::Equals(k, v) => get(k) == Some(v.as_str()),
            Requirement::NotEquals(k, v) => get(k) != Some(v.as_str()),
            Requirement::In(k, vs) => get(k).is_some_and(|x| vs.iter().any(|v| v == x)),
            Requirement::NotIn(k, vs) => !get(k).is_some_and(|x| vs.iter().any(|v| v == x)),
            Requirement::GreaterThan(k, n) => get(k)
                .and_then(|x| x.parse::<i64>().ok())
                .is_some_and(|x| x > *n),
            Requirement::LessThan(k, n) => get(k)
                .and_then(|x| x.parse::<i64>().ok())
                .is_some_and(|x| x < *n),
        })
    }

    /// A selector built from a `metav1.LabelSelector` object
    /// (`matchLabels` + `matchExpressions`).
    pub(crate) fn from_object(sel: &Value) -> Result<Self, String> {
        let mut reqs = Vec::new();
        if let Some(ml) = sel.get("matchLabels").and_then(Value::as_object) {
            for (k, v) in ml {
                reqs.push(Requirement::Equals(
                    k.clone(),
                    v.as_str().unwrap_or_default().to_string(),
                ));
            }
        }
        if let Some(exprs) = sel.get("matchExpressions").and_then(Value::as_array) {
            for e in exprs {
                let key = e
                    .get("key")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_string();
                let values: Vec<String> = e
                    .get("values")
                    .and_then(Value::as_array)
                    .map(|a| {
                        a.iter()
                            .filter_map(Value::as_str)
                            .map(str::to_string)
                            .collect()
                    })
                    .unwrap_or_default();
                let op = e
                    .get("operator")
                    .and_then(Value::as_str)
                    .unwrap_or_default();
                reqs.push(match op {
                    "In" => Requirement::In(key, values),
                    "NotIn" => Requirement::NotIn(key, values),
                    "Exists" => Requirement::Exists(key),
                    "DoesNotExist" => Requirement::NotExists(key),
                    other => {
                        return Err(format!("{other:?} is not a valid label selector operator"));
                    }
                });
            }
        }
        Ok(LabelSelector { reqs })
    }
}

fn validate_key(sel: &str, k: &str) -> Result<(), String> {
    if crate::validation::qualified_name_errors(k).is_empty() {
        Ok(())
    } else {
        Err(err(sel, &format!("invalid label key {k:?}")))
    }
}

fn validate_value(sel: &str, v: &str) -> Result<(), String> {
    if crate::validation::label_value_errors(v).is_empty() {
        Ok(())
    } else {
        Err(err(sel, &format!("invalid label value: {v:?}")))
    }
}

/// One field requirement.
#[derive(Clone, Debug, PartialEq, Eq)]
struct FieldReq {
    field: String,
    value: String,
    negate: bool,
}

/// A parsed field selector: all requirements must hold.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct FieldSelector {
    reqs: Vec<FieldReq>,
    group: String,
    kind: String,
}

/// Field selectors every kind supports (the scheme's default conversion).
const COMMON_FIELDS: &[&str] = &["metadata.name", "metadata.namespace"];

/// Fields of core/v1 Event (`AddFieldLabelConversionsForEvent`).
const EVENT_FIELDS: &[&str] = &[
    "involvedObject.kind",
    "involvedObject.namespace",
    "involvedObject.name",
    "involvedObject.uid",
    "involvedObject.apiVersion",
    "involvedObject.resourceVersion",
    "involvedObject.fieldPath",
    "reason",
    "reportingComponent",
    "source",
    "type",
    "metadata.namespace",
    "metadata.name",
];

/// The complete field list of a kind whose registry installs its own
/// field-label conversion (an unknown field is then "field label not
/// supported: X"), or `None` for the scheme's default conversion.
fn converted_fields(group: &str, kind: &str) -> Option<&'static [&'static str]> {
    match (group, kind) {
        ("", "Event") => Some(EVENT_FIELDS),
        _ => None,
    }
}

/// Extra field selectors per (group, kind), as the real registries define.
fn extra_fields(group: &str, kind: &str) -> &'static [&'static str] {
    match (group, kind) {
        ("", "Secret") => &["type"],
        ("", "Namespace") => &["status.phase"],
        ("", "Pod") => &[
            "spec.nodeName",
            "spec.restartPolicy",
            "spec.schedulerName",
            "spec.serviceAccountName",
            "spec.hostNetwork",
            "status.phase",
            "status.podIP",
            "status.nominatedNodeName",
        ],
        ("batch", "Job") => &["status.successful"],
        _ => &[],
    }
}

/// The value a field selector compares for `field` of a (group, kind)
/// object, as the registry's `GetAttrs` computes it. Missing fields are "".
fn field_value(group: &str, kind: &str, obj: &Value, field: &str) -> String {
    let at = |path: &str| -> String {
        let path: Vec<&str> = path.split('.').collect();
        match get_path(obj, &path) {
            Some(Value::String(s)) => s.clone(),
            Some(Value::Null) | None => String::new(),
            Some(other) => other.to_string(),
        }
    };
    match (group, kind, field) {
        // `source` is `source.component`, else the reporting controller.
        ("", "Event", "source") => {
            let component = at("source.component");
            if component.is_empty() {
                at("reportingComponent")
            } else {
                component
            }
        }
        _ => at(field),
    }
}

/// Splits on unescaped `sep`, keeping escapes for a later unescape.
fn split_unescaped(s: &str, sep: char) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut escaped = false;
    for c in s.chars() {
        if escaped {
            cur.push('\\');
            cur.push(c);
            escaped = false;
        } else if c == '\\' {
            escaped = true;
        } else if c == sep {
            out.push(std::mem::take(&mut cur));
        } else {
            cur.push(c);
        }
    }
    out.push(cur);
    out
}

fn unescape(s: &str) -> String {
    let mut out = String::new();
    let mut escaped = false;
    for c in s.chars() {
        if escaped {
            out.push(c);
            escaped = false;
        } else if c == '\\' {
            escaped = true;
        } else {
            out.push(c);
        }
    }
    out
}

impl FieldSelector {
    /// Parses `metadata.name=x,metadata.namespace!=y` and checks each field is
    /// supported for (group, kind).
    pub(crate) fn parse(sel: &str, group: &str, kind: &str) -> Result<Self, String> {
        let mut reqs = Vec::new();
        if sel.trim().is_empty() {
            return Ok(FieldSelector::default());
        }
        for part in split_unescaped(sel, ',') {
            let part = part.trim();
            let (field, value, negate) = if let Some((f, v)) = part.split_once("!=") {
                (f, v, true)
            } else if let Some((f, v)) = part.split_once("==") {
                (f, v, false)
            } else if let Some((f, v)) = part.split_once('=') {
                (f, v, false)
            } else {
                return Err(format!(
                    "invalid selector: '{sel}'; can't understand '{part}'"
                ));
            };
            let field = field.trim().to_string();
            if let Some(fields) = converted_fields(group, kind) {
                if !fields.contains(&field.as_str()) {
                    return Err(format!("field label not supported: {field}"));
                }
            } else if !COMMON_FIELDS.contains(&field.as_str())
                && !extra_fields(group, kind).contains(&field.as_str())
            {
                let extra = extra_fields(group, kind);
                let mut supported: Vec<String> =
                    COMMON_FIELDS.iter().map(|f| format!("{f:?}")).collect();
                supported.extend(extra.iter().map(|f| format!("{f:?}")));
                return Err(format!(
                    "{field:?} is not a known field selector: only {}",
                    supported.join(", ")
                ));
            }
            reqs.push(FieldReq {
                field,
                value: unescape(value.trim()),
                negate,
            });
        }
        Ok(FieldSelector {
            reqs,
            group: group.to_string(),
            kind: kind.to_string(),
        })
    }

    /// Whether `obj` satisfies every requirement. Missing fields compare as "".
    pub(crate) fn matches(&self, obj: &Value) -> bool {
        self.reqs.iter().all(|r| {
            let actual = field_value(&self.group, &self.kind, obj, &r.field);
            (actual == r.value) != r.negate
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn labels(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn parses_all_operators() {
        let l = labels(json!({"app": "web", "tier": "front", "n": "5"}));
        let t = |s: &str| LabelSelector::parse(s).unwrap().matches(&l);
        assert!(t("app=web"));
        assert!(t("app==web"));
        assert!(!t("app!=web"));
        assert!(t("app in (web, api)"));
        assert!(!t("app notin (web,api)"));
        assert!(t("tier"));
        assert!(t("!missing"));
        assert!(!t("!app"));
        assert!(t("app=web,tier in (front),!x"));
        assert!(t("n>4"));
        assert!(!t("n<5"));
        assert!(t(""));
        assert!(t("missing!=x"));
        assert!(t("missing notin (x)"));
    }

    #[test]
    fn rejects_garbage() {
        assert!(LabelSelector::parse("app in web").is_err());
        assert!(LabelSelector::parse("a=b,").is_err());
        assert!(LabelSelector::parse("=b").is_err());
        assert!(LabelSelector::parse("a in ()").is_err());
    }

    #[test]
    fn field_selectors() {
        let obj = json!({"metadata": {"name": "a", "namespace": "ns"}, "type": "Opaque"});
        let f =
            FieldSelector::parse("metadata.name=a,metadata.namespace!=x", "", "ConfigMap").unwrap();
        assert!(f.matches(&obj));
        let f = FieldSelector::parse("metadata.name==b", "", "ConfigMap").unwrap();
        assert!(!f.matches(&obj));
        assert!(FieldSelector::parse("spec.foo=1", "", "ConfigMap").is_err());
        assert!(
            FieldSelector::parse("type=Opaque", "", "Secret")
                .unwrap()
                .matches(&obj)
        );
    }

    #[test]
    fn event_field_selectors() {
        let ev = json!({
            "metadata": {"name": "web.1", "namespace": "app"},
            "involvedObject": {"kind": "Deployment", "name": "web", "namespace": "app"},
            "reason": "ProgressDeadlineExceeded",
            "type": "Warning",
            "reportingComponent": "deployment-controller",
        });
        let t = |s: &str| FieldSelector::parse(s, "", "Event").unwrap().matches(&ev);
        assert!(t("involvedObject.kind=Deployment,involvedObject.name=web"));
        assert!(t(
            "involvedObject.kind==Deployment,involvedObject.namespace=app"
        ));
        assert!(!t(
            "involvedObject.kind=Deployment,involvedObject.name!=web"
        ));
        assert!(!t("involvedObject.kind=Pod"));
        assert!(t("metadata.name=web.1,metadata.namespace=app,type=Warning"));
        // `source` falls back to the reporting controller.
        assert!(t(
            "source=deployment-controller,reportingComponent=deployment-controller"
        ));
        assert!(t("involvedObject.uid="));
        assert_eq!(
            FieldSelector::parse("involvedObject.name=web,spec.x=1", "", "Event").unwrap_err(),
            "field label not supported: spec.x"
        );
        // Event fields are not fields of other kinds.
        assert!(FieldSelector::parse("involvedObject.name=web", "", "ConfigMap").is_err());
    }
}
