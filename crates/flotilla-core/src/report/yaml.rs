//! The YAML writer: manifests, as `kubectl apply -f` reads them.

use crate::render::DesiredState;

/// Each cluster's objects as a YAML stream; with several clusters each
/// stream starts with a `# cluster: NAME` comment.
pub fn manifests(states: &[DesiredState]) -> String {
    let mut out = String::new();
    for s in states {
        if states.len() > 1 {
            out.push_str(&format!("# cluster: {}\n", s.cluster));
        }
        out.push_str(&s.to_yaml());
    }
    out
}
