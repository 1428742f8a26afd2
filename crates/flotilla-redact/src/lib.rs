//! Keeping credentials out of error messages, logs and `Debug` output.
//!
//! One home for redaction, used by both edges that meet secrets: the Git
//! source (credentials, URLs with user information) and the cluster engine
//! (API server errors and logs). It keeps a process-wide list of the secrets
//! a [`Redactor`] was made with, so a cluster's message is scrubbed of the
//! Git credentials too.

/// The environment variable holding a Git token.
pub const ENV_TOKEN: &str = "FLOTILLA_GIT_TOKEN";
/// The environment variable holding a Git password.
pub const ENV_PASSWORD: &str = "FLOTILLA_GIT_PASSWORD";
/// The environment variable holding an SSH key's passphrase.
pub const ENV_SSH_PASSPHRASE: &str = "FLOTILLA_GIT_SSH_PASSPHRASE";

/// Removes the user information (`user:password@`) of every `scheme://` URL in
/// `text`, and the query string and fragment of a URL that is the whole text.
///
/// ```text
/// https://alice:s3cret@example.com/fleet.git  ->  https://example.com/fleet.git
/// ```
pub fn scrub_userinfo(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find("://") {
        let (head, tail) = rest.split_at(i + 3);
        out.push_str(head);
        let end = tail
            .find(|c: char| matches!(c, '/' | '\'' | '"' | '<' | '>' | '`') || c.is_whitespace())
            .unwrap_or(tail.len());
        let authority = &tail[..end];
        match authority.rfind('@') {
            Some(at) => out.push_str(&authority[at + 1..]),
            None => out.push_str(authority),
        }
        rest = &tail[end..];
    }
    out.push_str(rest);
    out
}

/// The form of a repository URL that may be shown anywhere: no user
/// information, no query string, no fragment. An scp-like `user:password@host:path`
/// keeps only the user name.
pub fn redact_url(url: &str) -> String {
    if url.contains("://") {
        let scrubbed = scrub_userinfo(url);
        let cut = scrubbed.find(['?', '#']).unwrap_or(scrubbed.len());
        return scrubbed[..cut].to_owned();
    }
    // scp-like: [user[:password]@]host:path
    if let Some(at) = url.find('@') {
        let (userinfo, rest) = url.split_at(at);
        if let Some(colon) = userinfo.find(':') {
            return format!("{}{}", &userinfo[..colon], rest);
        }
    }
    url.to_owned()
}

/// Scrubs messages that may quote URLs or secrets (libgit2 errors do).
#[derive(Clone, Default)]
pub struct Redactor {
    secrets: Vec<String>,
}

impl Redactor {
    /// A redactor that also blanks out each of `secrets` (empty ones are ignored).
    pub fn new<'a>(secrets: impl IntoIterator<Item = &'a str>) -> Self {
        let mut secrets: Vec<String> = secrets
            .into_iter()
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect();
        // Longest first, so that a secret containing another is blanked whole.
        secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
        remember(&secrets);
        Self { secrets }
    }

    /// `text` without user information in URLs and without any known secret.
    pub fn scrub(&self, text: &str) -> String {
        let mut out = scrub_userinfo(text);
        for secret in &self.secrets {
            if out.contains(secret.as_str()) {
                out = out.replace(secret.as_str(), "***");
            }
        }
        out
    }
}

/// Every secret a [`Redactor`] was made with in this process, so that
/// messages from elsewhere (clusters) are scrubbed of them too.
static KNOWN: std::sync::Mutex<Vec<String>> = std::sync::Mutex::new(Vec::new());

fn remember(secrets: &[String]) {
    let mut known = KNOWN.lock().unwrap_or_else(|e| e.into_inner());
    for s in secrets {
        if !known.contains(s) {
            known.push(s.clone());
        }
    }
}

