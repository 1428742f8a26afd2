//! Kubernetes `Status` failures: the error type every handler returns and the
//! JSON body (`kind: Status`, `apiVersion: v1`) the real API server sends.
//!
//! Messages follow `k8s.io/apimachinery/pkg/api/errors` so clients that match
//! on `reason`, `code` or `details` behave as they would against a real server.

use serde::Serialize;
use serde_json::{Value, json};

/// One entry of `details.causes` in a `Status`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct StatusCause {
    /// Machine-readable cause, e.g. `FieldValueInvalid` or `FieldManagerConflict`.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub reason: String,
    /// Human-readable description of the cause.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub message: String,
    /// The field the cause is about, e.g. `.spec.replicas` or `metadata.name`.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub field: String,
}

/// `details` of a `Status`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StatusDetails {
    /// Name of the object the failure is about.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub name: String,
    /// API group of the object (empty for the core group).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub group: String,
    /// Resource (plural) or kind, as the real server reports for this reason.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub kind: String,
    /// UID of the object, when known.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub uid: String,
    /// Per-field causes.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub causes: Vec<StatusCause>,
    /// Seconds a client should wait before retrying.
    #[serde(skip_serializing_if = "is_zero")]
    pub retry_after_seconds: u32,
}

fn is_zero(v: &u32) -> bool {
    *v == 0
}

/// A failed request, rendered as a Kubernetes `Status` with HTTP code `code`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApiError {
    /// HTTP status code (also `Status.code`).
    pub code: u16,
    /// `Status.reason`, e.g. `NotFound`.
    pub reason: String,
    /// `Status.message`.
    pub message: String,
    /// `Status.details`; `None` omits the field.
    pub details: Option<Box<StatusDetails>>,
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({}): {}", self.code, self.reason, self.message)
    }
}

impl std::error::Error for ApiError {}

/// `deployments.apps` for a grouped resource, `configmaps` for the core group:
/// how the real server names a resource in messages.
pub(crate) fn qualified(resource: &str, group: &str) -> String {
    if group.is_empty() {
        resource.to_string()
    } else {
        format!("{resource}.{group}")
    }
}

/// Field error types, as in `k8s.io/apimachinery/pkg/util/validation/field`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum FieldErrorType {
    Required,
    Invalid,
    Forbidden,
    Duplicate,
    NotSupported,
    TooLong,
}

/// One validation failure on one field.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct FieldError {
    pub field: String,
    pub kind: FieldErrorType,
    /// The offending value, rendered Go-style (`"x"` for strings).
    pub value: Option<String>,
    pub detail: String,
}

impl FieldError {
    pub(crate) fn required(field: &str, detail: &str) -> Self {
        FieldError {
            field: field.into(),
            kind: FieldErrorType::Required,
            value: None,
            detail: detail.into(),
        }
    }

    pub(crate) fn invalid(field: &str, value: &Value, detail: &str) -> Self {
        FieldError {
            field: field.into(),
            kind: FieldErrorType::Invalid,
            value: Some(go_value(value)),
            detail: detail.into(),
        }
    }

    /// An invalid value already rendered Go-style (e.g. `map[string]string{...}`).
    pub(crate) fn invalid_raw(field: &str, rendered: &str, detail: &str) -> Self {
        FieldError {
            field: field.into(),
            kind: FieldErrorType::Invalid,
            value: Some(rendered.into()),
            detail: detail.into(),
        }
    }

    /// `field.TooLong` without the value: `Too long: must have at most N bytes`.
    pub(crate) fn too_long_bytes(field: &str, max: usize) -> Self {
        FieldError {
            field: field.into(),
            kind: FieldErrorType::TooLong,
            value: None,
            detail: format!("must have at most {max} bytes"),
        }
    }

    pub(crate) fn forbidden(field: &str, detail: &str) -> Self {
        FieldError {
            field: field.into(),
            kind: FieldErrorType::Forbidden,
            value: None,
            detail: detail.into(),
        }
    }

