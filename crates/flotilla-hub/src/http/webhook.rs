//! Push webhooks: a verified push to the followed branch wakes the reconcile
//! loop (`trigger.notify_one()`), which then polls Git at once.
//!
//! Answers are JSON: `{"status": "triggered" | "ignored" | "pong", "reason":
//! ...}` on success, `{"error": ...}` otherwise. Secrets, tokens and
//! signatures are never logged nor echoed.

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use hmac::{Hmac, Mac};
use serde::Deserialize;
use sha2::{Digest, Sha256};

use super::App;
use super::api::error;

type HmacSha256 = Hmac<Sha256>;

/// The secret, unless unset or empty (an empty HMAC key or token would
/// accept anyone who guesses it is empty).
fn configured(secret: &Option<String>) -> Option<&str> {
    secret.as_deref().filter(|s| !s.is_empty())
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

fn status(code: StatusCode, status: &str, reason: Option<String>) -> Response {
    let mut body = serde_json::json!({ "status": status });
    if let Some(r) = reason {
        body["reason"] = r.into();
    }
    (code, Json(body)).into_response()
}

/// Lower- or upper-case hex to bytes; `None` if not hex.
fn decode_hex(hex: &[u8]) -> Option<Vec<u8>> {
    if !hex.len().is_multiple_of(2) {
        return None;
    }
    let nibble = |c: u8| match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    };
    hex.chunks_exact(2)
        .map(|p| Some(nibble(p[0])? << 4 | nibble(p[1])?))
        .collect()
}

/// Whether `header` is `sha256=<hex of HMAC-SHA256(secret, body)>`, compared
/// in constant time.
fn github_signature_ok(secret: &str, header: &[u8], body: &[u8]) -> bool {
    let Some(sig) = header.strip_prefix(b"sha256=").and_then(decode_hex) else {
        return false;
    };
    let Ok(mut mac) = HmacSha256::new_from_slice(secret.as_bytes()) else {
        return false;
    };
    mac.update(body);
    mac.verify_slice(&sig).is_ok()
}

/// Whether two tokens are equal, in time independent of where they differ
/// and of their lengths (their SHA-256 digests are compared).
fn tokens_equal(a: &[u8], b: &[u8]) -> bool {
    let (a, b) = (Sha256::digest(a), Sha256::digest(b));
    let diff = a
        .iter()
        .zip(b.iter())
        .fold(0u8, |acc, (x, y)| acc | (x ^ y));
    std::hint::black_box(diff) == 0
}

/// The part of a push payload (GitHub and GitLab alike) that is read.
#[derive(Deserialize)]
struct Push {
    #[serde(rename = "ref")]
    git_ref: Option<String>,
}

/// Whether a pushed ref is the followed branch (or tag): `main` follows
/// `refs/heads/main` (and `refs/tags/main`); a full ref follows itself.
fn ref_matches(branch: &str, pushed: &str) -> bool {
    pushed == branch
        || pushed.strip_prefix("refs/heads/") == Some(branch)
        || pushed.strip_prefix("refs/tags/") == Some(branch)
}

/// A verified push: triggers a poll unless it is to another ref than the one
/// followed.
fn push(app: &App, source: &'static str, body: &[u8]) -> Response {
    if let Some(branch) = app.ctx.webhook.branch.as_deref().filter(|b| !b.is_empty()) {
        let pushed = serde_json::from_slice::<Push>(body)
            .ok()
            .and_then(|p| p.git_ref);
        let Some(pushed) = pushed else {
            tracing::warn!(source, "push webhook without a ref in a JSON body");
            return error(
                StatusCode::BAD_REQUEST,
                "push payload has no \"ref\" (send it as application/json)",
            );
        };
        if !ref_matches(branch, &pushed) {
            tracing::info!(source, %pushed, branch, "push webhook for another ref: ignored");
            return status(
                StatusCode::ACCEPTED,
                "ignored",
                Some(format!("push to {pushed}; following {branch}")),
            );
        }
    }
    tracing::info!(source, "push webhook: polling Git now");
    app.ctx.trigger.notify_one();
    status(StatusCode::ACCEPTED, "triggered", None)
}

