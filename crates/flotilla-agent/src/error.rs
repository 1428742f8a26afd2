//! The agent's errors, typed; none ever shows the token.

use thiserror::Error;

/// What can go wrong in the agent.
#[derive(Debug, Error)]
pub enum AgentError {
    /// `--hub` is not usable.
    #[error("hub URL {url}: {reason}")]
    HubUrl {
        /// The URL, without user information.
        url: String,
        /// Why.
        reason: String,
    },
    /// `--ca-file` is not usable.
    #[error("CA file {path}: {reason}")]
    CaFile {
        /// The file.
        path: String,
        /// Why.
        reason: String,
    },
    /// TLS setup or handshake failed.
    #[error("TLS: {0}")]
    Tls(String),
    /// The hub could not be reached, or the connection dropped.
    #[error("the hub is unreachable: {reason}")]
    HubUnreachable {
        /// Why.
        reason: String,
    },
    /// The hub refused the token.
    #[error(
        "the hub refused this agent's token for cluster {cluster} (HTTP {status}): check --token-file and the hub's agent token directory"
    )]
    Unauthorized {
        /// The cluster claimed.
        cluster: String,
        /// 401 or 403.
        status: u16,
    },
    /// The hub answered with another error.
    #[error("the hub answered HTTP {status}: {message}")]
    HubRefused {
        /// The status.
        status: u16,
        /// Its body, scrubbed and cut short.
        message: String,
    },
    /// The hub sent something that is not the protocol.
    #[error("protocol: {0}")]
    Protocol(String),
    /// The state directory could not be read or written.
    #[error("state directory {path}: {source}")]
    State {
        /// The file.
        path: String,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The token file could not be read or is empty.
    #[error("token file {path}: {reason}")]
    TokenFile {
        /// The file.
        path: String,
        /// Why (never the token).
        reason: String,
    },
    /// The member cluster's API server could not be configured.
    #[error("member cluster: {0}")]
    Cluster(#[from] flotilla_engine::destination::ClusterError),
}
