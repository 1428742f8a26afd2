//! The JSON writer: the serde form of a view, pretty-printed, one trailing
//! newline.

use serde::Serialize;
use serde_json::{Value, json};

use crate::render::DesiredState;

use super::ReportError;

/// `v` as pretty JSON and a newline.
pub fn pretty<T: Serialize + ?Sized>(v: &T) -> Result<String, ReportError> {
    let mut out = serde_json::to_string_pretty(v).map_err(ReportError::Json)?;
    out.push('\n');
    Ok(out)
}

/// One cluster's desired state as `kubectl`'s `List`.
pub fn manifest_list(s: &DesiredState) -> Value {
    json!({
        "apiVersion": "v1",
        "kind": "List",
        "metadata": {"annotations": {"flotilla.dev/cluster": s.cluster}},
        "items": s.objects.iter().map(|o| &o.object).collect::<Vec<&Value>>(),
    })
}

/// Desired state as `kubectl`'s `List`, one per cluster; several clusters
/// in `{"clusters": [...]}`.
pub fn manifests(states: &[DesiredState]) -> Result<String, ReportError> {
    let list = manifest_list;
    let value = match states {
        [one] => list(one),
        many => json!({"clusters": many.iter().map(list).collect::<Vec<_>>()}),
    };
    pretty(&value)
}
