//! Bearer-token authentication of the status page, the API and `/metrics`.
//!
//! A token file holds one token per line: `TOKEN [ROLE] [tenant=NAME]`,
//! words separated by spaces or tabs. ROLE is `read` (the default) or
//! `operate`; `tenant=NAME` scopes the token to one tenant of
//! `spec.tenants` (without it the token is the platform's and sees
//! everything). Blank lines and lines starting with `#` are ignored. Only SHA-256 digests of the tokens are kept in
//! memory; a presented token is hashed and compared with every digest in
//! constant time. A browser logs in once (`POST /login`): the cookie it gets
//! holds an HMAC-SHA256 of the token's digest under a key drawn at start-up,
//! never the token itself, so a restart logs every browser out.

use std::fmt;
use std::path::Path;
use std::sync::{Arc, RwLock};

use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// The name of the session cookie set by `POST /login`.
pub const SESSION_COOKIE: &str = "flotilla_session";

/// What a token may do. `Operate` includes `Read`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Role {
    /// See the status page, the API and the metrics.
    Read,
    /// Everything `Read` may, plus actions (sync, pause; a later issue).
    Operate,
}

impl Role {
    /// Whether this role may do what `needed` allows.
    pub fn allows(self, needed: Role) -> bool {
        self >= needed
    }
}

/// A malformed token file line. Names the file and the line, never the token.
#[derive(Debug, thiserror::Error)]
pub enum TokenFileError {
    /// The file could not be read.
    #[error("reading token file {file}")]
    Read {
        file: String,
        #[source]
        source: std::io::Error,
    },
    /// A line is not `TOKEN [ROLE] [tenant=NAME]`.
    #[error("token file {file}, line {line}: {reason}")]
    Line {
        file: String,
        line: usize,
        reason: &'static str,
    },
    /// The file holds no token.
    #[error("token file {file} holds no token")]
    Empty { file: String },
    /// A line names a tenant the fleet does not have.
    #[error(
        "token file {file}, line {line}: unknown tenant {tenant:?} (the fleet's tenants: {known})"
    )]
    UnknownTenant {
        file: String,
        line: usize,
        tenant: String,
        known: String,
    },
}

/// Who a request is: its role and, for a tenant token, the tenant.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Principal {
    /// What it may do.
    pub role: Role,
    /// The tenant it is scoped to; `None`: the platform (sees everything).
    pub tenant: Option<Arc<str>>,
}

impl Principal {
    /// The principal of a server without tokens: the platform, operate.
    pub fn platform_operator() -> Self {
        Self {
            role: Role::Operate,
            tenant: None,
        }
    }
}

struct Entry {
    digest: [u8; 32],
    session: [u8; 32],
    role: Role,
    tenant: Option<Arc<str>>,
    line: usize,
}

/// The tokens of a token file, as digests, with their roles.
pub struct Tokens {
    entries: Vec<Entry>,
    key: [u8; 32],
    file: String,
}

impl fmt::Debug for Tokens {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Tokens")
            .field("count", &self.entries.len())
            .finish_non_exhaustive()
    }
}

fn sha256(bytes: &[u8]) -> [u8; 32] {
    Sha256::digest(bytes).into()
}

fn session_value(key: &[u8; 32], digest: &[u8; 32]) -> [u8; 32] {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes any key length");
    mac.update(b"flotilla session v1\0");
    mac.update(digest);
    mac.finalize().into_bytes().into()
}

fn to_hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn from_hex(s: &str) -> Option<[u8; 32]> {
    if s.len() != 64 || !s.is_ascii() {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, o) in out.iter_mut().enumerate() {
        *o = u8::from_str_radix(&s[2 * i..2 * i + 2], 16).ok()?;
    }
    Some(out)
}

