//! Keeping credentials out of error messages, logs and `Debug` output.

/// Removes the user information (`user:password@`) of every `scheme://` URL in
/// `text`, and the query string and fragment of a URL that is the whole text.
///
/// ```text
/// https://alice:s3cret@example.com/fleet.git  ->  https://example.com/fleet.git
/// ```
pub(crate) fn scrub_userinfo(text: &str) -> String {
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
pub(crate) fn redact_url(url: &str) -> String {
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
pub(crate) struct Redactor {
    secrets: Vec<String>,
}

impl Redactor {
    /// A redactor that also blanks out each of `secrets` (empty ones are ignored).
    pub(crate) fn new<'a>(secrets: impl IntoIterator<Item = &'a str>) -> Self {
        let mut secrets: Vec<String> = secrets
            .into_iter()
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect();
        // Longest first, so that a secret containing another is blanked whole.
        secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
        Self { secrets }
    }

    /// `text` without user information in URLs and without any known secret.
    pub(crate) fn scrub(&self, text: &str) -> String {
        let mut out = scrub_userinfo(text);
        for secret in &self.secrets {
            if out.contains(secret.as_str()) {
                out = out.replace(secret.as_str(), "***");
            }
        }
        out
    }
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
    fn secrets_are_blanked() {
        let r = Redactor::new(["hunter2", ""]);
        assert_eq!(
            r.scrub("password hunter2 rejected"),
            "password *** rejected"
        );
        assert!(!format!("{r:?}").contains("hunter2"));
    }
}