    pub(crate) fn duplicate(field: &str, value: &Value) -> Self {
        FieldError {
            field: field.into(),
            kind: FieldErrorType::Duplicate,
            value: Some(go_value(value)),
            detail: String::new(),
        }
    }

    pub(crate) fn not_supported(field: &str, value: &Value, supported: &[&str]) -> Self {
        let list: Vec<String> = supported.iter().map(|s| format!("{s:?}")).collect();
        FieldError {
            field: field.into(),
            kind: FieldErrorType::NotSupported,
            value: Some(go_value(value)),
            detail: format!("supported values: {}", list.join(", ")),
        }
    }

    fn reason(&self) -> &'static str {
        match self.kind {
            FieldErrorType::Required => "FieldValueRequired",
            FieldErrorType::Invalid => "FieldValueInvalid",
            FieldErrorType::Forbidden => "FieldValueForbidden",
            FieldErrorType::Duplicate => "FieldValueDuplicate",
            FieldErrorType::NotSupported => "FieldValueNotSupported",
            FieldErrorType::TooLong => "FieldValueTooLong",
        }
    }

    /// `ErrorBody()` of the Go field error: the message without the field.
    fn body(&self) -> String {
        let mut s = match self.kind {
            FieldErrorType::Required => "Required value".to_string(),
            FieldErrorType::Forbidden => "Forbidden".to_string(),
            FieldErrorType::Invalid => {
                format!("Invalid value: {}", self.value.clone().unwrap_or_default())
            }
            FieldErrorType::Duplicate => {
                format!(
                    "Duplicate value: {}",
                    self.value.clone().unwrap_or_default()
                )
            }
            FieldErrorType::NotSupported => {
                format!(
                    "Unsupported value: {}",
                    self.value.clone().unwrap_or_default()
                )
            }
            FieldErrorType::TooLong => "Too long".to_string(),
        };
        if !self.detail.is_empty() {
            s.push_str(": ");
            s.push_str(&self.detail);
        }
        s
    }
}

/// Renders a JSON value roughly as Go's `%#v` would in field errors.
fn go_value(v: &Value) -> String {
    match v {
        Value::String(s) => format!("{s:?}"),
        Value::Null => "null".into(),
        other => other.to_string(),
    }
}

impl ApiError {
    pub(crate) fn new(code: u16, reason: &str, message: impl Into<String>) -> Self {
        ApiError {
            code,
            reason: reason.into(),
            message: message.into(),
            details: None,
        }
    }

    pub(crate) fn with_details(mut self, details: StatusDetails) -> Self {
        self.details = Some(Box::new(details));
        self
    }

    /// 404 `<resource> "<name>" not found`.
    pub fn not_found(group: &str, resource: &str, name: &str) -> Self {
        ApiError::new(
            404,
            "NotFound",
            format!("{} {name:?} not found", qualified(resource, group)),
        )
        .with_details(StatusDetails {
            name: name.into(),
            group: group.into(),
            kind: resource.into(),
            ..Default::default()
        })
    }

    /// 404 for a URL that names no known resource.
    pub fn resource_not_found() -> Self {
        ApiError::new(
            404,
            "NotFound",
            "the server could not find the requested resource",
        )
        .with_details(StatusDetails::default())
    }

    /// 409 `<resource> "<name>" already exists`.
    pub fn already_exists(group: &str, resource: &str, name: &str) -> Self {
        ApiError::new(
            409,
            "AlreadyExists",
            format!("{} {name:?} already exists", qualified(resource, group)),
        )
        .with_details(StatusDetails {
            name: name.into(),
            group: group.into(),
            kind: resource.into(),
            ..Default::default()
        })
    }

    /// 409 `Operation cannot be fulfilled on <resource> "<name>": <why>`.
    pub fn conflict(group: &str, resource: &str, name: &str, why: &str) -> Self {
        ApiError::new(
            409,
            "Conflict",
            format!(
                "Operation cannot be fulfilled on {} {name:?}: {why}",
                qualified(resource, group)
            ),
        )
        .with_details(StatusDetails {
            name: name.into(),
            group: group.into(),
            kind: resource.into(),
            ..Default::default()
        })
    }