impl Tokens {
    /// Parses a token file's text (`file` names it in errors).
    pub fn parse(file: &str, text: &str) -> Result<Self, TokenFileError> {
        let key: [u8; 32] = rand::random();
        let mut entries = Vec::new();
        for (i, raw) in text.lines().enumerate() {
            let line = raw.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let err = |reason| TokenFileError::Line {
                file: file.to_string(),
                line: i + 1,
                reason,
            };
            let mut words = line.split_whitespace().peekable();
            let token = words.next().unwrap_or_default();
            let role = match words.peek().copied() {
                Some(w) if w.starts_with("tenant=") => Role::Read,
                None | Some("read") => {
                    words.next();
                    Role::Read
                }
                Some("operate") => {
                    words.next();
                    Role::Operate
                }
                Some(_) => return Err(err("the role must be `read` or `operate`")),
            };
            let tenant = match words.next() {
                None => None,
                Some(w) => match w.strip_prefix("tenant=") {
                    Some(name) if flotilla_core::model::names::is_dns1123_label(name) => {
                        Some(Arc::from(name))
                    }
                    Some(_) => {
                        return Err(err(
                            "a tenant name must be a DNS-1123 label (`tenant=team-a`)",
                        ));
                    }
                    None => return Err(err("expected `TOKEN [ROLE] [tenant=NAME]`")),
                },
            };
            if words.next().is_some() {
                return Err(err("expected `TOKEN [ROLE] [tenant=NAME]`"));
            }
            if token.len() < 16 {
                return Err(err("a token must be at least 16 characters long"));
            }
            if !token.bytes().all(|b| b.is_ascii_graphic()) {
                return Err(err("a token must be printable ASCII"));
            }
            let digest = sha256(token.as_bytes());
            entries.push(Entry {
                digest,
                session: session_value(&key, &digest),
                role,
                tenant,
                line: i + 1,
            });
        }
        if entries.is_empty() {
            return Err(TokenFileError::Empty {
                file: file.to_string(),
            });
        }
        Ok(Self {
            entries,
            key,
            file: file.to_string(),
        })
    }

    /// Checks that every tenant the file names is one of `known` (the
    /// fleet's tenants); the error names the first line that names another,
    /// never its token.
    pub fn check_tenants<'a>(
        &self,
        known: impl IntoIterator<Item = &'a str> + Clone,
    ) -> Result<(), TokenFileError> {
        for e in &self.entries {
            if let Some(t) = &e.tenant
                && !known.clone().into_iter().any(|k| k == &**t)
            {
                let names: Vec<&str> = known.into_iter().collect();
                return Err(TokenFileError::UnknownTenant {
                    file: self.file.clone(),
                    line: e.line,
                    tenant: t.to_string(),
                    known: if names.is_empty() {
                        "none".to_string()
                    } else {
                        names.join(", ")
                    },
                });
            }
        }
        Ok(())
    }

    /// Reads and parses a token file.
    pub fn read(path: &Path) -> Result<Self, TokenFileError> {
        let file = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| TokenFileError::Read {
            file: file.clone(),
            source,
        })?;
        Self::parse(&file, &text)
    }

    /// The role of a bearer token, compared in constant time with every
    /// known token's digest. `None`: unknown.
    pub fn role_of_token(&self, token: &str) -> Option<Role> {
        self.principal_of_token(token).map(|p| p.role)
    }

    /// The role and tenant of a bearer token (see [`Self::role_of_token`]).
    pub fn principal_of_token(&self, token: &str) -> Option<Principal> {
        let digest = sha256(token.as_bytes());
        self.find(|e| e.digest.ct_eq(&digest).into())
    }

    /// The role of a session cookie's value. `None`: unknown or stale.
    pub fn role_of_session(&self, value: &str) -> Option<Role> {
        self.principal_of_session(value).map(|p| p.role)
    }

    /// The role and tenant of a session cookie's value.
    pub fn principal_of_session(&self, value: &str) -> Option<Principal> {
        let value = from_hex(value)?;
        self.find(|e| e.session.ct_eq(&value).into())
    }

    /// The session cookie value of a token, `None` when the token is unknown.
    pub fn session_for(&self, token: &str) -> Option<String> {
        self.role_of_token(token)?;
        Some(to_hex(&session_value(&self.key, &sha256(token.as_bytes()))))
    }

    /// Visits every entry (no early exit), so timing does not tell which
    /// entry matched.
    fn find(&self, matches: impl Fn(&Entry) -> bool) -> Option<Principal> {
        let mut found = None;
        for e in &self.entries {
            if matches(e) && found.is_none() {
                found = Some(Principal {
                    role: e.role,
                    tenant: e.tenant.clone(),
                });
            }
        }
        found
    }

    /// Keeps the session key of `old`, so reloading the file does not log
    /// browsers out whose tokens are still there.
    pub fn keep_sessions_of(mut self, old: &Tokens) -> Self {
        self.key = old.key;
        for e in &mut self.entries {
            e.session = session_value(&self.key, &e.digest);
        }
        self
    }
}

