//! Errors talking to a cluster. Messages never hold credentials: they name
//! the cluster, the object and what the server said, and every message is
//! scrubbed as Git's are (URL user information, known secrets, tokens and
//! passwords) when it becomes text.

use flotilla_redact::scrub_any as scrub;

/// A cluster-side failure.
#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    /// The connection settings are unusable (missing kubeconfig, unknown
    /// context, agent mode).
    #[error("{}", scrub(.0))]
    Config(String),
    /// The cluster could not be reached, or kept failing after retries.
    #[error("cluster unreachable: {}", scrub(.0))]
    Unreachable(String),
    /// The API server does not serve this kind (yet).
    #[error(
        "the cluster does not serve {} in {}; is its CustomResourceDefinition applied?",
        scrub(kind),
        scrub(api_version)
    )]
    UnknownKind {
        /// The apiVersion asked for.
        api_version: String,
        /// The kind asked for.
        kind: String,
    },
    /// Another field manager owns fields this apply sets.
    #[error(
        "conflict with another field manager: {} (re-run with --force-conflicts to take the fields over)",
        scrub(.0)
    )]
    Conflict(String),
    /// The server refused the request.
    #[error("{}", scrub(.0))]
    Api(String),
    /// A wait ran out of time.
    #[error("timed out: {}", scrub(.0))]
    Timeout(String),
    /// Reading or writing a directory target failed.
    #[error("{}: {}", scrub(path), scrub(&source.to_string()))]
    Io {
        /// The file or folder.
        path: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A stored inventory could not be read.
    #[error("inventory {} is not readable: {}", scrub(.0), scrub(.1))]
    Inventory(String, String),
}

#[cfg(test)]
mod tests {
    use super::ClusterError;

    #[test]
    fn messages_are_scrubbed_when_they_become_text() {
        let e = ClusterError::Api("GET https://alice:pw@h.example/api: Bearer abc.def".into());
        assert_eq!(e.to_string(), "GET https://h.example/api: Bearer ***");
        let e = ClusterError::Unreachable("dial https://u:p@h: token=xyz".into());
        assert_eq!(
            e.to_string(),
            "cluster unreachable: dial https://h: token=***"
        );
    }
}