    /// 409 for a stale `metadata.resourceVersion`.
    pub fn stale_resource_version(group: &str, resource: &str, name: &str) -> Self {
        ApiError::conflict(
            group,
            resource,
            name,
            "the object has been modified; please apply your changes to the latest version and try again",
        )
    }

    /// 409 for server-side apply field-manager conflicts.
    pub fn apply_conflict(message: String, causes: Vec<StatusCause>) -> Self {
        ApiError::new(409, "Conflict", message).with_details(StatusDetails {
            causes,
            ..Default::default()
        })
    }

    /// 422 `<Kind>[.<group>] "<name>" is invalid: <errors>`.
    pub(crate) fn invalid(group: &str, kind: &str, name: &str, errors: Vec<FieldError>) -> Self {
        let rendered: Vec<String> = errors
            .iter()
            .map(|e| format!("{}: {}", e.field, e.body()))
            .collect();
        let joined = if rendered.len() == 1 {
            rendered[0].clone()
        } else {
            format!("[{}]", rendered.join(", "))
        };
        let causes = errors
            .iter()
            .map(|e| StatusCause {
                reason: e.reason().into(),
                message: e.body(),
                field: e.field.clone(),
            })
            .collect();
        ApiError::new(
            422,
            "Invalid",
            format!("{} {name:?} is invalid: {joined}", qualified(kind, group)),
        )
        .with_details(StatusDetails {
            name: name.into(),
            group: group.into(),
            kind: kind.into(),
            causes,
            ..Default::default()
        })
    }

    /// 400 BadRequest.
    pub fn bad_request(message: impl Into<String>) -> Self {
        ApiError::new(400, "BadRequest", message)
    }

    /// 403 Forbidden.
    pub fn forbidden(group: &str, resource: &str, name: &str, why: &str) -> Self {
        ApiError::new(
            403,
            "Forbidden",
            format!(
                "{} {name:?} is forbidden: {why}",
                qualified(resource, group)
            ),
        )
        .with_details(StatusDetails {
            name: name.into(),
            group: group.into(),
            kind: resource.into(),
            ..Default::default()
        })
    }

    /// Adds a cause to the details.
    pub(crate) fn with_cause(mut self, reason: &str, message: &str, field: &str) -> Self {
        let d = self.details.get_or_insert_with(Default::default);
        d.causes.push(StatusCause {
            reason: reason.into(),
            message: message.into(),
            field: field.into(),
        });
        self
    }

    /// 405 MethodNotAllowed.
    pub fn method_not_allowed() -> Self {
        ApiError::new(
            405,
            "MethodNotAllowed",
            "the server does not allow this method on the requested resource",
        )
        .with_details(StatusDetails::default())
    }

    /// 406 NotAcceptable.
    pub fn not_acceptable(message: impl Into<String>) -> Self {
        ApiError::new(406, "NotAcceptable", message)
    }

    /// 410 Expired (e.g. a watch from a compacted resourceVersion).
    pub fn expired(message: impl Into<String>) -> Self {
        ApiError::new(410, "Expired", message)
    }

    /// 415 UnsupportedMediaType.
    pub fn unsupported_media_type(message: impl Into<String>) -> Self {
        ApiError::new(415, "UnsupportedMediaType", message)
    }

    /// 429 TooManyRequests.
    pub fn too_many_requests(message: impl Into<String>) -> Self {
        ApiError::new(429, "TooManyRequests", message).with_details(StatusDetails {
            retry_after_seconds: 1,
            ..Default::default()
        })
    }

    /// A `Status` with only a message and a code (no reason), as the real
    /// server sends for some internal errors.
    pub(crate) fn plain(code: u16, message: impl Into<String>) -> Self {
        ApiError::new(code, "", message)
    }

    /// 413 RequestEntityTooLarge for a body over `limit` bytes.
    pub(crate) fn too_large(limit: usize) -> Self {
        ApiError::new(
            413,
            "RequestEntityTooLarge",
            format!("Request entity too large: limit is {limit}"),
        )
    }

