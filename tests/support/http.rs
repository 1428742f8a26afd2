//! A minimal HTTP/1.1 client for the daemon's HTTP side (probes, API,
//! metrics, status page, webhooks), bounded in time and size, and webhook
//! signing.

use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::Duration;

use hmac::{Hmac, Mac};
use serde_json::Value;
use sha2::Sha256;

/// The longest one socket operation (connect, write, read) may take.
pub const HTTP_TIMEOUT: Duration = Duration::from_secs(15);

/// The most a response may be.
pub const MAX_RESPONSE: u64 = 16 * 1024 * 1024;

/// A response.
#[derive(Debug, Clone)]
pub struct Resp {
    /// The status code.
    pub status: u16,
    /// Headers, names lower-cased.
    pub headers: Vec<(String, String)>,
    /// The body (de-chunked).
    pub body: Vec<u8>,
}

impl Resp {
    /// A header's value.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The body as text; panics unless it is UTF-8.
    pub fn text(&self) -> String {
        String::from_utf8(self.body.clone()).expect("a UTF-8 body")
    }

    /// The body as JSON; panics with the body otherwise.
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&self.body)))
    }
}

/// One request on its own connection (`Connection: close`) to `addr`
/// (`host:port`), run on a blocking thread; every socket operation times out
/// after [`HTTP_TIMEOUT`]. `Err` on a connection failure, a timeout before
/// any answer, or a malformed answer.
pub async fn request(
    addr: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Result<Resp, String> {
    let mut head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (n, v) in headers {
        head.push_str(&format!("{n}: {v}\r\n"));
    }
    head.push_str("\r\n");
    let mut raw = head.into_bytes();
    raw.extend_from_slice(body);
    let target = addr.to_string();
    let what = format!("{method} http://{addr}{path}");
    tokio::task::spawn_blocking(move || {
        let sock = target
            .to_socket_addrs()
            .map_err(|e| format!("{what}: {e}"))?
            .next()
            .ok_or_else(|| format!("{what}: no address"))?;
        let mut s = TcpStream::connect_timeout(&sock, HTTP_TIMEOUT)
            .map_err(|e| format!("{what}: connect: {e}"))?;
        s.set_read_timeout(Some(HTTP_TIMEOUT)).unwrap();
        s.set_write_timeout(Some(HTTP_TIMEOUT)).unwrap();
        // The server may answer (413) and close before reading all of a big
        // body; what it answered is still readable.
        let _ = s.write_all(&raw);
        let mut buf = Vec::new();
        let read = s.take(MAX_RESPONSE).read_to_end(&mut buf);
        if buf.is_empty() {
            return Err(format!("{what}: no answer ({read:?})"));
        }
        parse(&buf).map_err(|e| format!("{what}: {e}"))
    })
    .await
    .unwrap()
}

/// `GET path`, panicking on a transport error.
pub async fn get(addr: &str, path: &str) -> Resp {
    request(addr, "GET", path, &[], &[])
        .await
        .unwrap_or_else(|e| panic!("GET {path}: {e}"))
}

fn parse(buf: &[u8]) -> Result<Resp, String> {
    let end = buf
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| format!("no response head in {:?}", String::from_utf8_lossy(buf)))?;
    let head = std::str::from_utf8(&buf[..end]).map_err(|e| format!("response head: {e}"))?;
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or("");
    let status = status_line
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| format!("bad status line {status_line:?}"))?;
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    let mut resp = Resp {
        status,
        headers,
        body: Vec::new(),
    };
    let rest = &buf[end + 4..];
    resp.body = if resp
        .header("transfer-encoding")
        .is_some_and(|t| t.eq_ignore_ascii_case("chunked"))
    {
        dechunk(rest)?
    } else if let Some(n) = resp.header("content-length").and_then(|n| n.parse().ok()) {
        rest.get(..n)
            .ok_or_else(|| format!("body of {} bytes, Content-Length {n}", rest.len()))?
            .to_vec()
    } else {
        rest.to_vec()
    };
    Ok(resp)
}

/// Decodes a chunked body (bounded by its length: every step consumes bytes).
fn dechunk(mut rest: &[u8]) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    while let Some(eol) = rest.windows(2).position(|w| w == b"\r\n") {
        let size = String::from_utf8_lossy(&rest[..eol]);
        let size = usize::from_str_radix(size.split(';').next().unwrap_or("").trim(), 16)
            .map_err(|e| format!("chunk size {size:?}: {e}"))?;
        if size == 0 {
            break;
        }
        let chunk = rest
            .get(eol + 2..eol + 2 + size)
            .ok_or_else(|| format!("a chunk of {size} bytes is cut short"))?;
        out.extend_from_slice(chunk);
        rest = rest.get(eol + 2 + size + 2..).unwrap_or_default();
    }
    Ok(out)
}

/// `sha256=<hex HMAC-SHA256(secret, body)>`, as GitHub signs webhooks.
pub fn github_signature(secret: &str, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(body);
    let hex: String = mac
        .finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    format!("sha256={hex}")
}
