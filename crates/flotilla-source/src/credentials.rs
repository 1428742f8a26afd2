//! Credentials for Git remotes: HTTPS tokens or passwords, SSH keys, and the
//! `known_hosts` file that SSH host keys are checked against.
//!
//! Secrets live in [`Secret`], whose `Debug` prints `***` and which has no
//! `Display`: a credential cannot end up in a log line or an error by accident.

use std::fmt;
use std::path::{Path, PathBuf};

use super::SourceError;

/// Environment variables holding an HTTPS token (sent as the password of HTTP
/// basic authentication), the HTTPS password and the SSH key's passphrase:
/// one definition, shared with the redaction of cluster messages.
pub use flotilla_redact::{ENV_PASSWORD, ENV_SSH_PASSPHRASE, ENV_TOKEN};
/// Environment variable holding the HTTPS user name.
pub const ENV_USERNAME: &str = "FLOTILLA_GIT_USERNAME";
/// Environment variable naming an SSH private key file.
pub const ENV_SSH_KEY: &str = "FLOTILLA_GIT_SSH_KEY";
/// Environment variable naming a `known_hosts` file for SSH host key checking.
pub const ENV_KNOWN_HOSTS: &str = "FLOTILLA_GIT_KNOWN_HOSTS";

/// The user name sent with a token when no user name is configured; GitHub,
/// GitLab and Gitea accept a token with any user name.
pub const TOKEN_USERNAME: &str = "x-access-token";

/// A secret string: redacted in `Debug`, without `Display`.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret.
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The secret itself. Only for handing it to the transport.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

/// HTTP basic authentication: a password or a token, with an optional user name
/// (the URL's user name, then [`TOKEN_USERNAME`], are used when it is absent).
#[derive(Clone)]
pub struct HttpAuth {
    /// The user name, if configured.
    pub username: Option<String>,
    /// The password or token.
    pub secret: Secret,
}

/// An SSH private key file, and its passphrase if it has one.
#[derive(Clone)]
pub struct SshKey {
    /// Path of the private key (OpenSSH or PEM format).
    pub private_key: PathBuf,
    /// Passphrase of the key.
    pub passphrase: Option<Secret>,
}

/// Everything needed to authenticate to a Git remote. The default is no
/// credentials: anonymous HTTPS, and the SSH agent for SSH.
#[derive(Clone, Default)]
pub struct Credentials {
    /// For `http://` and `https://` remotes.
    pub http: Option<HttpAuth>,
    /// For `ssh://` and scp-like remotes; without it the SSH agent is asked.
    pub ssh_key: Option<SshKey>,
    /// The `known_hosts` file SSH host keys must be listed in. Without it,
    /// libgit2 checks `~/.ssh/known_hosts`.
    pub known_hosts: Option<PathBuf>,
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("http", &self.http.as_ref().map(|_| "<redacted>"))
            .field("ssh_key", &self.ssh_key.as_ref().map(|k| &k.private_key))
            .field("known_hosts", &self.known_hosts)
            .finish()
    }
}

impl fmt::Debug for HttpAuth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("HttpAuth(<redacted>)")
    }
}

impl fmt::Debug for SshKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SshKey")
            .field("private_key", &self.private_key)
            .field("passphrase", &self.passphrase.as_ref().map(|_| "***"))
            .finish()
    }
}

impl Credentials {
    /// No credentials.
    pub fn none() -> Self {
        Self::default()
    }

    /// An HTTPS token.
    pub fn token(token: impl Into<String>) -> Self {
        Self {
            http: Some(HttpAuth {
                username: None,
                secret: Secret::new(token),
            }),
            ..Self::default()
        }
    }

    /// An HTTPS user name and password.
    pub fn basic(username: impl Into<String>, password: impl Into<String>) -> Self {
        Self {
            http: Some(HttpAuth {
                username: Some(username.into()),
                secret: Secret::new(password),
            }),
            ..Self::default()
        }
    }

    /// What the CLI wants: credentials from the environment, overridden by those
    /// of `file` (`--git-credentials FILE`) where the file sets them.
    pub fn from_env_and_file(file: Option<&Path>) -> Result<Self, SourceError> {
        let env = Self::from_env()?;
        match file {
            Some(path) => Ok(Self::from_file(path)?.or(env)),
            None => Ok(env),
        }
    }

    /// Credentials from `FLOTILLA_GIT_TOKEN`, or `FLOTILLA_GIT_USERNAME` and
    /// `FLOTILLA_GIT_PASSWORD`; `FLOTILLA_GIT_SSH_KEY` (+ `FLOTILLA_GIT_SSH_PASSPHRASE`)
    /// and `FLOTILLA_GIT_KNOWN_HOSTS`.
    pub fn from_env() -> Result<Self, SourceError> {
        Self::from_vars(|name| std::env::var(name).ok())
    }

