//! The non-apply PATCH content types: JSON merge patch (RFC 7386), JSON patch
//! (RFC 6902) and strategic merge patch.
//!
//! Strategic merge patch is modelled as a JSON merge patch: lists are replaced
//! rather than merged by their patch merge key, and `$patch`/`$retainKeys`
//! directives are not interpreted. As on the real server, custom resources
//! refuse it with 415.

use serde_json::Value;

use crate::status::ApiError;

/// A PATCH body's content type.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum PatchType {
    /// `application/merge-patch+json`
    Merge,
    /// `application/json-patch+json`
    Json,
    /// `application/strategic-merge-patch+json`
    Strategic,
    /// `application/apply-patch+yaml` (server-side apply)
    Apply,
}

impl PatchType {
    /// Parses a `Content-Type` header (parameters ignored).
    pub(crate) fn from_content_type(ct: &str) -> Option<PatchType> {
        let base = ct
            .split(';')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase();
        match base.as_str() {
            "application/merge-patch+json" => Some(PatchType::Merge),
            "application/json-patch+json" => Some(PatchType::Json),
            "application/strategic-merge-patch+json" => Some(PatchType::Strategic),
            "application/apply-patch+yaml" | "application/apply-patch+json" => {
                Some(PatchType::Apply)
            }
            _ => None,
        }
    }
}

/// The 415 the real server sends for an unknown or unsupported patch type.
pub(crate) fn unsupported(custom: bool) -> ApiError {
    let accepted = if custom {
        "application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml"
    } else {
        "application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml, application/strategic-merge-patch+json"
    };
    ApiError::unsupported_media_type(format!(
        "the body of the request was in an unknown format - accepted media types include: {accepted}"
    ))
}

/// Applies a merge, JSON or strategic patch to `current`.
pub(crate) fn apply_patch(
    current: &Value,
    kind: PatchType,
    body: &[u8],
) -> Result<Value, ApiError> {
    let mut doc = current.clone();
    match kind {
        PatchType::Merge | PatchType::Strategic => {
            let patch: Value = serde_json::from_slice(body)
                .map_err(|e| ApiError::bad_request(format!("error decoding patch: {e}")))?;
            if !patch.is_object() {
                return Err(ApiError::bad_request(
                    "json: cannot unmarshal into Go value of type map[string]interface {}",
                ));
            }
            json_patch::merge(&mut doc, &patch);
        }
        PatchType::Json => {
            let patch: json_patch::Patch = serde_json::from_slice(body)
                .map_err(|e| ApiError::bad_request(format!("error decoding patch: {e}")))?;
            json_patch::patch(&mut doc, &patch.0).map_err(|e| {
                ApiError::invalid_patch(format!(
                    "the server rejected our request due to an error in our request: {e}"
                ))
            })?;
        }
        PatchType::Apply => unreachable!("apply patches are handled by the apply module"),
    }
    Ok(doc)
}

impl ApiError {
    /// 422 for a JSON patch that cannot be applied (the real server answers
    /// `Invalid` for a failed `test` or a missing path).
    pub(crate) fn invalid_patch(message: String) -> Self {
        ApiError {
            code: 422,
            reason: "Invalid".into(),
            message,
            details: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn content_types() {
        assert_eq!(
            PatchType::from_content_type("application/merge-patch+json; charset=utf-8"),
            Some(PatchType::Merge)
        );
        assert_eq!(PatchType::from_content_type("text/plain"), None);
    }

    #[test]
    fn merge_and_json_patch() {
        let cur = json!({"a": 1, "b": {"c": 2}});
        let m = apply_patch(&cur, PatchType::Merge, br#"{"b": {"c": null, "d": 3}}"#).unwrap();
        assert_eq!(m, json!({"a": 1, "b": {"d": 3}}));
        let j = apply_patch(
            &cur,
            PatchType::Json,
            br#"[{"op": "replace", "path": "/a", "value": 5}]"#,
        )
        .unwrap();
        assert_eq!(j["a"], 5);
        let bad = apply_patch(
            &cur,
            PatchType::Json,
            br#"[{"op": "remove", "path": "/zz"}]"#,
        );
        assert_eq!(bad.unwrap_err().code, 422);
    }
}
