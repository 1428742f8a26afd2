//! Telling local folders from Git URLs, and naming the cache folder of a URL.

use std::path::PathBuf;

use super::SourceError;
use flotilla_core::digest::sha1_hex;
use flotilla_redact::redact_url;

/// Where a fleet repository lives.
#[derive(Clone, PartialEq, Eq)]
pub(crate) enum Location {
    /// A folder on this machine (a work tree, or a folder inside one).
    Local(PathBuf),
    /// A Git remote, fetched into a bare cache.
    Remote(RemoteUrl),
}

/// A Git URL together with the form of it that may be shown.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct RemoteUrl {
    raw: String,
    redacted: String,
}

impl RemoteUrl {
    /// The URL as given, possibly with credentials in it: only for libgit2.
    pub(crate) fn raw(&self) -> &str {
        &self.raw
    }

    /// The URL without credentials, query or fragment: for messages and logs.
    pub(crate) fn redacted(&self) -> &str {
        &self.redacted
    }

    /// The password (or token) embedded in the URL, if any, so that it can be
    /// scrubbed from messages.
    pub(crate) fn embedded_secret(&self) -> Option<&str> {
        let rest = &self.raw[self.raw.find("://")? + 3..];
        let authority = &rest[..rest.find('/').unwrap_or(rest.len())];
        let userinfo = &authority[..authority.rfind('@')?];
        Some(match userinfo.find(':') {
            Some(colon) => &userinfo[colon + 1..],
            None => userinfo,
        })
    }

    /// The host and port of the URL, when it has them (not for `file://`).
    pub(crate) fn host_port(&self) -> Option<(String, Option<u16>)> {
        let url = &self.redacted;
        let authority = match url.find("://") {
            Some(i) => {
                let rest = &url[i + 3..];
                &rest[..rest.find('/').unwrap_or(rest.len())]
            }
            None => {
                // scp-like: [user@]host:path
                let colon = url.find(':')?;
                let before = &url[..colon];
                return Some((
                    before[before.rfind('@').map_or(0, |a| a + 1)..].to_owned(),
                    None,
                ));
            }
        };
        if authority.is_empty() {
            return None;
        }
        let (host, port) = if let Some(rest) = authority.strip_prefix('[') {
            let close = rest.find(']')?;
            let port = rest[close + 1..]
                .strip_prefix(':')
                .and_then(|p| p.parse().ok());
            (&rest[..close], port)
        } else {
            match authority.rsplit_once(':') {
                Some((h, p)) => (h, p.parse().ok()),
                None => (authority, None),
            }
        };
        Some((host.to_owned(), port))
    }

    /// The name of this URL's cache folder: a readable, sanitised form of the
    /// URL followed by a hash of it, e.g. `github.com-org-fleet-1a2b3c4d5e6f7a8b`.
    pub(crate) fn cache_name(&self) -> String {
        let key = self.redacted.trim_end_matches('/');
        let readable: String = key
            .split_once("://")
            .map_or(key, |(_, rest)| rest)
            .trim_end_matches(".git")
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '.' || c == '_' {
                    c
                } else {
                    '-'
                }
            })
            .collect();
        let mut readable: String = readable
            .split('-')
            .filter(|s| !s.is_empty() && s.chars().any(|c| c != '.'))
            .collect::<Vec<_>>()
            .join("-");
        if readable.len() > 48 {
            readable = readable[readable.len() - 48..]
                .trim_start_matches('-')
                .to_owned();
        }
        let hash = &sha1_hex(key.as_bytes())[..16];
        if readable.is_empty() {
            hash.to_owned()
        } else {
            format!("{readable}-{hash}")
        }
    }
}

