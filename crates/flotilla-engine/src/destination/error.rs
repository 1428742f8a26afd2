//! Errors talking to a cluster, typed: each variant keeps its cause (the
//! Kubernetes `Status` whole, the kube or I/O error), so callers match on
//! kinds, codes and reasons, never on message text. Messages never hold
//! credentials: they name the cluster, the object and what the server said.

use flotilla_core::changeset::Failure;
use flotilla_core::model::ObjectKey;
use flotilla_redact::scrub_any as scrub;

/// The status a Kubernetes API server answers a refused request with.
pub use kube::core::Status;

/// A cluster-side failure.
#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    /// The connection settings are unusable (missing kubeconfig, unknown
    /// context, agent mode).
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The cluster could not be reached, or the connection kept failing
    /// after retries.
    #[error("cluster unreachable: {}: {}: {}", scrub(context), scrub(server), scrub(&cause(source)))]
    Unreachable {
        /// What was being done.
        context: String,
        /// The API server's URL, without user info.
        server: String,
        /// The client's error.
        #[source]
        source: kube::Error,
    },
    /// The API server does not serve this kind (yet).
    #[error(
        "the cluster does not serve {kind} in {api_version}; is its CustomResourceDefinition applied?"
    )]
    NotServed {
        /// The apiVersion asked for.
        api_version: String,
        /// The kind asked for.
        kind: String,
    },
    /// Another field manager owns fields this apply sets (409 with
    /// `FieldManagerConflict` causes).
    #[error(
        "conflict with another field manager: {}: {} (re-run with --force-conflicts to take the fields over)",
        scrub(context),
        scrub(&status.message)
    )]
    Conflict {
        /// What was being done.
        context: String,
        /// The object, where one was concerned.
        object: Option<Box<ObjectKey>>,
        /// The server's answer, whole.
        #[source]
        status: Box<Status>,
    },
    /// The server refused the request.
    #[error("{}: {} ({} {})", scrub(context), scrub(&status.message), status.code, status.reason)]
    Api {
        /// What was being done.
        context: String,
        /// The object, where one was concerned.
        object: Option<Box<ObjectKey>>,
        /// The server's answer, whole.
        #[source]
        status: Box<Status>,
    },
    /// The client failed otherwise (a response it could not read, a
    /// request it could not build).
    #[error("{}: {}", scrub(context), scrub(&source.to_string()))]
    Client {
        /// What was being done.
        context: String,
        /// The client's error.
        #[source]
        source: kube::Error,
    },
    /// A wait ran out of time.
    #[error("timed out: {} after {after:?}", scrub(what))]
    Timeout {
        /// What was waited for.
        what: String,
        /// How long.
        after: std::time::Duration,
    },
    /// Reading or writing a directory destination failed.
    #[error("{}: {}", scrub(path), scrub(&source.to_string()))]
    Io {
        /// The file or folder.
        path: String,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// A stored inventory could not be read.
    #[error("inventory {} is not readable: {}", scrub(name), scrub(&source.to_string()))]
    Inventory {
        /// Where it is stored (ConfigMap namespace/name, or file).
        name: String,
        /// The parse error.
        #[source]
        source: serde_json::Error,
    },
    /// A stored inventory split into parts could not be read (a part is
    /// missing or does not match its digest, or the head is not JSON).
    #[error("inventory {} is not readable: {source}", scrub(name))]
    InventoryStored {
        /// Where its head is stored (ConfigMap namespace/name).
        name: String,
        /// What is wrong.
        #[source]
        source: flotilla_core::model::inventory::StoredError,
    },
    /// An object to write has no apiVersion, kind or name.
    #[error("object without apiVersion, kind or name")]
    Unaddressable,
    /// A file a prune would delete does not hold the object Flotilla wrote
    /// there (put there by hand, or named by an edited inventory): kept.
    #[error(
        "refusing to delete {}: it does not hold {object} labelled app.kubernetes.io/managed-by=flotilla",
        scrub(path)
    )]
    NotOurs {
        /// The file.
        path: String,
        /// The object the inventory says it holds.
        object: Box<ObjectKey>,
    },
}

