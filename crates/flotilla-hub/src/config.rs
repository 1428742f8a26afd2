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
    /// How often every object of a cluster is compared, whatever its watch
    /// saw (between these full passes, a drift check compares only the
    /// objects whose watch events arrived, and runs when they arrive).
    /// Clusters without watches (directories) are compared in full on every
    /// reconcile interval.
    #[serde(with = "humantime_serde")]
    pub full_resync_interval: Duration,
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
    /// How long opening a connection to an API server may take.
    #[serde(with = "humantime_serde")]
    pub connect_timeout: Duration,
    /// How long one request to an API server may take, retries included.
    #[serde(with = "humantime_serde")]
    pub request_timeout: Duration,
    /// Signed commits: the keys every deployed commit must be signed by.
    pub verify: VerifySettings,
    /// An age key file to decrypt SOPS-encrypted Secrets with.
    pub sops_age_key_file: Option<PathBuf>,
    /// Folder of pull agents' tokens: `<dir>/<cluster>` holds the token of
    /// that cluster's agent (`serve --agent-token-dir`). Unset: no agent
    /// can connect.
    pub agent_token_dir: Option<PathBuf>,
    /// Many replicas sharing the fleet through Leases on the hub cluster
    /// (`serve --lease-namespace`); unset: one replica drives every cluster.
    pub ha: Option<HaSettings>,
}

/// `ha:` of the config file: the replicas of one daemon share the fleet's
/// clusters through `coordination.k8s.io/v1` Leases in `namespace` of the
/// hub cluster (see [`crate::ha`]).
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct HaSettings {
    /// The namespace of the Leases and status ConfigMaps.
    pub namespace: String,
    /// A kubeconfig for the hub cluster; unset: the in-cluster config
    /// (the pod's service account).
    #[serde(default)]
    pub kubeconfig: Option<PathBuf>,
    /// This replica's id (the holder name in the Leases); unset: `$POD_NAME`,
    /// else the host name.
    #[serde(default)]
    pub replica_id: Option<String>,
    /// How long a Lease holds without a renewal (renewed every third of
    /// it); default 15s.
    #[serde(default = "default_lease_duration", with = "humantime_serde")]
    pub lease_duration: Duration,
}

fn default_lease_duration() -> Duration {
    Duration::from_secs(15)
}

/// `verify:` of the config file: with either file set, a commit not signed
/// by an allowed key is refused and every cluster stays on the last
/// verified commit.
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, rename_all = "camelCase", default)]
pub struct VerifySettings {
    /// A Git SSH `allowed_signers` file.
    pub allowed_signers: Option<PathBuf>,
    /// An OpenPGP keyring file (`gpg --export > keyring.gpg`).
    pub gpg_keyring: Option<PathBuf>,
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
    /// How long a client may take to send its request headers (counted
    /// from when the server waits for them, so also a bound on a
    /// keep-alive connection's wait for its next request).
    #[serde(with = "humantime_serde")]
    pub header_read_timeout: Duration,
    /// How long a connection may stay without a byte moving before it is
    /// closed.
    #[serde(with = "humantime_serde")]
    pub idle_timeout: Duration,
}

impl Default for HttpLimits {
    fn default() -> Self {
        Self {
            max_connections: 1024,
            header_read_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(5),
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
            full_resync_interval: Duration::from_secs(600),
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
            connect_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(30),
            auth: AuthSettings::default(),
            insecure_no_auth: false,
            http: HttpLimits::default(),
            verify: VerifySettings::default(),
            sops_age_key_file: None,
            agent_token_dir: None,
            ha: None,
        }
    }
}

impl DaemonConfig {
    /// Parses a config file's text; errors name the line and the field.
    pub fn parse(file: &str, text: &str) -> Result<Self, flotilla_core::diagnostic::Diagnostic> {
        flotilla_core::yaml::parse_file(file, text)
    }
}

/// The folder relative `directory:` connections resolve against, the same
/// from any working directory: the repository folder when `repo` is a local
/// folder; for a Git URL, `$FLOTILLA_STATE_DIR` when set, else `None` (the
/// working directory). The folder is kept as given (`repo/`, not an
/// absolute path), so messages stay short and name no temporary folder;
/// `None` when that is the working directory itself (`--repo .`).
pub fn directory_base(repo: &str) -> Option<PathBuf> {
    let path = std::path::Path::new(repo);
    let base = if path.is_dir() {
        path.to_path_buf()
    } else {
        PathBuf::from(std::env::var_os("FLOTILLA_STATE_DIR").filter(|d| !d.is_empty())?)
    };
    // `./repo/.` is `repo`; `.` is the working directory.
    let base: PathBuf = base
        .components()
        .filter(|c| !matches!(c, std::path::Component::CurDir))
        .collect();
    (!base.as_os_str().is_empty()).then_some(base)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_local_repository_is_the_directory_base_as_given() {
        // The tests run in the crate's folder, which has `src/`.
        assert_eq!(directory_base("./src/."), Some(PathBuf::from("src")));
        assert_eq!(directory_base("."), None);
    }

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
            "auth: {tokenFile: /t}\ninsecureNoAuth: true\nhttp: {maxConnections: 8, headerReadTimeout: 2s, idleTimeout: 1s}\n",
        )
        .unwrap();
        assert_eq!(c.auth.token_file, Some(PathBuf::from("/t")));
        assert!(c.insecure_no_auth);
        assert_eq!(c.http.max_connections, 8);
        assert_eq!(c.http.header_read_timeout, Duration::from_secs(2));
        assert_eq!(c.http.idle_timeout, Duration::from_secs(1));
    }

    #[test]
    fn parses_cluster_timeouts_with_defaults_of_10s_and_30s() {
        let d = DaemonConfig::parse("c.yaml", "repo: x\n").unwrap();
        assert_eq!(d.connect_timeout, Duration::from_secs(10));
        assert_eq!(d.request_timeout, Duration::from_secs(30));
        let c = DaemonConfig::parse("c.yaml", "connectTimeout: 2s\nrequestTimeout: 5s\n").unwrap();
        assert_eq!(c.connect_timeout, Duration::from_secs(2));
        assert_eq!(c.request_timeout, Duration::from_secs(5));
    }

    #[test]
    fn parses_the_ha_block_with_a_15s_lease_by_default() {
        let c = DaemonConfig::parse("c.yaml", "ha: {namespace: flotilla}\n").unwrap();
        let ha = c.ha.unwrap();
        assert_eq!(ha.namespace, "flotilla");
        assert_eq!(ha.lease_duration, Duration::from_secs(15));
        assert_eq!(ha.kubeconfig, None);
        let c = DaemonConfig::parse(
            "c.yaml",
            "ha: {namespace: n, kubeconfig: /k, replicaId: r-1, leaseDuration: 3s}\n",
        )
        .unwrap();
        let ha = c.ha.unwrap();
        assert_eq!(ha.replica_id.as_deref(), Some("r-1"));
        assert_eq!(ha.lease_duration, Duration::from_secs(3));
        let e = DaemonConfig::parse("c.yaml", "ha:\n  namespace: n\n  leaseDurations: 3s\n")
            .unwrap_err();
        assert_eq!(e.line, Some(3));
        assert!(e.message.contains("leaseDurations"), "{}", e.message);
    }

    #[test]
    fn unknown_fields_are_errors_with_a_line() {
        let e = DaemonConfig::parse("c.yaml", "repo: x\npollIntervall: 10s\n").unwrap_err();
        assert_eq!(e.line, Some(2));
        assert!(e.message.contains("pollIntervall"), "{}", e.message);
    }
}