/// The authentication settings of the HTTP server.
#[derive(Clone, Debug, Default)]
pub struct AuthConfig {
    /// The accepted tokens; `None`: no authentication (only allowed on
    /// loopback or with `--insecure-no-auth`). Replaced in place on reload.
    pub tokens: Option<Arc<RwLock<Tokens>>>,
    /// Always mark the session cookie `Secure` (set it when a TLS proxy sits
    /// in front; it is also set when the request says
    /// `X-Forwarded-Proto: https`).
    pub secure_cookie: bool,
}

/// The login form: a password field posted to `/login`. `message` is shown
/// above it (escaped); the token is never put back into the page.
pub fn login_page(message: &str) -> String {
    format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>Flotilla: log in</title></head>\n\
<body><h1>Flotilla</h1><p>{}</p>\n\
<form method=\"post\" action=\"/login\"><label>Token <input type=\"password\" name=\"token\" autocomplete=\"current-password\" required></label> \
<button type=\"submit\">Log in</button></form></body></html>\n",
        flotilla_core::report::html::escape(message)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const T1: &str = "read-token-0123456789";
    const T2: &str = "operate-token-0123456789";

    #[test]
    fn roles_comments_and_sessions() {
        let t = Tokens::parse("f", &format!("# c\n\n{T1}\n{T2} operate\n")).unwrap();
        assert_eq!(t.role_of_token(T1), Some(Role::Read));
        assert_eq!(t.role_of_token(T2), Some(Role::Operate));
        assert_eq!(t.role_of_token("read-token-012345678"), None);
        let s = t.session_for(T2).unwrap();
        assert!(!s.contains(T2));
        assert_eq!(t.role_of_session(&s), Some(Role::Operate));
        assert_eq!(t.role_of_session("00"), None);
        assert!(Role::Operate.allows(Role::Read));
        assert!(!Role::Read.allows(Role::Operate));
    }

    #[test]
    fn malformed_lines_name_the_line_not_the_token() {
        let e = Tokens::parse("tokens.txt", &format!("{T1}\n{T2} admin\n")).unwrap_err();
        let msg = e.to_string();
        assert!(msg.contains("tokens.txt, line 2"), "{msg}");
        assert!(!msg.contains(T2), "{msg}");
        assert!(matches!(
            Tokens::parse("f", "# only\n"),
            Err(TokenFileError::Empty { .. })
        ));
        let e = Tokens::parse("f", "short\n").unwrap_err().to_string();
        assert!(e.contains("line 1") && !e.contains("short"), "{e}");
    }

    #[test]
    fn tenant_tokens_and_unknown_tenants() {
        let t = Tokens::parse(
            "tokens.txt",
            &format!("{T1} tenant=team-a\n{T2} operate tenant=team-b\nplatform-token-0123456789 operate\n"),
        )
        .unwrap();
        let p = t.principal_of_token(T1).unwrap();
        assert_eq!((p.role, p.tenant.as_deref()), (Role::Read, Some("team-a")));
        let p = t.principal_of_token(T2).unwrap();
        assert_eq!(
            (p.role, p.tenant.as_deref()),
            (Role::Operate, Some("team-b"))
        );
        let s = t.session_for(T2).unwrap();
        assert_eq!(
            t.principal_of_session(&s).unwrap().tenant.as_deref(),
            Some("team-b")
        );
        assert_eq!(
            t.principal_of_token("platform-token-0123456789")
                .unwrap()
                .tenant,
            None
        );
        assert!(t.check_tenants(["team-a", "team-b"]).is_ok());
        let e = t.check_tenants(["team-a"]).unwrap_err();
        assert!(
            matches!(e, TokenFileError::UnknownTenant { line: 2, .. }),
            "{e:?}"
        );
        let msg = e.to_string();
        assert!(
            msg.contains("tokens.txt, line 2") && msg.contains("team-b"),
            "{msg}"
        );
        assert!(!msg.contains(T2), "{msg}");
        for bad in [
            format!("{T1} tenant=\n"),
            format!("{T1} read team-a\n"),
            format!("{T1} tenant=Team_A\n"),
            format!("{T1} tenant=a tenant=b\n"),
        ] {
            let e = Tokens::parse("f", &bad).unwrap_err().to_string();
            assert!(e.contains("line 1") && !e.contains(T1), "{e}");
        }
    }
}
