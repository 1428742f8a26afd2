//! Real Git servers on 127.0.0.1, started by the tests and stopped on drop:
//!
//! - [`GitDaemon`]: `git daemon` (the `git://` protocol);
//! - [`HttpGitServer`]: `git http-backend` (smart HTTP, as CGI) behind a small
//!   HTTP/1.1 server requiring basic authentication;
//! - [`SilentServer`]: accepts connections and never answers;
//! - [`closed_port`]: a port nothing listens on.

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::{git_command, isolated_home};

/// How long servers wait on a silent client before dropping it.
const CLIENT_TIMEOUT: Duration = Duration::from_secs(20);

/// A port that was free a moment ago.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("bind an ephemeral port")
        .port()
}

/// A port on 127.0.0.1 with nothing listening.
pub fn closed_port() -> u16 {
    free_port()
}

/// Waits (up to `timeout`) until something accepts connections on `port`.
fn wait_for_port(port: u16, timeout: Duration, child: &mut Child) -> bool {
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if matches!(child.try_wait(), Ok(Some(_))) {
            return false;
        }
        if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(25));
    }
    false
}

/// `git daemon --export-all` serving a folder on 127.0.0.1; killed on drop.
pub struct GitDaemon {
    child: Child,
    port: u16,
}

impl GitDaemon {
    /// Serves every repository under `base_path`.
    pub fn start(base_path: &Path) -> Self {
        let base = base_path.to_str().expect("UTF-8 path");
        for _attempt in 0..5 {
            let port = free_port();
            let mut child = git_command(base_path)
                .args([
                    "daemon",
                    "--reuseaddr",
                    "--export-all",
                    "--informative-errors",
                    &format!("--base-path={base}"),
                    "--listen=127.0.0.1",
                    &format!("--port={port}"),
                    base,
                ])
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("spawn git daemon");
            if wait_for_port(port, Duration::from_secs(10), &mut child) {
                return Self { child, port };
            }
            let _ = child.kill();
            let _ = child.wait();
        }
        panic!("git daemon did not start");
    }

    /// `git://127.0.0.1:<port>/<repo>`.
    pub fn url(&self, repo: &str) -> String {
        format!("git://127.0.0.1:{}/{repo}", self.port)
    }
}

impl Drop for GitDaemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Where `git http-backend` is.
fn http_backend() -> PathBuf {
    let exec_path = Command::new("git")
        .arg("--exec-path")
        .output()
        .ok()
        .map(|o| PathBuf::from(String::from_utf8_lossy(&o.stdout).trim()));
    exec_path
        .map(|p| p.join("git-http-backend"))
        .filter(|p| p.exists())
        .unwrap_or_else(|| PathBuf::from("/usr/lib/git-core/git-http-backend"))
}

struct HttpConfig {
    project_root: PathBuf,
    username: String,
    password: String,
    backend: PathBuf,
    unauthorized: AtomicUsize,
    cut_posts: AtomicBool,
}

/// `git http-backend` behind an HTTP/1.1 server on 127.0.0.1 that requires
/// basic authentication; stopped on drop.
pub struct HttpGitServer {
    port: u16,
    stop: Arc<AtomicBool>,
    config: Arc<HttpConfig>,
    thread: Option<JoinHandle<()>>,
}

