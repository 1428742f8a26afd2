//! Object metadata helpers: timestamps, UIDs, generated names, accessors on
//! untyped JSON objects, and the key order the real server serialises in.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::{Map, Value};

/// RFC 3339 UTC timestamp with second precision, as `metav1.Time` renders.
pub(crate) fn now_rfc3339() -> String {
    format_time(SystemTime::now())
}

/// Formats `t` as `YYYY-MM-DDTHH:MM:SSZ`.
pub(crate) fn format_time(t: SystemTime) -> String {
    let secs = t
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        (rem % 3600) / 60,
        rem % 60
    )
}

/// Days since 1970-01-01 to (year, month, day), proleptic Gregorian.
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = if z >= 0 { z } else { z - 146_096 } / 146_097;
    let doe = (z - era * 146_097) as u64;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe as i64 + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

static RANDOM_COUNTER: AtomicU64 = AtomicU64::new(0);

/// 64 random-enough bits (std's randomly keyed SipHash over a counter).
pub(crate) fn random_u64() -> u64 {
    let mut h = RandomState::new().build_hasher();
    h.write_u64(RANDOM_COUNTER.fetch_add(1, Ordering::Relaxed));
    h.write_u128(
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0),
    );
    h.finish()
}

/// A random version-4 UUID string.
pub(crate) fn new_uid() -> String {
    let a = random_u64();
    let b = random_u64();
    let mut bytes = [0u8; 16];
    bytes[..8].copy_from_slice(&a.to_be_bytes());
    bytes[8..].copy_from_slice(&b.to_be_bytes());
    bytes[6] = (bytes[6] & 0x0f) | 0x40;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    )
}

/// The 5-character suffix `generateName` gets (same alphabet as the real
/// server: no vowels, no confusable digits).
pub(crate) fn generate_name_suffix() -> String {
    const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    let mut r = random_u64();
    (0..5)
        .map(|_| {
            let c = ALPHABET[(r % ALPHABET.len() as u64) as usize] as char;
            r /= ALPHABET.len() as u64;
            c
        })
        .collect()
}

/// `obj.metadata`, if present and an object.
pub(crate) fn metadata(obj: &Value) -> Option<&Map<String, Value>> {
    obj.get("metadata").and_then(Value::as_object)
}

/// `obj.metadata`, created if missing (replacing a non-object).
pub(crate) fn metadata_mut(obj: &mut Value) -> &mut Map<String, Value> {
    if !obj.is_object() {
        *obj = Value::Object(Map::new());
    }
    let map = obj.as_object_mut().expect("object");
    let entry = map
        .entry("metadata")
        .or_insert_with(|| Value::Object(Map::new()));
    if !entry.is_object() {
        *entry = Value::Object(Map::new());
    }
    entry.as_object_mut().expect("object")
}

/// A string field of `metadata`, empty when absent.
pub(crate) fn meta_str<'a>(obj: &'a Value, field: &str) -> &'a str {
    metadata(obj)
        .and_then(|m| m.get(field))
        .and_then(Value::as_str)
        .unwrap_or("")
}

/// Sets (or, with `None`, removes) a field of `metadata`.
pub(crate) fn set_meta(obj: &mut Value, field: &str, value: Option<Value>) {
    let m = metadata_mut(obj);
    match value {
        Some(v) => {
            m.insert(field.to_string(), v);
        }
        None => {
            m.remove(field);
        }
    }
}

/// `metadata.labels` as (key, value) string pairs.
pub(crate) fn labels(obj: &Value) -> Map<String, Value> {
    metadata(obj)
        .and_then(|m| m.get("labels"))
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default()
}

/// `metadata.finalizers` as strings.
pub(crate) fn finalizers(obj: &Value) -> Vec<String> {
    metadata(obj)
        .and_then(|m| m.get("finalizers"))
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default()
}

