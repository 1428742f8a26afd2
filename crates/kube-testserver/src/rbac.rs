//! Impersonation and a simple RBAC for tests: requests carrying
//! `Impersonate-User` are recorded with that user, and a user given a rule
//! set with [`crate::TestApiServer::set_rbac`] may only do what one of its
//! rules allows (403 `Forbidden` with the real server's message otherwise).
//! Users without a rule set, and requests without impersonation, are
//! allowed everything (the client is taken to be a cluster admin, who may
//! impersonate anyone).

use std::collections::BTreeMap;

use crate::route::ResourcePath;
use crate::status::{ApiError, StatusDetails};

/// One allow rule, like a `PolicyRule` of a Role bound in some namespaces:
/// `*` in a list matches anything; an empty `namespaces` means every
/// namespace and the cluster scope.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RbacRule {
    /// Kubernetes verbs (`get`, `list`, `watch`, `create`, `update`,
    /// `patch`, `delete`, `deletecollection`) or `*`.
    pub verbs: Vec<String>,
    /// API groups (`""` for core) or `*`.
    pub api_groups: Vec<String>,
    /// Resources (plural names) or `*`.
    pub resources: Vec<String>,
    /// Object names (`resourceNames`); empty: any. As on a real server, a
    /// rule with names matches only requests naming one of them, so never a
    /// POST create or a list (their requests name no object); a server-side
    /// apply that creates asks `create` with the object's name, which can.
    pub resource_names: Vec<String>,
    /// Namespaces the rule holds in; empty: everywhere, cluster scope too.
    pub namespaces: Vec<String>,
}

impl RbacRule {
    /// A rule allowing `verbs` on `resources` of any group in `namespaces`.
    pub fn allow(verbs: &[&str], resources: &[&str], namespaces: &[&str]) -> Self {
        let own = |s: &[&str]| s.iter().map(|x| x.to_string()).collect();
        Self {
            verbs: own(verbs),
            api_groups: vec!["*".into()],
            resources: own(resources),
            resource_names: Vec::new(),
            namespaces: own(namespaces),
        }
    }

    /// This rule limited to the objects named `names`.
    pub fn named(mut self, names: &[&str]) -> Self {
        self.resource_names = names.iter().map(|x| x.to_string()).collect();
        self
    }

    fn matches(&self, verb: &str, rp: &ResourcePath) -> bool {
        let any = |list: &[String], v: &str| list.iter().any(|x| x == "*" || x == v);
        let resource = match &rp.subresource {
            Some(s) => format!("{}/{s}", rp.plural),
            None => rp.plural.clone(),
        };
        any(&self.verbs, verb)
            && any(&self.api_groups, &rp.group)
            && any(&self.resources, &resource)
            && (self.resource_names.is_empty()
                || rp
                    .name
                    .as_deref()
                    .is_some_and(|n| self.resource_names.iter().any(|x| x == n)))
            && (self.namespaces.is_empty()
                || rp
                    .namespace
                    .as_deref()
                    .is_some_and(|n| any(&self.namespaces, n)))
    }
}

/// The rule sets, by user name.
#[derive(Debug, Default)]
pub(crate) struct Rbac {
    users: BTreeMap<String, Vec<RbacRule>>,
}

impl Rbac {
    pub(crate) fn set(&mut self, user: &str, rules: Vec<RbacRule>) {
        self.users.insert(user.to_string(), rules);
    }

    pub(crate) fn clear(&mut self) {
        self.users.clear();
    }

    /// Whether `user` may do `verb` on `rp`: a user without a rule set may
    /// do anything.
    fn allows(&self, user: &str, verb: &str, rp: &ResourcePath) -> bool {
        self.users
            .get(user)
            .is_none_or(|rules| rules.iter().any(|r| r.matches(verb, rp)))
    }

    /// Whether `user` may do `verb` on `rp`; the real 403 otherwise.
    pub(crate) fn authorize(
        &self,
        user: &str,
        verb: &str,
        rp: &ResourcePath,
    ) -> Result<(), ApiError> {
        if self.allows(user, verb, rp) {
            return Ok(());
        }
        let resource = match &rp.subresource {
            Some(s) => format!("{}/{s}", rp.plural),
            None => rp.plural.clone(),
        };
        let qualified = if rp.group.is_empty() {
            rp.plural.clone()
        } else {
            format!("{}.{}", rp.plural, rp.group)
        };
        let subject = match &rp.name {
            Some(n) => format!("{qualified} {n:?}"),
            None => qualified,
        };
        let scope = match &rp.namespace {
            Some(ns) => format!("in the namespace {ns:?}"),
            None => "at the cluster scope".to_string(),
        };
        let message = format!(
            "{subject} is forbidden: User {user:?} cannot {verb} resource {resource:?} in API group {:?} {scope}",
            rp.group
        );
        Err(
            ApiError::new(403, "Forbidden", message).with_details(StatusDetails {
                name: rp.name.clone().unwrap_or_default(),
                group: rp.group.clone(),
                kind: rp.plural.clone(),
                ..Default::default()
            }),
        )
    }

    /// Whether `user` may create the object `rp` names, asked when a PATCH
    /// would create it. As on a real server the question carries the name
    /// (a rule with `resourceNames` can allow it), and the refusal is the
    /// apiserver's create-on-update `Forbidden`, whose message ends with the
    /// authorizer's reason (empty for RBAC without evaluation errors).
    pub(crate) fn authorize_create_on_update(
        &self,
        user: &str,
        rp: &ResourcePath,
    ) -> Result<(), ApiError> {
        if self.allows(user, "create", rp) {
            return Ok(());
        }
        Err(ApiError::forbidden(
            &rp.group,
            &rp.plural,
            rp.name.as_deref().unwrap_or_default(),
            "",
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config_map(name: Option<&str>) -> ResourcePath {
        ResourcePath {
            group: String::new(),
            version: "v1".into(),
            plural: "configmaps".into(),
            namespace: Some("ns".into()),
            name: name.map(str::to_string),
            subresource: None,
        }
    }

    #[test]
    fn a_rule_with_names_allows_only_requests_naming_one_of_them() {
        let mut rbac = Rbac::default();
        rbac.set(
            "u",
            vec![
                RbacRule::allow(
                    &["get", "patch", "create", "list"],
                    &["configmaps"],
                    &["ns"],
                )
                .named(&["a"]),
            ],
        );
        assert!(rbac.authorize("u", "patch", &config_map(Some("a"))).is_ok());
        let denied = rbac
            .authorize("u", "patch", &config_map(Some("b")))
            .unwrap_err();
        assert_eq!(denied.code, 403);
        assert!(
            denied.message.contains("configmaps \"b\" is forbidden"),
            "{}",
            denied.message
        );
        // A create or a list names no object: a rule with names never allows it.
        assert!(rbac.authorize("u", "create", &config_map(None)).is_err());
        assert!(rbac.authorize("u", "list", &config_map(None)).is_err());
    }
}