    /// Like [`Credentials::from_env`], reading variables through `var`.
    pub fn from_vars(var: impl Fn(&str) -> Option<String>) -> Result<Self, SourceError> {
        let get = |name: &str| var(name).filter(|v| !v.trim().is_empty());
        let token = get(ENV_TOKEN);
        let password = get(ENV_PASSWORD);
        let username = get(ENV_USERNAME).map(|u| u.trim().to_owned());
        let http = match (token, password) {
            (Some(_), Some(_)) => {
                return Err(SourceError::Credentials {
                    origin: "the environment".into(),
                    reason: format!("both {ENV_TOKEN} and {ENV_PASSWORD} are set; set only one"),
                });
            }
            (Some(secret), None) | (None, Some(secret)) => Some(HttpAuth {
                username,
                secret: Secret::new(secret.trim()),
            }),
            (None, None) => None,
        };
        Ok(Self {
            http,
            ssh_key: get(ENV_SSH_KEY).map(|key| SshKey {
                private_key: PathBuf::from(key),
                passphrase: get(ENV_SSH_PASSPHRASE).map(Secret::new),
            }),
            known_hosts: get(ENV_KNOWN_HOSTS).map(PathBuf::from),
        })
    }

    /// Credentials from a file. Either a single line holding a token; or a
    /// `https://user:password@host` line (the format of `git credential-store`);
    /// or `key=value` lines with the keys `username`, `password`, `token`,
    /// `ssh_key`, `ssh_passphrase` and `known_hosts`. Blank lines and lines
    /// starting with `#` are ignored. Errors name the line, never its content.
    pub fn from_file(path: &Path) -> Result<Self, SourceError> {
        let text = std::fs::read_to_string(path).map_err(|e| SourceError::Credentials {
            origin: path.display().to_string(),
            reason: format!("cannot read the file: {e}"),
        })?;
        warn_if_readable_by_others(path);
        Self::parse(&text).map_err(|reason| SourceError::Credentials {
            origin: path.display().to_string(),
            reason,
        })
    }

    /// These credentials, with each part that is unset taken from `fallback`.
    pub fn or(self, fallback: Credentials) -> Credentials {
        Credentials {
            http: self.http.or(fallback.http),
            ssh_key: self.ssh_key.or(fallback.ssh_key),
            known_hosts: self.known_hosts.or(fallback.known_hosts),
        }
    }

    /// The secrets held, for scrubbing messages.
    pub(crate) fn secrets(&self) -> impl Iterator<Item = &str> {
        let http = self.http.as_ref().map(|h| h.secret.expose());
        let ssh = self
            .ssh_key
            .as_ref()
            .and_then(|k| k.passphrase.as_ref())
            .map(Secret::expose);
        http.into_iter().chain(ssh)
    }

    fn parse(text: &str) -> Result<Self, String> {
        let lines: Vec<(usize, &str)> = text
            .lines()
            .enumerate()
            .map(|(i, l)| (i + 1, l.trim()))
            .filter(|(_, l)| !l.is_empty() && !l.starts_with('#'))
            .collect();
        if lines.is_empty() {
            return Err("the file holds no credentials".into());
        }
        if let [(_, only)] = lines.as_slice() {
            if let Some(creds) = parse_store_line(only) {
                return Ok(creds);
            }
            if !only.contains('=') {
                return Ok(Self::token(*only));
            }
        }
        let mut username = None;
        let mut password = None;
        let mut token = None;
        let mut creds = Self::default();
        let mut passphrase = None;
        for (number, line) in lines {
            let Some((key, value)) = line.split_once('=') else {
                return Err(format!("line {number} is not of the form key=value"));
            };
            let value = value.trim();
            match key.trim() {
                "username" => username = Some(value.to_owned()),
                "password" => password = Some(Secret::new(value)),
                "token" => token = Some(Secret::new(value)),
                "ssh_key" => {
                    creds.ssh_key = Some(SshKey {
                        private_key: PathBuf::from(value),
                        passphrase: None,
                    })
                }
                "ssh_passphrase" => passphrase = Some(Secret::new(value)),
                "known_hosts" => creds.known_hosts = Some(PathBuf::from(value)),
                other => {
                    return Err(format!(
                        "line {number}: unknown key '{}' (expected username, password, token, \
                         ssh_key, ssh_passphrase or known_hosts)",
                        other.chars().take(32).collect::<String>()
                    ));
                }
            }
        }
        creds.http = match (token, password) {
            (Some(_), Some(_)) => {
                return Err("both token and password are set; set only one".into());
            }
            (Some(secret), None) | (None, Some(secret)) => Some(HttpAuth { username, secret }),
            (None, None) if username.is_some() => {
                return Err("a username is set without a password or token".into());
            }
            (None, None) => None,
        };
        if let Some(passphrase) = passphrase {
            match creds.ssh_key.as_mut() {
                Some(key) => key.passphrase = Some(passphrase),
                None => return Err("ssh_passphrase is set without ssh_key".into()),
            }
        }
        Ok(creds)
    }
}

