//! `/openapi/v3` and `/openapi/v3/<group-version>`, served verbatim from the
//! OpenAPI v3 documents recorded from a real kube-apiserver v1.32.13 (they
//! are 6 MB, so they are read at request time rather than compiled in).
//!
//! The folder is `$FLOTILLA_OPENAPI_DIR/openapi-v3`, by default the shared
//! recordings next to the repository
//! (`<repo>/../shared/apiserver-traces/openapi`). `index.json` answers
//! `/openapi/v3`; `/openapi/v3/apis/apps/v1` is `apis__apps__v1.json` (the
//! `hash` query is ignored). A missing folder or document is a 404 (and a
//! warning in the log). The documents describe the recording server (its
//! built-ins plus the Gateway API CRDs), not kinds registered here later.

use std::path::PathBuf;

use axum::body::Body;
use hyper::{Response, header};

use crate::status::ApiError;

fn openapi_dir() -> PathBuf {
    match std::env::var_os("FLOTILLA_OPENAPI_DIR") {
        Some(d) => PathBuf::from(d),
        None => PathBuf::from(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../../shared/apiserver-traces/openapi"
        )),
    }
}

/// The response for `/openapi/v3` (`None`) or `/openapi/v3/<path>`.
pub(crate) fn serve(path: Option<&str>) -> Response<Body> {
    let file = match path {
        None => "index.json".to_string(),
        Some(p) => {
            if p.split('/').any(|s| s == ".." || s.is_empty()) {
                return not_found();
            }
            format!("{}.json", p.replace('/', "__"))
        }
    };
    let full = openapi_dir().join("openapi-v3").join(&file);
    match std::fs::read(&full) {
        Ok(bytes) => Response::builder()
            .status(200)
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(bytes))
            .expect("valid response"),
        Err(e) => {
            tracing::warn!(path = %full.display(), error = %e, "kube-testserver: no recorded OpenAPI v3 document (set FLOTILLA_OPENAPI_DIR)");
            not_found()
        }
    }
}

fn not_found() -> Response<Body> {
    let e = ApiError::resource_not_found();
    Response::builder()
        .status(404)
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(e.to_status().to_string()))
        .expect("valid response")
}