/// Why connection settings are unusable.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// A kubeconfig file could not be read or used.
    #[error("kubeconfig {}: {}", scrub(path), scrub(&source.to_string()))]
    Kubeconfig {
        /// The file.
        path: String,
        /// Why.
        #[source]
        source: kube::config::KubeconfigError,
    },
    /// The default kubeconfig could not be read or used.
    #[error("default kubeconfig ($KUBECONFIG or ~/.kube/config): {}", scrub(&source.to_string()))]
    DefaultKubeconfig {
        /// Why.
        #[source]
        source: kube::config::KubeconfigError,
    },
    /// No client could be built for the server.
    #[error("client for {}: {}", scrub(server), scrub(&source.to_string()))]
    Client {
        /// The API server's URL, without user info.
        server: String,
        /// Why.
        #[source]
        source: kube::Error,
    },
    /// The connection mode `agent` (pull): only the hub reaches such a
    /// cluster, through its agent.
    #[error(
        "connection mode agent: this cluster is synced by its `flotilla agent` through `flotilla serve`, not reached directly; use kubeconfig or directory to reach it from here"
    )]
    AgentUnsupported,
    /// A `${VAR}` in a path names an unset variable.
    #[error("environment variable {name} is not set (used in {text:?})")]
    UnsetVariable {
        /// The variable.
        name: String,
        /// The path it is used in.
        text: String,
        /// Why the environment had no value.
        #[source]
        source: std::env::VarError,
    },
    /// A `${VAR}` in a path names a variable outside the allow-list.
    #[error("{reason}")]
    VariableNotAllowed {
        /// Which variable, and what is allowed (never its value).
        reason: String,
    },
    /// A `${` in a path is never closed.
    #[error("unclosed ${{ in path {text:?}")]
    UnclosedVariable {
        /// The path.
        text: String,
    },
}

impl ClusterError {
    /// The HTTP status code the server answered with, for refusals.
    pub fn code(&self) -> Option<u16> {
        self.status().map(|s| s.code)
    }

    /// The Kubernetes `Status` reason (`Invalid`, `Conflict`, ...), for
    /// refusals.
    pub fn reason(&self) -> Option<&str> {
        self.status().map(|s| s.reason.as_str())
    }

    /// The server's `Status`, whole, for refusals.
    pub fn status(&self) -> Option<&Status> {
        match self {
            ClusterError::Api { status, .. } | ClusterError::Conflict { status, .. } => {
                Some(status)
            }
            _ => None,
        }
    }

    /// Whether the server refused the request (as opposed to not being
    /// reached, or a client-side failure).
    pub fn is_refusal(&self) -> bool {
        self.status().is_some()
    }

    /// The kind of failure, for the change set (by type, never by text).
    pub fn failure(&self) -> Failure {
        match self {
            ClusterError::Config(_) => Failure::Config,
            ClusterError::Unreachable { .. } => Failure::Unreachable,
            ClusterError::NotServed { .. } => Failure::NotServed,
            ClusterError::Conflict { .. } => Failure::Conflict,
            ClusterError::Api { status, .. } => Failure::Refused {
                code: status.code,
                reason: status.reason.clone(),
            },
            ClusterError::Timeout { .. } => Failure::Timeout,
            ClusterError::Io { .. } => Failure::Io,
            ClusterError::Inventory { .. } | ClusterError::InventoryStored { .. } => {
                Failure::Inventory
            }
            ClusterError::NotOurs { .. } => Failure::PruneRefused,
            ClusterError::Client { .. } | ClusterError::Unaddressable => Failure::Other,
        }
    }

    /// Turns a kube error met while doing `context` (on `object`, if one)
    /// into a cluster error of its kind: a refusal keeps the `Status`
    /// whole; a 409 whose causes are field-manager conflicts is a
    /// [`ClusterError::Conflict`]; a connection failure is
    /// [`ClusterError::Unreachable`].
    pub fn from_kube(
        context: impl Into<String>,
        object: Option<ObjectKey>,
        server: &str,
        e: kube::Error,
    ) -> Self {
        let context = context.into();
        let object = object.map(Box::new);
        match e {
            kube::Error::Api(status) if is_field_manager_conflict(&status) => {
                ClusterError::Conflict {
                    context,
                    object,
                    status,
                }
            }
            kube::Error::Api(status) => ClusterError::Api {
                context,
                object,
                status,
            },
            other if is_connection(&other) => ClusterError::Unreachable {
                context,
                server: without_userinfo(server),
                source: other,
            },
            other => ClusterError::Client {
                context,
                source: other,
            },
        }
    }
}

