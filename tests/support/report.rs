//! Reading drift reports (`flotilla drift -o json`, the live `diff`, the
//! daemon's `/api/v1/clusters/{name}/drift`) in assertions.

use serde_json::Value;

/// The report of cluster `name`.
pub fn cluster<'a>(report: &'a Value, name: &str) -> &'a Value {
    report["clusters"]
        .as_array()
        .expect("clusters")
        .iter()
        .find(|c| c["cluster"] == name)
        .unwrap_or_else(|| panic!("no cluster {name} in {report:#}"))
}

/// The report entry of the object `kind`/`name` in a cluster's report.
pub fn object<'a>(cluster: &'a Value, kind: &str, name: &str) -> &'a Value {
    cluster["objects"]
        .as_array()
        .expect("objects")
        .iter()
        .find(|o| o["key"]["kind"] == kind && o["key"]["name"] == name)
        .unwrap_or_else(|| panic!("no {kind} {name} in {cluster:#}"))
}

/// `(path, desired, live)` of an object's fields, sorted by path.
pub fn fields(object: &Value) -> Vec<(String, Value, Value)> {
    let mut out: Vec<_> = object["fields"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default()
        .iter()
        .map(|f| {
            (
                f["path"].as_str().expect("a path").to_string(),
                f["desired"].clone(),
                f["live"].clone(),
            )
        })
        .collect();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}
