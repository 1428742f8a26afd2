//! Which clusters a command works on: `--cluster NAME` (repeatable, or a
//! comma list) and `-l/--selector` (a label selector written as kubectl's:
//! `env=prod,tier!=db`), shared by `render`, `diff`, `drift` and `sync`.

use std::collections::BTreeMap;
use std::fmt;

use flotilla_core::model::Fleet;

/// Which clusters: by name, by labels, or both (a cluster must then pass
/// both); every cluster when neither is given.
#[derive(clap::Args, Clone, Debug, Default)]
pub struct ClusterArgs {
    /// Only these clusters (repeatable, or a comma list: `eu-1,us-1`); all
    /// clusters by default.
    #[arg(long = "cluster", value_name = "NAME[,NAME...]", value_delimiter = ',')]
    pub clusters: Vec<String>,
    /// Only clusters whose labels match, written as kubectl's `-l`:
    /// `env=prod,tier!=db`, `region in (eu,us)`, `region notin (ap)`, `gpu`
    /// (has the label), `!legacy` (has it not).
    #[arg(short = 'l', long = "selector", value_name = "SELECTOR", value_parser = Selector::parse)]
    pub selector: Option<Selector>,
}

impl ClusterArgs {
    /// The names of the selected clusters, in fleet order. A `--cluster`
    /// the fleet lacks is an error listing the fleet's clusters, as is a
    /// selector that matches none.
    pub fn select(&self, fleet: &Fleet) -> anyhow::Result<Vec<String>> {
        for name in &self.clusters {
            if fleet.cluster(name).is_none() {
                anyhow::bail!("unknown cluster {name:?}; the fleet has: {}", known(fleet));
            }
        }
        let selected: Vec<String> = fleet
            .clusters
            .iter()
            .filter(|c| self.clusters.is_empty() || self.clusters.contains(&c.name))
            .filter(|c| self.selector.as_ref().is_none_or(|s| s.matches(&c.labels)))
            .map(|c| c.name.clone())
            .collect();
        if let Some(selector) = &self.selector
            && selected.is_empty()
        {
            let labelled: Vec<String> = fleet
                .clusters
                .iter()
                .map(|c| {
                    let labels: Vec<String> =
                        c.labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
                    format!("{} ({})", c.name, labels.join(","))
                })
                .collect();
            anyhow::bail!(
                "no cluster matches the selector {selector}; the fleet has: {}",
                labelled.join(", ")
            );
        }
        Ok(selected)
    }
}

/// The fleet's cluster names, comma-separated.
fn known(fleet: &Fleet) -> String {
    fleet
        .clusters
        .iter()
        .map(|c| c.name.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

/// A label selector in kubectl's text form: requirements separated by
/// commas, all of which must hold.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Selector {
    text: String,
    requirements: Vec<Requirement>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Requirement {
    Equals(String, String),
    NotEquals(String, String),
    In(String, Vec<String>),
    NotIn(String, Vec<String>),
    Exists(String),
    DoesNotExist(String),
}

impl fmt::Display for Selector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.text)
    }
}

impl Selector {
    /// Parses `env=prod,tier!=db,region in (eu,us),gpu,!legacy`.
    pub fn parse(text: &str) -> Result<Selector, String> {
        let mut requirements = Vec::new();
        for part in split_top_level(text)? {
            let part = part.trim();
            if part.is_empty() {
                return Err(format!(
                    "{text:?}: an empty requirement (two commas in a row?)"
                ));
            }
            requirements.push(requirement(part).map_err(|e| format!("{part:?}: {e}"))?);
        }
        Ok(Selector {
            text: text.to_string(),
            requirements,
        })
    }

    /// Whether `labels` satisfy every requirement.
    pub fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        self.requirements.iter().all(|r| match r {
            Requirement::Equals(k, v) => labels.get(k) == Some(v),
            Requirement::NotEquals(k, v) => labels.get(k) != Some(v),
            Requirement::In(k, vs) => labels.get(k).is_some_and(|l| vs.contains(l)),
            Requirement::NotIn(k, vs) => labels.get(k).is_none_or(|l| !vs.contains(l)),
            Requirement::Exists(k) => labels.contains_key(k),
            Requirement::DoesNotExist(k) => !labels.contains_key(k),
        })
    }
}