impl HttpGitServer {
    /// Serves the repositories under `project_root` to `username`/`password`.
    pub fn start(project_root: &Path, username: &str, password: &str) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().unwrap().port();
        listener.set_nonblocking(true).unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let config = Arc::new(HttpConfig {
            project_root: project_root.to_owned(),
            username: username.to_owned(),
            password: password.to_owned(),
            backend: http_backend(),
            unauthorized: AtomicUsize::new(0),
            cut_posts: AtomicBool::new(false),
        });
        let thread = {
            let stop = Arc::clone(&stop);
            let config = Arc::clone(&config);
            std::thread::spawn(move || {
                accept_loop(&listener, &stop, |stream| {
                    let config = Arc::clone(&config);
                    std::thread::spawn(move || {
                        let _ = serve_connection(stream, &config);
                    });
                })
            })
        };
        Self {
            port,
            stop,
            config,
            thread: Some(thread),
        }
    }

    /// `http://127.0.0.1:<port>/<repo>`.
    pub fn url(&self, repo: &str) -> String {
        format!("http://127.0.0.1:{}/{repo}", self.port)
    }

    /// `http://<user>:<password>@127.0.0.1:<port>/<repo>`.
    pub fn url_with_userinfo(&self, repo: &str, user: &str, password: &str) -> String {
        format!("http://{user}:{password}@127.0.0.1:{}/{repo}", self.port)
    }

    /// While `on`, the answers to POST requests (the packs) are cut off halfway
    /// and the connection closed, as when a network drops mid-fetch.
    pub fn cut_pack_responses(&self, on: bool) {
        self.config.cut_posts.store(on, Ordering::SeqCst);
    }

    /// How many requests were refused with 401 so far.
    pub fn unauthorized_count(&self) -> usize {
        self.config.unauthorized.load(Ordering::SeqCst)
    }
}

impl Drop for HttpGitServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Accepts connections until `stop` is set (polled every 10 ms).
fn accept_loop(listener: &TcpListener, stop: &AtomicBool, mut on_accept: impl FnMut(TcpStream)) {
    while !stop.load(Ordering::SeqCst) {
        match listener.accept() {
            Ok((stream, _)) => {
                let _ = stream.set_nonblocking(false);
                on_accept(stream);
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                std::thread::sleep(Duration::from_millis(10));
            }
            Err(_) => std::thread::sleep(Duration::from_millis(10)),
        }
    }
}

struct Request {
    method: String,
    target: String,
    headers: Vec<(String, String)>,
    close: bool,
}

impl Request {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    fn content_length(&self) -> Option<u64> {
        self.header("content-length")
            .and_then(|v| v.trim().parse().ok())
    }

    fn chunked(&self) -> bool {
        self.header("transfer-encoding")
            .is_some_and(|v| v.to_ascii_lowercase().contains("chunked"))
    }
}

fn serve_connection(stream: TcpStream, config: &HttpConfig) -> io::Result<()> {
    stream.set_read_timeout(Some(CLIENT_TIMEOUT))?;
    stream.set_write_timeout(Some(CLIENT_TIMEOUT))?;
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut writer = stream;
    // Bounded: a client gets at most this many requests on one connection.
    for _ in 0..1000 {
        let Some(request) = read_request_head(&mut reader)? else {
            return Ok(());
        };
        let Some(user) = authorized_user(&request, config) else {
            config.unauthorized.fetch_add(1, Ordering::SeqCst);
            copy_body(&mut reader, &request, &mut io::sink())?;
            writer.write_all(
                b"HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Basic realm=\"flotilla-test\"\r\n\
                  Content-Type: text/plain\r\nContent-Length: 13\r\n\r\nUnauthorized\n",
            )?;
            writer.flush()?;
            if request.close {
                return Ok(());
            }
            continue;
        };
        if request
            .header("expect")
            .is_some_and(|v| v.eq_ignore_ascii_case("100-continue"))
        {
            writer.write_all(b"HTTP/1.1 100 Continue\r\n\r\n")?;
        }
        let response = run_cgi(&mut reader, &request, &user, config)?;
        if request.method == "POST" && config.cut_posts.load(Ordering::SeqCst) {
            let body_start = find(&response, b"\r\n\r\n").map_or(0, |i| i + 4);
            let cut = body_start + (response.len() - body_start) / 2;
            writer.write_all(&response[..cut])?;
            writer.flush()?;
            return Ok(());
        }
        writer.write_all(&response)?;
        writer.flush()?;
        if request.close {
            return Ok(());
        }
    }
    Ok(())
}