/// Scrubs a message that did not come from Git (a cluster's error or log
/// line) as Git's are: URL user information, every secret a [`Redactor`]
/// has seen and the Git credentials in the environment, and the value after
/// `Bearer `, `token=`, `password=` and the like.
pub fn scrub_any(text: &str) -> String {
    let mut secrets: Vec<String> = KNOWN.lock().unwrap_or_else(|e| e.into_inner()).clone();
    secrets.extend(
        [ENV_TOKEN, ENV_PASSWORD, ENV_SSH_PASSPHRASE]
            .iter()
            .filter_map(|v| std::env::var(v).ok()),
    );
    let mut secrets: Vec<String> = secrets.into_iter().filter(|s| !s.is_empty()).collect();
    secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
    let mut out = scrub_userinfo(text);
    for secret in &secrets {
        if out.contains(secret.as_str()) {
            out = out.replace(secret.as_str(), "***");
        }
    }
    scrub_marked(&out)
}

/// Blanks the value after markers that announce a credential.
fn scrub_marked(text: &str) -> String {
    const MARKERS: [&str; 8] = [
        "bearer ",
        "token=",
        "token: ",
        "token:",
        "password=",
        "password: ",
        "password:",
        "secret=",
    ];
    let lower = text.to_ascii_lowercase();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < text.len() {
        let hit = MARKERS.iter().find(|m| lower[i..].starts_with(**m));
        match hit {
            Some(m) => {
                out.push_str(&text[i..i + m.len()]);
                i += m.len();
                let end = text[i..]
                    .find(|c: char| {
                        c.is_whitespace() || matches!(c, '"' | '\'' | ',' | '&' | ';' | ')' | '}')
                    })
                    .map_or(text.len(), |e| i + e);
                if end > i {
                    out.push_str("***");
                }
                i = end;
            }
            None => {
                let c = text[i..].chars().next().expect("i is a char boundary");
                out.push(c);
                i += c.len_utf8();
            }
        }
    }
    out
}

impl std::fmt::Debug for Redactor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Redactor")
            .field("secrets", &self.secrets.len())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn userinfo_is_removed_from_every_url_in_a_message() {
        let msg = "failed to fetch 'https://alice:pw@host.example/a.git' and http://tok@h2/b";
        assert_eq!(
            scrub_userinfo(msg),
            "failed to fetch 'https://host.example/a.git' and http://h2/b"
        );
        assert_eq!(scrub_userinfo("no url here"), "no url here");
        assert_eq!(scrub_userinfo("ssh://git@h:22/x"), "ssh://h:22/x");
    }

    #[test]
    fn redacted_urls_lose_userinfo_query_and_password() {
        assert_eq!(
            redact_url("https://u:p@h/x.git?private_token=abc#f"),
            "https://h/x.git"
        );
        assert_eq!(
            redact_url("git@github.com:org/fleet.git"),
            "git@github.com:org/fleet.git"
        );
        assert_eq!(
            redact_url("git:pw@host:org/fleet.git"),
            "git@host:org/fleet.git"
        );
        assert_eq!(redact_url("file:///srv/fleet.git"), "file:///srv/fleet.git");
    }

    #[test]
    fn messages_from_clusters_are_scrubbed_too() {
        let _ = Redactor::new(["s3cret-from-git"]);
        assert_eq!(
            scrub_any(
                "GET https://u:pw@h/api: Authorization: Bearer abc.def; token=xyz&a=1 password: hunter2 s3cret-from-git"
            ),
            "GET https://h/api: Authorization: Bearer ***; token=***&a=1 password: *** ***"
        );
        assert_eq!(scrub_any("plain é text"), "plain é text");
    }

    #[test]
    fn secrets_are_blanked() {
        let r = Redactor::new(["hunter2", ""]);
        assert_eq!(
            r.scrub("password hunter2 rejected"),
            "password *** rejected"
        );
        assert!(!format!("{r:?}").contains("hunter2"));
    }
}