/// `https://user:password@host[/...]`, one line of `~/.git-credentials`.
fn parse_store_line(line: &str) -> Option<Credentials> {
    let (scheme, rest) = line.split_once("://")?;
    if !scheme.starts_with("http") {
        return None;
    }
    let authority = &rest[..rest.find('/').unwrap_or(rest.len())];
    let (userinfo, _host) = authority.rsplit_once('@')?;
    let (user, password) = userinfo.split_once(':')?;
    Some(Credentials::basic(
        percent_decode(user),
        percent_decode(password),
    ))
}

/// Decodes `%XX` escapes (as `git credential-store` writes them).
fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && let (Some(hi), Some(lo)) = (hex_value(bytes.get(i + 1)), hex_value(bytes.get(i + 2)))
        {
            let v = hi * 16 + lo;
            out.push(v);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn hex_value(byte: Option<&u8>) -> Option<u8> {
    (*byte? as char).to_digit(16).map(|d| d as u8)
}

#[cfg(unix)]
fn warn_if_readable_by_others(path: &Path) {
    use std::os::unix::fs::PermissionsExt;
    if let Ok(meta) = std::fs::metadata(path)
        && meta.permissions().mode() & 0o077 != 0
    {
        tracing::warn!(
            file = %path.display(),
            "the Git credentials file is readable by other users; consider chmod 600"
        );
    }
}

#[cfg(not(unix))]
fn warn_if_readable_by_others(_path: &Path) {}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars<'a>(pairs: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |name| {
            pairs
                .iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| v.to_string())
        }
    }

    #[test]
    fn env_token_and_basic_auth() {
        let c = Credentials::from_vars(vars(&[(ENV_TOKEN, "tok123")])).unwrap();
        let http = c.http.unwrap();
        assert_eq!(http.secret.expose(), "tok123");
        assert_eq!(http.username, None);

        let c =
            Credentials::from_vars(vars(&[(ENV_USERNAME, "alice"), (ENV_PASSWORD, "pw")])).unwrap();
        assert_eq!(c.http.as_ref().unwrap().username.as_deref(), Some("alice"));

        let err = Credentials::from_vars(vars(&[(ENV_TOKEN, "a"), (ENV_PASSWORD, "b")]))
            .unwrap_err()
            .to_string();
        assert!(err.contains(ENV_TOKEN), "{err}");
        assert!(Credentials::from_vars(vars(&[])).unwrap().http.is_none());
    }

    #[test]
    fn file_formats() {
        let c = Credentials::parse("  ghp_abcdef \n").unwrap();
        assert_eq!(c.http.unwrap().secret.expose(), "ghp_abcdef");

        let c = Credentials::parse("# comment\nusername=bob\npassword=p=w\n").unwrap();
        let http = c.http.unwrap();
        assert_eq!(http.username.as_deref(), Some("bob"));
        assert_eq!(http.secret.expose(), "p=w");

        let c = Credentials::parse("https://bob:p%40ss@git.example.com\n").unwrap();
        assert_eq!(c.http.unwrap().secret.expose(), "p@ss");

        let c = Credentials::parse("ssh_key=/k\nssh_passphrase=pp\nknown_hosts=/kh").unwrap();
        assert_eq!(c.ssh_key.unwrap().passphrase.unwrap().expose(), "pp");

        let err = Credentials::parse("password=hunter2\nsecret=hunter2").unwrap_err();
        assert!(err.contains("line 2") && !err.contains("hunter2"), "{err}");
        assert!(Credentials::parse("username=x").is_err());
        assert!(Credentials::parse("\n# only a comment\n").is_err());
    }

    #[test]
    fn debug_never_shows_secrets() {
        let mut c = Credentials::basic("alice", "hunter2");
        c.ssh_key = Some(SshKey {
            private_key: "/keys/id".into(),
            passphrase: Some(Secret::new("sesame")),
        });
        let shown = format!("{c:?} {:?} {:?}", c.http, c.ssh_key);
        assert!(
            !shown.contains("hunter2") && !shown.contains("sesame"),
            "{shown}"
        );
        assert!(shown.contains("/keys/id"));
    }

    #[test]
    fn file_values_win_over_env() {
        let file = Credentials::token("from-file");
        let env = Credentials {
            known_hosts: Some("/kh".into()),
            ..Credentials::token("from-env")
        };
        let c = file.or(env);
        assert_eq!(c.http.unwrap().secret.expose(), "from-file");
        assert_eq!(c.known_hosts.as_deref(), Some(Path::new("/kh")));
    }
}
