//! Kubernetes label selectors: `matchLabels` and `matchExpressions`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// A Kubernetes `LabelSelector`. An empty selector matches every cluster;
/// all its terms must hold for a match (they are ANDed).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct LabelSelector {
    /// Labels that must be present with exactly these values.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub match_labels: BTreeMap<String, String>,
    /// Set-based requirements.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub match_expressions: Vec<Requirement>,
}

/// One set-based requirement of a [`LabelSelector`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Requirement {
    /// The label key.
    pub key: String,
    /// How the key's value is tested.
    pub operator: Operator,
    /// The values for `In` and `NotIn`; must be empty for the others.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub values: Vec<String>,
}

/// The operators of a [`Requirement`], as Kubernetes spells them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Operator {
    /// The label is present and its value is one of `values`.
    In,
    /// The label is absent, or its value is none of `values`.
    NotIn,
    /// The label is present, whatever its value.
    Exists,
    /// The label is absent.
    DoesNotExist,
}

impl LabelSelector {
    /// Whether `labels` satisfy every term of the selector.
    pub fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        self.match_labels
            .iter()
            .all(|(k, v)| labels.get(k) == Some(v))
            && self.match_expressions.iter().all(|r| r.matches(labels))
    }

    /// Checks the selector is well formed, as the API server would: `In` and
    /// `NotIn` need values, `Exists` and `DoesNotExist` take none. Returns the
    /// field (relative to the selector) and the problem.
    pub fn validate(&self) -> Result<(), (String, String)> {
        for (i, r) in self.match_expressions.iter().enumerate() {
            let field = format!("matchExpressions[{i}]");
            if r.key.is_empty() {
                return Err((format!("{field}.key"), "must not be empty".into()));
            }
            match r.operator {
                Operator::In | Operator::NotIn if r.values.is_empty() => {
                    return Err((
                        format!("{field}.values"),
                        format!("operator {:?} needs at least one value", r.operator),
                    ));
                }
                Operator::Exists | Operator::DoesNotExist if !r.values.is_empty() => {
                    return Err((
                        format!("{field}.values"),
                        format!("operator {:?} takes no values", r.operator),
                    ));
                }
                _ => {}
            }
        }
        Ok(())
    }
}

impl Requirement {
    /// Whether `labels` satisfy this requirement.
    pub fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        let value = labels.get(&self.key);
        match self.operator {
            Operator::In => value.is_some_and(|v| self.values.contains(v)),
            Operator::NotIn => value.is_none_or(|v| !self.values.contains(v)),
            Operator::Exists => value.is_some(),
            Operator::DoesNotExist => value.is_none(),
        }
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

    fn selector(yaml: &str) -> LabelSelector {
        serde_saphyr::from_str_with_options(yaml, crate::yaml::options()).unwrap()
    }

    /// One check helper for the layer: a selector, labels, and the expected answer.
    fn check(sel: &str, l: &[(&str, &str)], expected: bool) {
        assert_eq!(
            selector(sel).matches(&labels(l)),
            expected,
            "{sel} on {l:?}"
        );
    }

    #[test]
    fn empty_selector_matches_everything() {
        check("{}", &[], true);
        check("{}", &[("env", "prod")], true);
    }

    #[test]
    fn match_labels_needs_every_pair() {
        let s = "matchLabels: {env: prod, canary: 'true'}";
        check(s, &[("env", "prod"), ("canary", "true")], true);
        check(s, &[("env", "prod")], false);
        check(s, &[("env", "prod"), ("canary", "false")], false);
    }

    #[test]
    fn operator_in() {
        let s = "matchExpressions: [{key: region, operator: In, values: [eu, us]}]";
        check(s, &[("region", "eu")], true);
        check(s, &[("region", "cn")], false);
        check(s, &[], false);
    }

    #[test]
    fn operator_not_in_matches_an_absent_key() {
        let s = "matchExpressions: [{key: region, operator: NotIn, values: [eu]}]";
        check(s, &[("region", "us")], true);
        check(s, &[("region", "eu")], false);
        check(s, &[], true);
    }

    #[test]
    fn operator_exists_and_does_not_exist() {
        check(
            "matchExpressions: [{key: gpu, operator: Exists}]",
            &[("gpu", "")],
            true,
        );
        check(
            "matchExpressions: [{key: gpu, operator: Exists}]",
            &[],
            false,
        );
        check(
            "matchExpressions: [{key: gpu, operator: DoesNotExist}]",
            &[],
            true,
        );
        check(
            "matchExpressions: [{key: gpu, operator: DoesNotExist}]",
            &[("gpu", "a")],
            false,
        );
    }

    #[test]
    fn labels_and_expressions_are_anded() {
        let s = "{matchLabels: {env: prod}, matchExpressions: [{key: region, operator: In, values: [eu]}]}";
        check(s, &[("env", "prod"), ("region", "eu")], true);
        check(s, &[("env", "dev"), ("region", "eu")], false);
    }

    #[test]
    fn validate_rejects_malformed_requirements() {
        let bad = selector("matchExpressions: [{key: a, operator: In}]");
        assert_eq!(bad.validate().unwrap_err().0, "matchExpressions[0].values");
        let bad = selector("matchExpressions: [{key: a, operator: Exists, values: [x]}]");
        assert!(bad.validate().unwrap_err().1.contains("takes no values"));
        assert!(
            selector("matchExpressions: [{key: a, operator: Exists}]")
                .validate()
                .is_ok()
        );
    }

    #[test]
    fn unknown_operator_is_a_parse_error() {
        let r: Result<LabelSelector, _> = serde_saphyr::from_str_with_options(
            "matchExpressions: [{key: a, operator: Within, values: [x]}]",
            crate::yaml::options(),
        );
        assert!(r.unwrap_err().to_string().contains("Within"));
    }
}
