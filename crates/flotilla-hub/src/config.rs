//! The daemon's configuration: a YAML file (`flotilla serve --config FILE`),
//! every field also settable by a command-line flag or environment variable
//! (see `src/serve.rs`), flags winning over the file.

use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

/// Everything `flotilla serve` needs. Durations are written like `30s`,
/// `5m`, `1h`.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, rename_all = "camelCase", default)]
pub struct DaemonConfig {
    /// The fleet repository: a Git URL or a local folder.
    pub repo: String,
    /// Branch, tag or commit to follow; the remote's default branch if unset.
    pub rev: Option<String>,
    /// How often Git is polled.
    #[serde(with = "humantime_serde")]
    pub poll_interval: Duration,
    /// How often every cluster is checked for drift (each worker's wait is
    /// jittered by +-10%).
    #[serde(with = "humantime_serde")]
    pub reconcile_interval: Duration,
    /// Whether drift is corrected (re-applied) when found.
    pub self_heal: bool,
    /// How many clusters are synced or checked for drift at once across the
    /// fleet (the daemon's [`Pool`](crate::pool::Pool)); at least one.
    pub concurrency: usize,
    /// Whether objects that left Git are deleted.
    pub prune: bool,
    /// The largest share of a cluster's objects one round may prune.
    pub max_prune_ratio: f64,
    /// Take fields back from other field managers when rolling out a commit
    /// (default true: Git wins); `false`, like the fleet's
    /// `spec.conflicts: fail`, fails on a conflict instead. Self-heal always
    /// takes fields back: when it corrects drift, Git wins.
    pub force_conflicts: bool,
    /// How long a wave may take to become healthy before the rollout halts.
    #[serde(with = "humantime_serde")]
    pub health_timeout: Duration,
    /// Address of the HTTP server (status page, API, metrics, webhooks).
    pub listen: String,
    /// Where remote repositories are cached.
    pub cache_dir: Option<PathBuf>,
    /// Folder of member kubeconfigs; `${FLOTILLA_KUBECONFIG_DIR}` in
    /// fleet.yaml expands to it.
    pub kubeconfig_dir: Option<PathBuf>,
    /// A file with Git credentials.
    pub git_credentials_file: Option<PathBuf>,
    /// Push webhooks.
    pub webhook: WebhookFiles,
    /// Who may see the status page, the API and the metrics.
    pub auth: AuthSettings,
    /// Serve without authentication on a non-loopback address.
    pub insecure_no_auth: bool,
    /// Limits of the HTTP server.
    pub http: HttpLimits,
    /// Folder of pull agents' tokens: `<dir>/<cluster>` holds the token of
    /// that cluster's agent (`serve --agent-token-dir`). Unset: no agent
    /// can connect.
    pub agent_token_dir: Option<PathBuf>,
}

/// `auth:` of the config file.
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, rename_all = "camelCase", default)]
pub struct AuthSettings {
    /// File of bearer tokens, one a line (`TOKEN` or `TOKEN read|operate`).
    pub token_file: Option<PathBuf>,
    /// Always mark the session cookie `Secure` (behind a TLS proxy).
    pub secure_cookie: bool,
}

/// `http:` of the config file.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, rename_all = "camelCase", default)]
pub struct HttpLimits {
    /// Connections served at once; further ones are accepted and closed.
    pub max_connections: usize,
    /// How long a client may take to send its request headers; also how
    /// long a keep-alive connection may stay idle.
    #[serde(with = "humantime_serde")]
    pub header_read_timeout: Duration,
}

impl Default for HttpLimits {
    fn default() -> Self {
        Self {
            max_connections: 1024,
            header_read_timeout: Duration::from_secs(10),
        }
    }
}

/// Where the webhook secrets are (files, so they stay out of the config).
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct WebhookFiles {
    /// File holding the GitHub webhook secret (HMAC-SHA256).
    pub github_secret_file: Option<PathBuf>,
    /// File holding the GitLab webhook token.
    pub gitlab_token_file: Option<PathBuf>,
}

impl Default for DaemonConfig {
    fn default() -> Self {
        Self {
            repo: ".".into(),
            rev: None,
            poll_interval: Duration::from_secs(30),
            reconcile_interval: Duration::from_secs(300),
            self_heal: true,
            concurrency: 8,
            prune: true,
            max_prune_ratio: 0.5,
            force_conflicts: true,
            health_timeout: Duration::from_secs(600),
            listen: "127.0.0.1:8080".into(),
            cache_dir: None,
            kubeconfig_dir: None,
            git_credentials_file: None,
            webhook: WebhookFiles::default(),
            auth: AuthSettings::default(),
            insecure_no_auth: false,
            http: HttpLimits::default(),
            agent_token_dir: None,
        }
    }
}

impl DaemonConfig {
    /// Parses a config file's text; errors name the line and the field.
    pub fn parse(file: &str, text: &str) -> Result<Self, flotilla_core::diagnostic::Diagnostic> {
        flotilla_core::yaml::parse_file(file, text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_durations_and_defaults() {
        let c = DaemonConfig::parse("c.yaml", "repo: https://git.example.com/fleet.git\npollInterval: 10s\nselfHeal: false\nwebhook: {githubSecretFile: /s}\n").unwrap();
        assert_eq!(c.poll_interval, Duration::from_secs(10));
        assert_eq!(c.reconcile_interval, Duration::from_secs(300));
        assert!(!c.self_heal);
        assert_eq!(c.webhook.github_secret_file, Some(PathBuf::from("/s")));
        assert_eq!(c.http.max_connections, 1024);
        assert!(!c.insecure_no_auth);
    }

    #[test]
    fn parses_auth_and_http_limits() {
        let c = DaemonConfig::parse(
            "c.yaml",
            "auth: {tokenFile: /t}\ninsecureNoAuth: true\nhttp: {maxConnections: 8, headerReadTimeout: 2s}\n",
        )
        .unwrap();
        assert_eq!(c.auth.token_file, Some(PathBuf::from("/t")));
        assert!(c.insecure_no_auth);
        assert_eq!(c.http.max_connections, 8);
        assert_eq!(c.http.header_read_timeout, Duration::from_secs(2));
    }

    #[test]
    fn unknown_fields_are_errors_with_a_line() {
        let e = DaemonConfig::parse("c.yaml", "repo: x\npollIntervall: 10s\n").unwrap_err();
        assert_eq!(e.line, Some(2));
        assert!(e.message.contains("pollIntervall"), "{}", e.message);
    }
}
