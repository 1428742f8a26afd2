//! Errors talking to a cluster. Messages never hold credentials: they name
//! the cluster, the object and what the server said.

/// A cluster-side failure.
#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    /// The connection settings are unusable (missing kubeconfig, unknown
    /// context, agent mode).
    #[error("{0}")]
    Config(String),
    /// The cluster could not be reached, or kept failing after retries.
    #[error("cluster unreachable: {0}")]
    Unreachable(String),
    /// The API server does not serve this kind (yet).
    #[error(
        "the cluster does not serve {kind} in {api_version}; is its CustomResourceDefinition applied?"
    )]
    UnknownKind {
        /// The apiVersion asked for.
        api_version: String,
        /// The kind asked for.
        kind: String,
    },
    /// Another field manager owns fields this apply sets.
    #[error(
        "conflict with another field manager: {0} (re-run with --force-conflicts to take the fields over)"
    )]
    Conflict(String),
    /// The server refused the request.
    #[error("{0}")]
    Api(String),
    /// A wait ran out of time.
    #[error("timed out: {0}")]
    Timeout(String),
    /// Reading or writing a directory target failed.
    #[error("{path}: {source}")]
    Io {
        /// The file or folder.
        path: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A stored inventory could not be read.
    #[error("inventory {0} is not readable: {1}")]
    Inventory(String, String),
}