impl Location {
    /// Parses a location the way Git does: `scheme://...` is a URL (file, git,
    /// http, https, ssh); `[user@]host:path` with the colon before any slash is an
    /// scp-like SSH URL (a one-letter host is a Windows drive instead); anything
    /// else is a local path.
    pub(crate) fn parse(location: &str) -> Result<Self, SourceError> {
        let trimmed = location.trim();
        if trimmed.is_empty() {
            return Err(SourceError::InvalidLocation {
                location: String::new(),
                reason: "it is empty".into(),
            });
        }
        if let Some((scheme, rest)) = trimmed.split_once("://") {
            let scheme = scheme.to_ascii_lowercase();
            if !matches!(
                scheme.as_str(),
                "file" | "git" | "http" | "https" | "ssh" | "git+ssh" | "ssh+git"
            ) {
                return Err(SourceError::InvalidLocation {
                    location: redact_url(trimmed),
                    reason: format!("unsupported URL scheme '{scheme}'"),
                });
            }
            if rest.is_empty() {
                return Err(SourceError::InvalidLocation {
                    location: redact_url(trimmed),
                    reason: "the URL has no host or path".into(),
                });
            }
            return Ok(Location::Remote(RemoteUrl {
                raw: trimmed.to_owned(),
                redacted: redact_url(trimmed),
            }));
        }
        if is_scp_like(trimmed) {
            return Ok(Location::Remote(RemoteUrl {
                raw: trimmed.to_owned(),
                redacted: redact_url(trimmed),
            }));
        }
        Ok(Location::Local(PathBuf::from(location)))
    }
}

/// `[user@]host:path`, Git's rule: a colon before the first slash, and a host
/// longer than one letter (so `C:\fleet` stays a path).
fn is_scp_like(s: &str) -> bool {
    let Some(colon) = s.find(':') else {
        return false;
    };
    if s.find('/').is_some_and(|slash| slash < colon) || s.find('\\').is_some_and(|b| b < colon) {
        return false;
    }
    let host = &s[s[..colon].rfind('@').map_or(0, |a| a + 1)..colon];
    host.len() > 1 && colon + 1 < s.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn remote(s: &str) -> RemoteUrl {
        match Location::parse(s).unwrap() {
            Location::Remote(r) => r,
            Location::Local(p) => panic!("{s} parsed as local path {}", p.display()),
        }
    }

    #[test]
    fn urls_and_paths_are_told_apart_like_git_does() {
        for url in [
            "https://github.com/org/fleet.git",
            "http://127.0.0.1:8080/fleet.git",
            "git://host/fleet",
            "ssh://git@host:2222/org/fleet.git",
            "file:///srv/git/fleet.git",
            "git@github.com:org/fleet.git",
            "host.example:fleet.git",
        ] {
            remote(url);
        }
        for path in [
            "./fleet",
            "/srv/fleet",
            "fleet",
            "C:\\fleet",
            "C:fleet",
            "a/b:c",
        ] {
            assert!(
                matches!(Location::parse(path).unwrap(), Location::Local(_)),
                "{path}"
            );
        }
        assert!(Location::parse("ftp://host/x").is_err());
        assert!(Location::parse("  ").is_err());
    }

    #[test]
    fn embedded_secrets_and_hosts_are_found() {
        let r = remote("https://alice:s3cret@example.com:8443/fleet.git");
        assert_eq!(r.embedded_secret(), Some("s3cret"));
        assert_eq!(r.redacted(), "https://example.com:8443/fleet.git");
        assert_eq!(r.host_port(), Some(("example.com".into(), Some(8443))));
        let r = remote("https://TOKEN@example.com/fleet.git");
        assert_eq!(r.embedded_secret(), Some("TOKEN"));
        assert_eq!(
            remote("git@gh.com:o/f.git").host_port(),
            Some(("gh.com".into(), None))
        );
        assert_eq!(
            remote("ssh://git@[::1]:2222/f").host_port(),
            Some(("::1".into(), Some(2222)))
        );
        assert_eq!(remote("file:///srv/f.git").host_port(), None);
    }

    #[test]
    fn cache_names_are_readable_stable_and_secret_free() {
        let a = remote("https://alice:s3cret@github.com/org/fleet.git").cache_name();
        let b = remote("https://github.com/org/fleet.git").cache_name();
        assert_eq!(a, b);
        assert!(a.starts_with("github.com-org-fleet-"), "{a}");
        assert!(!a.contains("s3cret"));
        let c = remote("https://github.com/org/other.git").cache_name();
        assert_ne!(a, c);
        let long = remote(&format!("https://h/{}", "x/".repeat(100))).cache_name();
        assert!(long.len() <= 48 + 17, "{long}");
        assert!(!remote("file:///../..").cache_name().contains('/'));
    }
}
