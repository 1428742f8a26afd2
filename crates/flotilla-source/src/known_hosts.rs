//! Checking SSH host keys against an OpenSSH `known_hosts` file.
//!
//! Supports plain and hashed (`|1|salt|hash`) host names, `[host]:port`
//! entries, `*`/`?` wildcards, `!` negations and `@revoked` markers.
//! `@cert-authority` lines are ignored (host certificates are not supported).

use std::path::{Path, PathBuf};

use super::SourceError;
use flotilla_core::digest::{base64_decode, hmac_sha1};

/// The parsed lines of a `known_hosts` file.
#[derive(Debug, Clone)]
pub(crate) struct KnownHosts {
    path: PathBuf,
    entries: Vec<Entry>,
}

/// The verdict on a host key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum HostKeyCheck {
    /// The key is listed for the host.
    Match,
    /// The host is listed with another key of the same type: possibly an attack.
    Mismatch,
    /// The host (or this key type for it) is not listed.
    Unknown,
    /// The key is marked `@revoked`.
    Revoked,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Marker {
    None,
    Revoked,
    CertAuthority,
}

#[derive(Debug, Clone)]
enum Hosts {
    Hashed { salt: Vec<u8>, hash: Vec<u8> },
    Patterns(Vec<String>),
}

#[derive(Debug, Clone)]
struct Entry {
    marker: Marker,
    hosts: Hosts,
    key_type: String,
    key: Vec<u8>,
}

impl KnownHosts {
    /// Reads and parses the file; malformed lines are skipped, as OpenSSH does.
    pub(crate) fn load(path: &Path) -> Result<Self, SourceError> {
        let text = std::fs::read_to_string(path).map_err(|e| SourceError::Credentials {
            origin: path.display().to_string(),
            reason: format!("cannot read the known_hosts file: {e}"),
        })?;
        Ok(Self::parse(path, &text))
    }

    /// The file this was read from.
    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    fn parse(path: &Path, text: &str) -> Self {
        let entries = text.lines().filter_map(parse_line).collect();
        Self {
            path: path.to_owned(),
            entries,
        }
    }

    /// Checks the key of type `key_type` (e.g. `ssh-ed25519`) presented by
    /// `host` on `port` (`None` or 22 for the default port).
    pub(crate) fn check(
        &self,
        host: &str,
        port: Option<u16>,
        key_type: &str,
        key: &[u8],
    ) -> HostKeyCheck {
        let name = match port {
            Some(p) if p != 22 => format!("[{host}]:{p}"),
            _ => host.to_owned(),
        };
        let matching = || self.entries.iter().filter(|e| e.hosts.matches(&name));
        if matching().any(|e| e.marker == Marker::Revoked && e.key == key) {
            return HostKeyCheck::Revoked;
        }
        let plain = || matching().filter(|e| e.marker == Marker::None);
        if plain().any(|e| e.key_type == key_type && e.key == key) {
            HostKeyCheck::Match
        } else if plain().any(|e| e.key_type == key_type) {
            HostKeyCheck::Mismatch
        } else {
            HostKeyCheck::Unknown
        }
    }
}

fn parse_line(line: &str) -> Option<Entry> {
    let line = line.trim();
    if line.is_empty() || line.starts_with('#') {
        return None;
    }
    let mut fields = line.split_whitespace();
    let mut first = fields.next()?;
    let marker = match first {
        "@revoked" => Marker::Revoked,
        "@cert-authority" => Marker::CertAuthority,
        m if m.starts_with('@') => return None,
        _ => Marker::None,
    };
    if marker != Marker::None {
        first = fields.next()?;
    }
    let hosts = if let Some(hashed) = first.strip_prefix("|1|") {
        let (salt, hash) = hashed.split_once('|')?;
        Hosts::Hashed {
            salt: base64_decode(salt)?,
            hash: base64_decode(hash)?,
        }
    } else {
        Hosts::Patterns(first.split(',').map(|p| p.to_ascii_lowercase()).collect())
    };
    let key_type = fields.next()?.to_owned();
    let key = base64_decode(fields.next()?)?;
    Some(Entry {
        marker,
        hosts,
        key_type,
        key,
    })
}

