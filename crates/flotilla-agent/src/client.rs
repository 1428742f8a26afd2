//! The agent's side of the wire: HTTP/1.1 to the hub, over TLS (rustls)
//! for `https://` hubs, one kept-alive connection per client, re-opened
//! after any failure. The long poll is the keepalive: the hub answers it
//! within its wait (20 s), so a request that takes longer than
//! [`REQUEST_TIMEOUT`] means a dead connection, which is dropped.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::client::conn::http1::SendRequest;
use hyper::{Method, Request, StatusCode, Uri, header};
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;

use crate::error::AgentError;
use flotilla_core::agent::{AGENT_API, AgentReport, Assignment};

/// A request (long poll included) that takes longer is abandoned and its
/// connection dropped.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(45);

/// How long opening a connection (TCP and TLS) may take.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// The largest assignment accepted (a cluster's rendered objects).
pub const MAX_ASSIGNMENT_BYTES: usize = 64 * 1024 * 1024;

trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

/// Where the hub is and how to prove who we are.
#[derive(Clone)]
pub struct HubEndpoint {
    scheme_https: bool,
    host: String,
    port: u16,
    /// The path prefix before `/agent/v1` (a hub behind an ingress path).
    prefix: String,
    cluster: String,
    token: String,
    tls: Option<Arc<tokio_rustls::rustls::ClientConfig>>,
}

impl std::fmt::Debug for HubEndpoint {
    /// Never shows the token.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HubEndpoint")
            .field("https", &self.scheme_https)
            .field("host", &self.host)
            .field("port", &self.port)
            .field("cluster", &self.cluster)
            .finish_non_exhaustive()
    }
}

impl HubEndpoint {
    /// The hub at `url` (`http://` or `https://`, an optional path prefix),
    /// for `cluster` with `token`; `ca_file` (PEM) replaces the system's
    /// roots for `https://`.
    pub fn new(
        url: &str,
        cluster: &str,
        token: &str,
        ca_file: Option<&Path>,
    ) -> Result<Self, AgentError> {
        let bad = |reason: &str| AgentError::HubUrl {
            url: flotilla_redact::redact_url(url),
            reason: reason.to_string(),
        };
        let uri: Uri = url.parse().map_err(|_| bad("not a URL"))?;
        let https = match uri.scheme_str() {
            Some("https") => true,
            Some("http") => false,
            _ => return Err(bad("the scheme must be http or https")),
        };
        let host = uri.host().ok_or_else(|| bad("no host"))?.to_string();
        let port = uri.port_u16().unwrap_or(if https { 443 } else { 80 });
        let prefix = uri.path().trim_end_matches('/').to_string();
        let tls = if https {
            Some(Arc::new(tls_config(ca_file)?))
        } else {
            None
        };
        Ok(Self {
            scheme_https: https,
            host: host
                .trim_start_matches('[')
                .trim_end_matches(']')
                .to_string(),
            port,
            prefix,
            cluster: cluster.to_string(),
            token: token.to_string(),
            tls,
        })
    }
}

fn tls_config(ca_file: Option<&Path>) -> Result<tokio_rustls::rustls::ClientConfig, AgentError> {
    use rustls_pki_types::CertificateDer;
    use rustls_pki_types::pem::PemObject;
    use tokio_rustls::rustls;
    let mut roots = rustls::RootCertStore::empty();
    match ca_file {
        Some(path) => {
            let ca_error = |reason: String| AgentError::CaFile {
                path: path.display().to_string(),
                reason,
            };
            let certs = CertificateDer::pem_file_iter(path)
                .map_err(|e| ca_error(e.to_string()))?
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| ca_error(e.to_string()))?;
            if certs.is_empty() {
                return Err(ca_error("no PEM certificate in it".into()));
            }
            for c in certs {
                roots.add(c).map_err(|e| ca_error(e.to_string()))?;
            }
        }
        None => {
            let native = rustls_native_certs::load_native_certs();
            for c in native.certs {
                let _ = roots.add(c);
            }
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    Ok(rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| AgentError::Tls(e.to_string()))?
        .with_root_certificates(roots)
        .with_no_client_auth())
}

/// One kept-alive connection to the hub.
pub struct HubClient {
    endpoint: HubEndpoint,
    sender: Option<SendRequest<Full<Bytes>>>,
}

impl HubClient {
    /// A client; nothing is opened yet.
    pub fn new(endpoint: HubEndpoint) -> Self {
        Self {
            endpoint,
            sender: None,
        }
    }