/// Reads a request line and headers; `None` at end of stream.
fn read_request_head(reader: &mut impl BufRead) -> io::Result<Option<Request>> {
    let mut line = String::new();
    if reader.read_line(&mut line)? == 0 {
        return Ok(None);
    }
    let mut parts = line.split_whitespace();
    let (Some(method), Some(target), Some(version)) = (parts.next(), parts.next(), parts.next())
    else {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "bad request line",
        ));
    };
    let mut request = Request {
        method: method.to_owned(),
        target: target.to_owned(),
        headers: Vec::new(),
        close: version == "HTTP/1.0",
    };
    for _ in 0..200 {
        let mut header = String::new();
        if reader.read_line(&mut header)? == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        let header = header.trim_end();
        if header.is_empty() {
            if request
                .header("connection")
                .is_some_and(|v| v.eq_ignore_ascii_case("close"))
            {
                request.close = true;
            }
            return Ok(Some(request));
        }
        if let Some((name, value)) = header.split_once(':') {
            request
                .headers
                .push((name.trim().to_ascii_lowercase(), value.trim().to_owned()));
        }
    }
    Err(io::Error::new(
        io::ErrorKind::InvalidData,
        "too many headers",
    ))
}

fn authorized_user(request: &Request, config: &HttpConfig) -> Option<String> {
    let encoded = request.header("authorization")?.strip_prefix("Basic ")?;
    let decoded = String::from_utf8(base64_decode(encoded.trim())?).ok()?;
    let (user, password) = decoded.split_once(':')?;
    (user == config.username && password == config.password).then(|| user.to_owned())
}

/// Copies the request body (by `Content-Length`, or de-chunked) into `out`.
/// Keeps reading when `out` fails, so that the connection stays in step.
fn copy_body(reader: &mut impl BufRead, request: &Request, out: &mut impl Write) -> io::Result<()> {
    let mut out_ok = true;
    let mut forward = |data: &[u8]| {
        if out_ok && out.write_all(data).is_err() {
            out_ok = false;
        }
    };
    let copy_exact = |reader: &mut dyn BufRead, mut left: u64, forward: &mut dyn FnMut(&[u8])| {
        let mut buf = [0u8; 16 * 1024];
        while left > 0 {
            let want = buf.len().min(usize::try_from(left).unwrap_or(usize::MAX));
            let n = reader.read(&mut buf[..want])?;
            if n == 0 {
                return Err(io::Error::from(io::ErrorKind::UnexpectedEof));
            }
            forward(&buf[..n]);
            left -= n as u64;
        }
        Ok::<(), io::Error>(())
    };
    if request.chunked() {
        loop {
            let mut size_line = String::new();
            reader.read_line(&mut size_line)?;
            let size_hex = size_line.trim().split(';').next().unwrap_or("");
            let size = u64::from_str_radix(size_hex, 16)
                .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "bad chunk size"))?;
            if size == 0 {
                // Trailers, up to the empty line.
                for _ in 0..100 {
                    let mut trailer = String::new();
                    if reader.read_line(&mut trailer)? == 0 || trailer.trim().is_empty() {
                        break;
                    }
                }
                return Ok(());
            }
            copy_exact(reader, size, &mut forward)?;
            let mut crlf = String::new();
            reader.read_line(&mut crlf)?;
        }
    }
    if let Some(length) = request.content_length() {
        copy_exact(reader, length, &mut forward)?;
    }
    Ok(())
}