impl Hosts {
    fn matches(&self, name: &str) -> bool {
        match self {
            Hosts::Hashed { salt, hash } => hmac_sha1(salt, name.as_bytes()).as_slice() == hash,
            Hosts::Patterns(patterns) => {
                let name = name.to_ascii_lowercase();
                let mut positive = false;
                for pattern in patterns {
                    if let Some(negated) = pattern.strip_prefix('!') {
                        if glob(negated.as_bytes(), name.as_bytes()) {
                            return false;
                        }
                    } else if glob(pattern.as_bytes(), name.as_bytes()) {
                        positive = true;
                    }
                }
                positive
            }
        }
    }
}

/// `*` and `?` wildcard matching.
fn glob(pattern: &[u8], text: &[u8]) -> bool {
    let (mut p, mut t) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        if p < pattern.len() && (pattern[p] == b'?' || pattern[p] == text[t]) {
            p += 1;
            t += 1;
        } else if p < pattern.len() && pattern[p] == b'*' {
            star = Some((p, t));
            p += 1;
        } else if let Some((sp, st)) = star {
            p = sp + 1;
            t = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    pattern[p..].iter().all(|&c| c == b'*')
}

#[cfg(test)]
mod tests {
    use super::*;
    use flotilla_core::digest::base64_encode as encode;

    const KEY_A: &[u8] = b"key-a-bytes";
    const KEY_B: &[u8] = b"key-b-bytes";

    fn file(text: &str) -> KnownHosts {
        KnownHosts::parse(Path::new("known_hosts"), text)
    }

    #[test]
    fn plain_wildcard_port_and_negated_entries() {
        let kh = file(&format!(
            "# comment\n\
             github.com,140.82.112.3 ssh-ed25519 {a}\n\
             [git.internal]:2222 ssh-ed25519 {b}\n\
             *.corp.example,!evil.corp.example ssh-rsa {a} comment here\n\
             garbage line\n",
            a = encode(KEY_A),
            b = encode(KEY_B)
        ));
        assert_eq!(
            kh.check("github.com", None, "ssh-ed25519", KEY_A),
            HostKeyCheck::Match
        );
        assert_eq!(
            kh.check("GitHub.com", Some(22), "ssh-ed25519", KEY_A),
            HostKeyCheck::Match
        );
        assert_eq!(
            kh.check("github.com", None, "ssh-ed25519", KEY_B),
            HostKeyCheck::Mismatch
        );
        assert_eq!(
            kh.check("github.com", None, "ssh-rsa", KEY_B),
            HostKeyCheck::Unknown
        );
        assert_eq!(
            kh.check("git.internal", Some(2222), "ssh-ed25519", KEY_B),
            HostKeyCheck::Match
        );
        assert_eq!(
            kh.check("git.internal", None, "ssh-ed25519", KEY_B),
            HostKeyCheck::Unknown
        );
        assert_eq!(
            kh.check("a.corp.example", None, "ssh-rsa", KEY_A),
            HostKeyCheck::Match
        );
        assert_eq!(
            kh.check("evil.corp.example", None, "ssh-rsa", KEY_A),
            HostKeyCheck::Unknown
        );
    }

    #[test]
    fn hashed_and_revoked_entries() {
        let salt = b"0123456789abcdefghij";
        let hash = hmac_sha1(salt, b"git.example.com");
        let kh = file(&format!(
            "|1|{}|{} ssh-ed25519 {}\n@revoked * ssh-ed25519 {}\n",
            encode(salt),
            encode(&hash),
            encode(KEY_A),
            encode(KEY_B)
        ));
        assert_eq!(
            kh.check("git.example.com", None, "ssh-ed25519", KEY_A),
            HostKeyCheck::Match
        );
        assert_eq!(
            kh.check("other.example.com", None, "ssh-ed25519", KEY_A),
            HostKeyCheck::Unknown
        );
        assert_eq!(
            kh.check("git.example.com", None, "ssh-ed25519", KEY_B),
            HostKeyCheck::Revoked
        );
    }

    #[test]
    fn glob_matching() {
        assert!(glob(b"*", b"anything"));
        assert!(glob(b"a*c", b"abbbc"));
        assert!(glob(b"a?c", b"abc"));
        assert!(!glob(b"a?c", b"abbc"));
        assert!(glob(b"*.x.com", b"a.b.x.com"));
        assert!(!glob(b"*.x.com", b"x.com"));
    }
}