    async fn open(&self) -> Result<SendRequest<Full<Bytes>>, AgentError> {
        let e = &self.endpoint;
        let unreachable = |reason: String| AgentError::HubUnreachable { reason };
        let connect = async {
            let tcp = TcpStream::connect((e.host.as_str(), e.port))
                .await
                .map_err(|x| unreachable(x.to_string()))?;
            let _ = tcp.set_nodelay(true);
            let io: Box<dyn Io> = match &e.tls {
                Some(config) => {
                    let name = rustls_pki_types::ServerName::try_from(e.host.clone())
                        .map_err(|x| AgentError::Tls(x.to_string()))?;
                    let tls = tokio_rustls::TlsConnector::from(config.clone())
                        .connect(name, tcp)
                        .await
                        .map_err(|x| AgentError::Tls(x.to_string()))?;
                    Box::new(tls)
                }
                None => Box::new(tcp),
            };
            let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(io))
                .await
                .map_err(|x| unreachable(x.to_string()))?;
            tokio::spawn(async move {
                let _ = conn.await;
            });
            Ok::<_, AgentError>(sender)
        };
        tokio::time::timeout(CONNECT_TIMEOUT, connect)
            .await
            .map_err(|_| unreachable("connecting timed out".into()))?
    }

    async fn send(
        &mut self,
        method: Method,
        path_and_query: &str,
        body: Option<Vec<u8>>,
    ) -> Result<(StatusCode, Bytes), AgentError> {
        if self.sender.as_ref().is_none_or(|s| s.is_closed()) {
            self.sender = Some(self.open().await?);
        }
        let e = &self.endpoint;
        let authority = if e.host.contains(':') {
            format!("[{}]:{}", e.host, e.port)
        } else {
            format!("{}:{}", e.host, e.port)
        };
        let mut req = Request::builder()
            .method(method)
            .uri(format!("{}{path_and_query}", e.prefix))
            .header(header::HOST, authority)
            .header(header::AUTHORIZATION, format!("Bearer {}", e.token))
            .header(header::USER_AGENT, "flotilla-agent");
        if body.is_some() {
            req = req.header(header::CONTENT_TYPE, "application/json");
        }
        let req = req
            .body(Full::new(Bytes::from(body.unwrap_or_default())))
            .map_err(|x| AgentError::Protocol(x.to_string()))?;
        let sender = self.sender.as_mut().expect("opened above");
        let exchange = async {
            sender
                .ready()
                .await
                .map_err(|x| AgentError::HubUnreachable {
                    reason: x.to_string(),
                })?;
            let resp = sender
                .send_request(req)
                .await
                .map_err(|x| AgentError::HubUnreachable {
                    reason: x.to_string(),
                })?;
            let status = resp.status();
            let body = Limited::new(resp.into_body(), MAX_ASSIGNMENT_BYTES)
                .collect()
                .await
                .map_err(|x| AgentError::HubUnreachable {
                    reason: x.to_string(),
                })?
                .to_bytes();
            Ok::<_, AgentError>((status, body))
        };
        let result = tokio::time::timeout(REQUEST_TIMEOUT, exchange)
            .await
            .unwrap_or_else(|_| {
                Err(AgentError::HubUnreachable {
                    reason: "the hub did not answer in time".into(),
                })
            });
        if result.is_err() {
            // The connection may be what failed: open a new one next time.
            self.sender = None;
        }
        let (status, body) = result?;
        match status {
            StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => Err(AgentError::Unauthorized {
                cluster: e.cluster.clone(),
                status: status.as_u16(),
            }),
            s if s.is_success() => Ok((s, body)),
            s => Err(AgentError::HubRefused {
                status: s.as_u16(),
                message: flotilla_redact::scrub_any(&String::from_utf8_lossy(
                    &body[..body.len().min(512)],
                )),
            }),
        }
    }

    /// The long poll: the cluster's assignment if the hub holds one of a
    /// generation above `after`, `None` when none came within its wait.
    pub async fn assignment(
        &mut self,
        after: u64,
        digest: &str,
    ) -> Result<Option<Assignment>, AgentError> {
        let path = format!(
            "{AGENT_API}/assignment?cluster={}&after={after}&digest={}",
            self.endpoint.cluster,
            if digest.chars().all(|c| c.is_ascii_hexdigit()) {
                digest
            } else {
                ""
            }
        );
        let (status, body) = self.send(Method::GET, &path, None).await?;
        if status == StatusCode::NO_CONTENT {
            return Ok(None);
        }
        let a: Assignment = serde_json::from_slice(&body)
            .map_err(|x| AgentError::Protocol(format!("the assignment is not valid: {x}")))?;
        if a.cluster != self.endpoint.cluster {
            return Err(AgentError::Protocol(format!(
                "the hub sent an assignment of cluster {:?}",
                a.cluster
            )));
        }
        Ok(Some(a))
    }

    /// Sends one report.
    pub async fn report(&mut self, report: &AgentReport) -> Result<(), AgentError> {
        let body = serde_json::to_vec(report).map_err(|x| AgentError::Protocol(x.to_string()))?;
        let path = format!("{AGENT_API}/report?cluster={}", self.endpoint.cluster);
        self.send(Method::POST, &path, Some(body)).await.map(|_| ())
    }
}