/// Runs `git http-backend` for one request, streaming the body to its stdin;
/// returns the whole HTTP response.
fn run_cgi(
    reader: &mut BufReader<TcpStream>,
    request: &Request,
    user: &str,
    config: &HttpConfig,
) -> io::Result<Vec<u8>> {
    let (path, query) = request
        .target
        .split_once('?')
        .unwrap_or((request.target.as_str(), ""));
    let home = isolated_home();
    let mut cmd = Command::new(&config.backend);
    cmd.env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", home)
        .env("XDG_CONFIG_HOME", home)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", home.join("gitconfig"))
        .env("GIT_PROJECT_ROOT", &config.project_root)
        .env("GIT_HTTP_EXPORT_ALL", "1")
        .env("GATEWAY_INTERFACE", "CGI/1.1")
        .env("SERVER_PROTOCOL", "HTTP/1.1")
        .env("SERVER_SOFTWARE", "flotilla-test")
        .env("REMOTE_ADDR", "127.0.0.1")
        .env("REMOTE_USER", user)
        .env("REQUEST_METHOD", &request.method)
        .env("PATH_INFO", path)
        .env("QUERY_STRING", query)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    if let Some(v) = request.header("content-type") {
        cmd.env("CONTENT_TYPE", v);
    }
    if !request.chunked()
        && let Some(v) = request.content_length()
    {
        cmd.env("CONTENT_LENGTH", v.to_string());
    }
    if let Some(v) = request.header("git-protocol") {
        cmd.env("HTTP_GIT_PROTOCOL", v);
    }
    if let Some(v) = request.header("content-encoding") {
        cmd.env("HTTP_CONTENT_ENCODING", v);
    }
    let mut child = cmd.spawn()?;
    let mut stdin = child.stdin.take().expect("piped stdin");
    let mut stdout = child.stdout.take().expect("piped stdout");
    let mut output = Vec::new();
    let body_result = std::thread::scope(|scope| {
        let feeder = scope.spawn(move || {
            let result = copy_body(reader, request, &mut stdin);
            drop(stdin);
            result
        });
        let read_result = stdout.read_to_end(&mut output);
        let body_result = feeder.join().expect("body feeder thread");
        read_result.and(body_result)
    });
    let _ = child.wait();
    body_result?;
    Ok(cgi_to_http(&output))
}

/// Turns CGI output (headers, blank line, body) into an HTTP/1.1 response.
fn cgi_to_http(output: &[u8]) -> Vec<u8> {
    let (head, body) = match find(output, b"\r\n\r\n") {
        Some(i) => (&output[..i], &output[i + 4..]),
        None => match find(output, b"\n\n") {
            Some(i) => (&output[..i], &output[i + 2..]),
            None => (&b""[..], output),
        },
    };
    let mut status = "200 OK".to_owned();
    let mut headers = String::new();
    for line in String::from_utf8_lossy(head).lines() {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        let value = value.trim();
        match name.trim().to_ascii_lowercase().as_str() {
            "status" => status = value.to_owned(),
            "content-length" | "transfer-encoding" | "connection" => {}
            _ => headers.push_str(&format!("{}: {value}\r\n", name.trim())),
        }
    }
    let mut response = format!(
        "HTTP/1.1 {status}\r\n{headers}Content-Length: {}\r\n\r\n",
        body.len()
    )
    .into_bytes();
    response.extend_from_slice(body);
    response
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

fn base64_decode(text: &str) -> Option<Vec<u8>> {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = Vec::new();
    let (mut acc, mut bits) = (0u32, 0);
    for &c in text.trim_end_matches('=').as_bytes() {
        acc = (acc << 6) | ALPHABET.iter().position(|&a| a == c)? as u32;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    Some(out)
}

/// Accepts connections on 127.0.0.1 and never answers (holds them open).
pub struct SilentServer {
    port: u16,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl SilentServer {
    /// Starts listening.
    pub fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().unwrap().port();
        listener.set_nonblocking(true).unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let stop = Arc::clone(&stop);
            std::thread::spawn(move || {
                let mut held = Vec::new();
                accept_loop(&listener, &stop, |stream| held.push(stream));
            })
        };
        Self {
            port,
            stop,
            thread: Some(thread),
        }
    }

    /// The port it listens on.
    pub fn port(&self) -> u16 {
        self.port
    }
}

impl Drop for SilentServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