/// Splits at commas outside parentheses.
fn split_top_level(text: &str) -> Result<Vec<&str>, String> {
    let mut parts = Vec::new();
    let (mut depth, mut start) = (0usize, 0usize);
    for (i, c) in text.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => {
                depth = depth
                    .checked_sub(1)
                    .ok_or_else(|| format!("{text:?}: a ')' without '('"))?;
            }
            ',' if depth == 0 => {
                parts.push(&text[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    if depth != 0 {
        return Err(format!("{text:?}: a '(' is never closed"));
    }
    parts.push(&text[start..]);
    Ok(parts)
}

fn requirement(part: &str) -> Result<Requirement, String> {
    if let Some(key) = part.strip_prefix('!') {
        return Ok(Requirement::DoesNotExist(key_of(key)?));
    }
    for (op, set_op) in [(" notin ", true), (" in ", false)] {
        if let Some((key, values)) = part.split_once(op) {
            let values = values.trim();
            let inner = values
                .strip_prefix('(')
                .and_then(|v| v.strip_suffix(')'))
                .ok_or("the values of in/notin go in parentheses: `region in (eu,us)`")?;
            let values: Vec<String> = inner
                .split(',')
                .map(|v| v.trim().to_string())
                .filter(|v| !v.is_empty())
                .collect();
            let key = key_of(key)?;
            return Ok(if set_op {
                Requirement::NotIn(key, values)
            } else {
                Requirement::In(key, values)
            });
        }
    }
    if let Some((key, value)) = part.split_once("!=") {
        return Ok(Requirement::NotEquals(key_of(key)?, value_of(value)?));
    }
    if let Some((key, value)) = part.split_once("==").or_else(|| part.split_once('=')) {
        return Ok(Requirement::Equals(key_of(key)?, value_of(value)?));
    }
    Ok(Requirement::Exists(key_of(part)?))
}

fn key_of(key: &str) -> Result<String, String> {
    let key = key.trim();
    let ok = !key.is_empty()
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '/'));
    if ok {
        Ok(key.to_string())
    } else {
        Err(format!(
            "{key:?} is not a label key (write `key=value`, `key!=value`, `key in (a,b)`, `key` or `!key`)"
        ))
    }
}

fn value_of(value: &str) -> Result<String, String> {
    let value = value.trim();
    if value
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
    {
        Ok(value.to_string())
    } else {
        Err(format!("{value:?} is not a label value"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn kubectl_selectors_match_as_kubectl_does() {
        let prod_web = labels(&[("env", "prod"), ("tier", "web"), ("region", "eu")]);
        let prod_db = labels(&[("env", "prod"), ("tier", "db")]);
        let s = Selector::parse("env=prod,tier!=db").unwrap();
        assert!(s.matches(&prod_web));
        assert!(!s.matches(&prod_db));
        let s = Selector::parse("region in (eu, us),env==prod").unwrap();
        assert!(s.matches(&prod_web));
        assert!(!s.matches(&prod_db));
        let s = Selector::parse("region notin (eu)").unwrap();
        assert!(!s.matches(&prod_web));
        assert!(s.matches(&prod_db));
        assert!(Selector::parse("region").unwrap().matches(&prod_web));
        assert!(Selector::parse("!region").unwrap().matches(&prod_db));
    }

    #[test]
    fn malformed_selectors_are_errors_naming_the_requirement() {
        for bad in [
            "env=prod,,tier=db",
            "region in eu",
            "a b=c",
            "region in (eu",
        ] {
            let e = Selector::parse(bad).unwrap_err();
            assert!(!e.is_empty(), "{bad}");
        }
        let e = Selector::parse("env=prod,a b=c").unwrap_err();
        assert!(e.contains("\"a b\""), "{e}");
    }
}