/// `POST /webhook/github`: `X-Hub-Signature-256` must be the HMAC-SHA256 of
/// the body under the secret. `ping` → 200, `push` → 202 (triggers), other
/// events → 202 ignored.
pub(super) async fn github(State(app): State<App>, headers: HeaderMap, body: Bytes) -> Response {
    let Some(secret) = configured(&app.ctx.webhook.github_secret) else {
        return error(StatusCode::FORBIDDEN, "webhook not configured");
    };
    let event = header(&headers, "x-github-event").unwrap_or("");
    let delivery = header(&headers, "x-github-delivery").unwrap_or("-");
    let Some(signature) = headers.get("x-hub-signature-256") else {
        tracing::warn!(event, delivery, "GitHub webhook without a signature");
        return error(StatusCode::UNAUTHORIZED, "missing X-Hub-Signature-256");
    };
    if !github_signature_ok(secret, signature.as_bytes(), &body) {
        tracing::warn!(event, delivery, "GitHub webhook with a bad signature");
        return error(StatusCode::UNAUTHORIZED, "bad signature");
    }
    tracing::debug!(event, delivery, "GitHub webhook");
    match event {
        "ping" => status(StatusCode::OK, "pong", None),
        "push" => push(&app, "github", &body),
        other => status(
            StatusCode::ACCEPTED,
            "ignored",
            Some(format!("event {other:?} is not a push")),
        ),
    }
}

/// `POST /webhook/gitlab`: `X-Gitlab-Token` must equal the token.
/// `Push Hook` and `Tag Push Hook` → 202 (trigger), other events → 202
/// ignored.
pub(super) async fn gitlab(State(app): State<App>, headers: HeaderMap, body: Bytes) -> Response {
    let Some(token) = configured(&app.ctx.webhook.gitlab_token) else {
        return error(StatusCode::FORBIDDEN, "webhook not configured");
    };
    let event = header(&headers, "x-gitlab-event").unwrap_or("");
    let Some(given) = headers.get("x-gitlab-token") else {
        tracing::warn!(event, "GitLab webhook without a token");
        return error(StatusCode::UNAUTHORIZED, "missing X-Gitlab-Token");
    };
    if !tokens_equal(given.as_bytes(), token.as_bytes()) {
        tracing::warn!(event, "GitLab webhook with a wrong token");
        return error(StatusCode::UNAUTHORIZED, "bad token");
    }
    match event {
        "Push Hook" | "Tag Push Hook" => push(&app, "gitlab", &body),
        other => status(
            StatusCode::ACCEPTED,
            "ignored",
            Some(format!("event {other:?} is not a push")),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex() {
        assert_eq!(decode_hex(b"00ffA0"), Some(vec![0, 255, 160]));
        assert_eq!(decode_hex(b"0"), None);
        assert_eq!(decode_hex(b"zz"), None);
    }

    #[test]
    fn github_signature() {
        // The example of GitHub's documentation ("Validating webhook deliveries").
        let sig = b"sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17";
        assert!(github_signature_ok(
            "It's a Secret to Everybody",
            sig,
            b"Hello, World!"
        ));
        assert!(!github_signature_ok("other", sig, b"Hello, World!"));
        assert!(!github_signature_ok(
            "It's a Secret to Everybody",
            &sig[..20],
            b"Hello, World!"
        ));
        assert!(!github_signature_ok(
            "It's a Secret to Everybody",
            &sig[7..],
            b"Hello, World!"
        ));
    }

    #[test]
    fn tokens() {
        assert!(tokens_equal(b"abc", b"abc"));
        assert!(!tokens_equal(b"abc", b"abd"));
        assert!(!tokens_equal(b"abc", b"abcd"));
        assert!(!tokens_equal(b"", b"a"));
    }

    #[test]
    fn refs() {
        assert!(ref_matches("main", "refs/heads/main"));
        assert!(ref_matches("refs/heads/main", "refs/heads/main"));
        assert!(ref_matches("v1", "refs/tags/v1"));
        assert!(!ref_matches("main", "refs/heads/dev"));
        assert!(!ref_matches("main", "refs/heads/main2"));
    }
}