/// Follows a dotted path of object keys.
pub(crate) fn get_path<'a>(obj: &'a Value, path: &[&str]) -> Option<&'a Value> {
    let mut cur = obj;
    for p in path {
        cur = cur.get(*p)?;
    }
    Some(cur)
}

/// Removes the value at a dotted path of object keys (order kept).
pub(crate) fn remove_path(obj: &mut Value, path: &[&str]) {
    let Some((last, parent)) = path.split_last() else {
        return;
    };
    let mut cur = obj;
    for p in parent {
        match cur.get_mut(*p) {
            Some(c) => cur = c,
            None => return,
        }
    }
    if let Some(m) = cur.as_object_mut() {
        m.shift_remove(*last);
    }
}

/// Sets a dotted path of object keys, creating intermediate objects.
pub(crate) fn set_path(obj: &mut Value, path: &[&str], value: Value) {
    let mut cur = obj;
    for (i, p) in path.iter().enumerate() {
        if !cur.is_object() {
            *cur = Value::Object(Map::new());
        }
        let map = cur.as_object_mut().expect("object");
        if i + 1 == path.len() {
            map.insert((*p).to_string(), value);
            return;
        }
        cur = map
            .entry((*p).to_string())
            .or_insert_with(|| Value::Object(Map::new()));
    }
}

/// Order of the `metadata` keys in `metav1.ObjectMeta`.
const META_ORDER: &[&str] = &[
    "name",
    "generateName",
    "namespace",
    "selfLink",
    "uid",
    "resourceVersion",
    "generation",
    "creationTimestamp",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
    "labels",
    "annotations",
    "ownerReferences",
    "finalizers",
    "managedFields",
];

/// Puts `kind`, `apiVersion`, `metadata` first (and the metadata keys in Go
/// struct order), like a real server's JSON. Other keys keep their order.
pub(crate) fn normalize_order(obj: &mut Value) {
    let api_version = obj.get("apiVersion").and_then(Value::as_str).unwrap_or("");
    let kind = obj.get("kind").and_then(Value::as_str).unwrap_or("");
    if !api_version.is_empty() && !kind.is_empty() {
        match crate::schema::builtin_schema(api_version, kind) {
            Some(ty) => {
                crate::schema::order_output(obj, ty);
            }
            // Custom resources are unstructured: Go's encoder sorts keys.
            None => {
                crate::schema::sort_keys(obj);
                return;
            }
        }
    }
    let Some(map) = obj.as_object_mut() else {
        return;
    };
    let mut out = Map::new();
    for k in ["kind", "apiVersion", "metadata"] {
        if let Some(v) = map.shift_remove(k) {
            out.insert(k.to_string(), v);
        }
    }
    if let Some(Value::Object(m)) = out.get_mut("metadata") {
        let mut ordered = Map::new();
        for k in META_ORDER {
            if let Some(v) = m.shift_remove(*k) {
                ordered.insert((*k).to_string(), v);
            }
        }
        for (k, v) in std::mem::take(m) {
            ordered.insert(k, v);
        }
        *m = ordered;
    }
    for (k, v) in std::mem::take(map) {
        out.insert(k, v);
    }
    *map = out;
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn formats_rfc3339() {
        let t = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        assert_eq!(format_time(t), "2023-11-14T22:13:20Z");
        assert_eq!(format_time(UNIX_EPOCH), "1970-01-01T00:00:00Z");
        let leap = UNIX_EPOCH + Duration::from_secs(951_782_400); // 2000-02-29
        assert_eq!(format_time(leap), "2000-02-29T00:00:00Z");
    }

    #[test]
    fn uid_is_v4_shaped() {
        let u = new_uid();
        assert_eq!(u.len(), 36);
        assert_eq!(&u[14..15], "4");
        assert_ne!(new_uid(), u);
    }

    #[test]
    fn generated_suffix_uses_alphabet() {
        let s = generate_name_suffix();
        assert_eq!(s.len(), 5);
        assert!(s.chars().all(|c| "bcdfghjklmnpqrstvwxz2456789".contains(c)));
    }
}