    /// 500 InternalError.
    pub fn internal(message: impl Into<String>) -> Self {
        let m = message.into();
        ApiError::new(
            500,
            "InternalError",
            format!("Internal error occurred: {m}"),
        )
        .with_details(StatusDetails {
            causes: vec![StatusCause {
                reason: String::new(),
                message: m,
                field: String::new(),
            }],
            ..Default::default()
        })
    }

    /// 503 ServiceUnavailable.
    pub fn service_unavailable(message: impl Into<String>) -> Self {
        ApiError::new(503, "ServiceUnavailable", message)
    }

    /// 504 Timeout.
    pub fn timeout(message: impl Into<String>) -> Self {
        ApiError::new(504, "Timeout", message).with_details(StatusDetails {
            retry_after_seconds: 1,
            ..Default::default()
        })
    }

    /// A generic failure with the reason the real server uses for `code`
    /// (used by fault injection).
    pub fn for_code(code: u16, message: Option<&str>) -> Self {
        let m = |d: &str| message.unwrap_or(d).to_string();
        match code {
            400 => ApiError::bad_request(m("injected fault: bad request")),
            401 => ApiError::new(401, "Unauthorized", m("Unauthorized")),
            403 => ApiError::new(403, "Forbidden", m("injected fault: forbidden")),
            404 => ApiError::resource_not_found(),
            405 => ApiError::method_not_allowed(),
            409 => ApiError::new(409, "Conflict", m("injected fault: conflict")),
            410 => ApiError::expired(m("injected fault: expired")),
            422 => ApiError::new(422, "Invalid", m("injected fault: invalid")),
            429 => ApiError::too_many_requests(m("Too many requests, please try again later.")),
            500 => ApiError::internal(m("injected fault")),
            503 => ApiError::service_unavailable(m(
                "the server is currently unable to handle the request",
            )),
            504 => ApiError::timeout(m(
                "Timeout: request did not complete within the allotted timeout",
            )),
            other => ApiError::new(other, "", m("injected fault")),
        }
    }

    /// The `Status` JSON body.
    pub fn to_status(&self) -> Value {
        let mut status = json!({
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
        });
        let obj = status.as_object_mut().expect("object");
        if !self.reason.is_empty() {
            obj.insert("reason".into(), Value::String(self.reason.clone()));
        }
        if let Some(d) = &self.details {
            obj.insert(
                "details".into(),
                serde_json::to_value(d).unwrap_or(Value::Null),
            );
        }
        obj.insert("code".into(), json!(self.code));
        status
    }
}

/// The `Status` with `status: Success` that some deletes return.
pub(crate) fn success_status(group: &str, resource: &str, name: &str, uid: &str) -> Value {
    let details = StatusDetails {
        name: name.into(),
        group: group.into(),
        kind: resource.into(),
        uid: uid.into(),
        ..Default::default()
    };
    json!({
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Success",
        "details": serde_json::to_value(details).unwrap_or(Value::Null),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn not_found_message_matches_apiserver() {
        let e = ApiError::not_found("apps", "deployments", "web");
        assert_eq!(e.message, "deployments.apps \"web\" not found");
        let s = e.to_status();
        assert_eq!(s["reason"], "NotFound");
        assert_eq!(s["code"], 404);
        assert_eq!(s["details"]["kind"], "deployments");
        assert!(s["details"].get("uid").is_none());
    }

    #[test]
    fn invalid_joins_several_errors() {
        let e = ApiError::invalid(
            "",
            "ConfigMap",
            "x",
            vec![
                FieldError::required("metadata.name", "name or generateName is required"),
                FieldError::invalid("metadata.labels", &json!("a b"), "bad"),
            ],
        );
        assert_eq!(
            e.message,
            "ConfigMap \"x\" is invalid: [metadata.name: Required value: name or generateName is required, metadata.labels: Invalid value: \"a b\": bad]"
        );
        assert_eq!(e.code, 422);
        let d = e.details.unwrap();
        assert_eq!(d.causes[0].reason, "FieldValueRequired");
    }
}
