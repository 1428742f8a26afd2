//! `${cluster.name}` and `${cluster.labels.<key>}` substitution.
//!
//! Substitution works on parsed values, inside strings (map keys included):
//! a substituted value is always a string, comments are never touched, and
//! no label value can change a document's structure. `$${` is a literal `${`.

use serde_json::{Map, Value};

use crate::model::Cluster;

/// A substitution that failed: the JSON pointer of the string it was in and
/// the problem.
#[derive(Debug, PartialEq, Eq)]
pub struct SubstError {
    /// JSON pointer to the value (or key) holding the bad variable.
    pub pointer: String,
    /// What went wrong, naming the variable.
    pub message: String,
}

/// Returns `value` with every variable expanded for `cluster`.
pub fn substitute(value: &Value, cluster: &Cluster) -> Result<Value, SubstError> {
    walk(value, cluster, &mut Vec::new())
}

/// One step of the path to the value being expanded: the JSON pointer is
/// only spelled out when a substitution fails.
enum Step<'a> {
    Key(&'a str),
    Index(usize),
}

fn pointer(path: &[Step<'_>]) -> String {
    let mut out = String::new();
    for step in path {
        out.push('/');
        match step {
            Step::Key(k) => out.push_str(&k.replace('~', "~0").replace('/', "~1")),
            Step::Index(i) => out.push_str(&i.to_string()),
        }
    }
    out
}

fn walk<'a>(
    value: &'a Value,
    cluster: &Cluster,
    path: &mut Vec<Step<'a>>,
) -> Result<Value, SubstError> {
    Ok(match value {
        Value::String(s) => Value::String(expand(s, cluster).map_err(|message| SubstError {
            pointer: pointer(path),
            message,
        })?),
        Value::Array(items) => {
            let mut out = Vec::with_capacity(items.len());
            for (i, item) in items.iter().enumerate() {
                path.push(Step::Index(i));
                out.push(walk(item, cluster, path)?);
                path.pop();
            }
            Value::Array(out)
        }
        Value::Object(map) => {
            let mut out = Map::with_capacity(map.len());
            for (k, v) in map {
                path.push(Step::Key(k));
                let key = expand(k, cluster).map_err(|message| SubstError {
                    pointer: pointer(path),
                    message,
                })?;
                out.insert(key, walk(v, cluster, path)?);
                path.pop();
            }
            Value::Object(out)
        }
        other => other.clone(),
    })
}

/// Expands the variables of one string.
pub fn expand(s: &str, cluster: &Cluster) -> Result<String, String> {
    if !s.contains("${") {
        return Ok(s.to_string());
    }
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(pos) = rest.find('$') {
        out.push_str(&rest[..pos]);
        let tail = &rest[pos..];
        if let Some(after) = tail.strip_prefix("$${") {
            out.push_str("${");
            rest = after;
        } else if let Some(after) = tail.strip_prefix("${") {
            let end = after
                .find('}')
                .ok_or_else(|| format!("unclosed variable {tail:?}: a ${{ needs a closing }} (write $${{ for a literal ${{)"))?;
            out.push_str(&lookup(&after[..end], cluster)?);
            rest = &after[end + 1..];
        } else {
            out.push('$');
            rest = &tail[1..];
        }
    }
    out.push_str(rest);
    Ok(out)
}

fn lookup(name: &str, cluster: &Cluster) -> Result<String, String> {
    let name = name.trim();
    if name == "cluster.name" {
        return Ok(cluster.name.clone());
    }
    if let Some(key) = name.strip_prefix("cluster.labels.") {
        return cluster.labels.get(key).cloned().ok_or_else(|| {
            format!(
                "unknown variable ${{{name}}}: cluster {} has no label {key:?}",
                cluster.name
            )
        });
    }
    Err(format!(
        "unknown variable ${{{name}}}: use ${{cluster.name}} or ${{cluster.labels.<key>}}, or write $${{ for a literal ${{"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Connection;
    use serde_json::json;

    fn cluster() -> Cluster {
        Cluster {
            name: "eu-1".into(),
            labels: [("region".to_string(), "eu-west".to_string())].into(),
            connection: Connection::Agent,
        }
    }

    fn check(input: &str, expected: Result<&str, &str>) {
        let got = expand(input, &cluster());
        match expected {
            Ok(e) => assert_eq!(got.as_deref(), Ok(e), "{input}"),
            Err(fragment) => {
                let err = got.expect_err(input);
                assert!(err.contains(fragment), "{input}: {err}");
            }
        }
    }

    #[test]
    fn expands_name_and_labels() {
        check("web-${cluster.name}", Ok("web-eu-1"));
        check(
            "${cluster.labels.region}/${cluster.name}",
            Ok("eu-west/eu-1"),
        );
        check("no vars $HOME and $ alone", Ok("no vars $HOME and $ alone"));
    }

    #[test]
    fn double_dollar_is_a_literal() {
        check("echo $${HOME}", Ok("echo ${HOME}"));
        check("$${cluster.name}", Ok("${cluster.name}"));
    }

    #[test]
    fn unknown_variables_are_errors_naming_the_variable() {
        check(
            "${cluster.labels.zone}",
            Err("cluster eu-1 has no label \"zone\""),
        );
        check("${HOME}", Err("unknown variable ${HOME}"));
        check("${cluster.name", Err("unclosed variable"));
    }

    #[test]
    fn substitutes_keys_and_values_and_reports_the_pointer() {
        let v =
            json!({"data": {"${cluster.name}.conf": "region=${cluster.labels.region}"}, "n": 3});
        let out = substitute(&v, &cluster()).unwrap();
        assert_eq!(
            out,
            json!({"data": {"eu-1.conf": "region=eu-west"}, "n": 3})
        );
        let bad = json!({"spec": {"containers": [{"image": "${nope}"}]}});
        let err = substitute(&bad, &cluster()).unwrap_err();
        assert_eq!(err.pointer, "/spec/containers/0/image");
    }
}