/// Whether a refusal is a server-side apply conflict with another field
/// manager: 409 `Conflict` whose causes are `FieldManagerConflict`s (other
/// 409s, e.g. a stale resourceVersion, are plain refusals).
fn is_field_manager_conflict(status: &Status) -> bool {
    status.is_conflict()
        && status
            .details
            .as_ref()
            .is_some_and(|d| d.causes.iter().any(|c| c.reason == "FieldManagerConflict"))
}

/// The innermost cause of a connection failure, in words: "connection
/// refused (os error 111)", "no answer within 30s", "connect timed out"
/// (rather than the client library's outer "client error (Connect)").
pub(crate) fn cause(e: &kube::Error) -> String {
    let mut innermost: &(dyn std::error::Error + 'static) = e;
    while let Some(next) = innermost.source() {
        innermost = next;
    }
    if let Some(io) = innermost.downcast_ref::<std::io::Error>() {
        let text = io.to_string();
        return match io.kind() {
            std::io::ErrorKind::TimedOut if !text.contains("timed out") => {
                format!("connect timed out ({text})")
            }
            _ => lowercase_first(&text),
        };
    }
    lowercase_first(&innermost.to_string())
}

fn lowercase_first(text: &str) -> String {
    let mut chars = text.chars();
    match chars.next() {
        Some(c) => c.to_lowercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// Whether a kube error means the server was not reached or went away.
pub(crate) fn is_connection(e: &kube::Error) -> bool {
    matches!(e, kube::Error::HyperError(_) | kube::Error::Service(_))
}

/// A URL without `user:password@`.
pub(crate) fn without_userinfo(url: &str) -> String {
    match url.split_once("://") {
        Some((scheme, rest)) => {
            let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
            let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
            format!("{scheme}://{host}{path}")
        }
        None => url.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kube::core::response::{StatusCause, StatusDetails};

    fn status(code: u16, reason: &str, message: &str) -> Status {
        Status::failure(message, reason).with_code(code)
    }

    #[test]
    fn a_field_manager_conflict_is_a_conflict_with_its_status_whole() {
        let s = status(
            409,
            "Conflict",
            "Apply failed with 1 conflict: conflict with \"kubectl\": .spec.replicas",
        )
        .with_details(StatusDetails {
            name: "web".into(),
            group: "apps".into(),
            kind: "deployments".into(),
            causes: vec![StatusCause {
                reason: "FieldManagerConflict".into(),
                message: "conflict with \"kubectl\"".into(),
                field: ".spec.replicas".into(),
            }],
            uid: String::new(),
            retry_after_seconds: 0,
        });
        let key = ObjectKey {
            group: "apps".into(),
            kind: "Deployment".into(),
            namespace: "shop".into(),
            name: "web".into(),
        };
        let e = ClusterError::from_kube(
            "applying Deployment shop/web",
            Some(key.clone()),
            "https://127.0.0.1:6443/",
            kube::Error::Api(Box::new(s.clone())),
        );
        assert!(
            matches!(&e, ClusterError::Conflict { object: Some(k), status, .. } if **k == key && **status == s),
            "{e:?}"
        );
        assert_eq!(e.code(), Some(409));
        assert_eq!(e.reason(), Some("Conflict"));
        assert_eq!(e.failure(), Failure::Conflict);
        // The source chain reaches the server's Status.
        let source = std::error::Error::source(&e).expect("a source");
        assert_eq!(source.to_string(), s.to_string());
        let text = e.to_string();
        assert!(
            text.starts_with(
                "conflict with another field manager: applying Deployment shop/web: Apply failed"
            ),
            "{text}"
        );
        assert!(text.contains("--force-conflicts"), "{text}");
    }

    #[test]
    fn a_409_without_field_manager_causes_is_a_refusal_not_a_conflict() {
        let s = status(
            409,
            "Conflict",
            "Operation cannot be fulfilled: the object has been modified",
        );
        let e = ClusterError::from_kube("applying x", None, "", kube::Error::Api(Box::new(s)));
        assert!(matches!(e, ClusterError::Api { .. }), "{e:?}");
        assert_eq!(
            e.failure(),
            Failure::Refused {
                code: 409,
                reason: "Conflict".into()
            }
        );
    }

    #[test]
    fn an_invalid_object_is_refused_with_code_and_reason() {
        let s = status(
            422,
            "Invalid",
            "Deployment.apps \"web\" is invalid: spec.selector: field is immutable",
        );
        let e = ClusterError::from_kube(
            "applying Deployment shop/web",
            None,
            "",
            kube::Error::Api(Box::new(s)),
        );
        assert_eq!(e.code(), Some(422));
        assert_eq!(e.reason(), Some("Invalid"));
        assert!(e.is_refusal());
        assert_eq!(
            e.failure(),
            Failure::Refused {
                code: 422,
                reason: "Invalid".into()
            }
        );
        assert_eq!(
            e.to_string(),
            "applying Deployment shop/web: Deployment.apps \"web\" is invalid: spec.selector: field is immutable (422 Invalid)"
        );
    }

    #[tokio::test]
    async fn a_refused_connection_is_unreachable_and_names_the_server_without_userinfo() {
        // A port that was just free: nothing listens there.
        let port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        };
        let server = format!("http://admin:s3cret@127.0.0.1:{port}/");
        let config = kube::Config::new(format!("http://127.0.0.1:{port}/").parse().unwrap());
        let client = kube::Client::try_from(config).unwrap();
        let api: kube::Api<k8s_openapi::api::core::v1::ConfigMap> =
            kube::Api::namespaced(client, "default");
        let err = api.get("x").await.expect_err("nothing listens");
        let e = ClusterError::from_kube("reading ConfigMap default/x", None, &server, err);
        match &e {
            ClusterError::Unreachable { server, .. } => {
                assert_eq!(server, &format!("http://127.0.0.1:{port}/"));
            }
            other => panic!("not Unreachable: {other:?}"),
        }
        assert_eq!(e.failure(), Failure::Unreachable);
        assert!(
            e.to_string()
                .starts_with("cluster unreachable: reading ConfigMap default/x: ")
        );
        // The message names the server and the cause, not the client
        // library's "client error (Connect)".
        assert!(
            e.to_string()
                .contains(&format!("http://127.0.0.1:{port}/: connection refused")),
            "{e}"
        );
        assert!(!e.to_string().contains("s3cret"));
        assert!(std::error::Error::source(&e).is_some());
    }

    #[test]
    fn every_kind_maps_to_its_failure() {
        let io = ClusterError::Io {
            path: "out".into(),
            source: std::io::Error::from(std::io::ErrorKind::PermissionDenied),
        };
        assert_eq!(io.failure(), Failure::Io);
        let inventory = ClusterError::Inventory {
            name: "x".into(),
            source: serde_json::from_str::<serde_json::Value>("{").unwrap_err(),
        };
        assert_eq!(inventory.failure(), Failure::Inventory);
        assert_eq!(
            ClusterError::from(ConfigError::AgentUnsupported).failure(),
            Failure::Config
        );
        let not_served = ClusterError::NotServed {
            api_version: "example.com/v1".into(),
            kind: "Widget".into(),
        };
        assert_eq!(not_served.failure(), Failure::NotServed);
        assert_eq!(not_served.code(), None);
        let timeout = ClusterError::Timeout {
            what: "CustomResourceDefinition widgets.example.com Established".into(),
            after: std::time::Duration::from_secs(1),
        };
        assert_eq!(timeout.failure(), Failure::Timeout);
    }

    #[test]
    fn userinfo_is_dropped_from_urls() {
        assert_eq!(without_userinfo("https://u:p@h:6443/x"), "https://h:6443/x");
        assert_eq!(without_userinfo("https://h:6443"), "https://h:6443");
        assert_eq!(without_userinfo("not a url"), "not a url");
    }
}
