//! `${VAR}` in fleet.yaml's connection fields: which environment variables
//! a fleet repository may read. A repository is not trusted with the
//! engine's environment (it holds Git credentials), so only
//! `FLOTILLA_KUBECONFIG_DIR` and names starting with `FLOTILLA_FLEET_`
//! expand; any other name is an error that names the variable, never its
//! value.

/// The one variable allowed by name.
pub const KUBECONFIG_DIR_VAR: &str = "FLOTILLA_KUBECONFIG_DIR";
/// The prefix of the other allowed variables.
pub const FLEET_VAR_PREFIX: &str = "FLOTILLA_FLEET_";

/// Whether `${name}` may expand in fleet.yaml.
pub fn is_allowed(name: &str) -> bool {
    name == KUBECONFIG_DIR_VAR
        || (name.len() > FLEET_VAR_PREFIX.len() && name.starts_with(FLEET_VAR_PREFIX))
}

/// The names of the `${VAR}` in `text`, in order; an error for an unclosed
/// `${`.
pub fn names_in(text: &str) -> Result<Vec<&str>, String> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(pos) = rest.find("${") {
        let after = &rest[pos + 2..];
        let end = after
            .find('}')
            .ok_or_else(|| format!("unclosed ${{ in {text:?}"))?;
        out.push(&after[..end]);
        rest = &after[end + 1..];
    }
    Ok(out)
}

/// Checks every `${VAR}` of `text` against the allow-list.
pub fn check(text: &str) -> Result<(), String> {
    for name in names_in(text)? {
        if !is_allowed(name) {
            return Err(format!(
                "${{{name}}} is not allowed: only ${{{KUBECONFIG_DIR_VAR}}} and variables named {FLEET_VAR_PREFIX}* expand in fleet.yaml"
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_allow_list_expands() {
        assert!(check("${FLOTILLA_KUBECONFIG_DIR}/a.yaml").is_ok());
        assert!(check("/x/${FLOTILLA_FLEET_ZONE}/${FLOTILLA_FLEET_B}").is_ok());
        assert!(check("plain").is_ok());
        let e = check("/proc/${FLOTILLA_GIT_PASSWORD}/x").unwrap_err();
        assert!(e.contains("${FLOTILLA_GIT_PASSWORD} is not allowed"), "{e}");
        assert!(check("${FLOTILLA_FLEET_}").is_err());
        assert!(check("${HOME}").is_err());
        assert!(check("${FLOTILLA_FLEET_X").is_err());
    }
}
