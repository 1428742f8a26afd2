//! Replays recorded kube-apiserver traces against a fresh [`TestApiServer`]
//! per trace and compares every response exactly (after the normalisation
//! the traces' README defines).
//!
//! The folder is `$FLOTILLA_TRACES_DIR`, by default
//! `<repo>/../shared/apiserver-traces/traces`; the Gateway API CRDs are read
//! from `<traces>/../crds/*/*.yaml` and installed in every server before the
//! trace runs. A missing or empty folder fails the test (it never skips).
//!
//! Command-line arguments (after `--`) that do not start with `-` select
//! the traces whose file name contains one of them (a development aid; no
//! argument replays them all).
//!
//! The replay is generic: it knows the trace format, not the scenarios.
//! Each write step starts in a new wall-clock second, as in the recordings
//! (managedFields entries are ordered by `time` in whole seconds).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use kube_testserver::TestApiServer;
use serde_json::{Map, Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const NAMESPACE: &str = "replay-ns";
const POLL_EVERY: Duration = Duration::from_millis(100);
const POLL_FOR: Duration = Duration::from_secs(60);

fn traces_dir() -> PathBuf {
    match std::env::var_os("FLOTILLA_TRACES_DIR") {
        Some(d) => PathBuf::from(d),
        None => PathBuf::from(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../../shared/apiserver-traces/traces"
        )),
    }
}

fn main() -> ExitCode {
    let filters: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    let dir = traces_dir();
    let mut files: Vec<PathBuf> = match std::fs::read_dir(&dir) {
        Ok(rd) => rd
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "json"))
            .collect(),
        Err(e) => {
            eprintln!(
                "traces folder {} cannot be read ({e}); set FLOTILLA_TRACES_DIR to a folder of recorded traces",
                dir.display()
            );
            return ExitCode::FAILURE;
        }
    };
    files.sort();
    if files.is_empty() {
        eprintln!(
            "traces folder {} holds no *.json trace; set FLOTILLA_TRACES_DIR to a folder of recorded traces",
            dir.display()
        );
        return ExitCode::FAILURE;
    }
    let crds = match read_crds(&dir) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::FAILURE;
        }
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let (mut passed, mut failed) = (0, 0);
    for file in &files {
        let name = file.file_name().unwrap().to_string_lossy().to_string();
        if !filters.is_empty() && !filters.iter().any(|f| name.contains(f.as_str())) {
            continue;
        }
        let trace: Value = match std::fs::read_to_string(file)
            .map_err(|e| e.to_string())
            .and_then(|t| serde_json::from_str(&t).map_err(|e| e.to_string()))
        {
            Ok(t) => t,
            Err(e) => {
                println!("FAIL {name}: cannot read trace: {e}");
                failed += 1;
                continue;
            }
        };
        let scenario = trace["scenario"]
            .as_str()
            .map(str::to_string)
            .unwrap_or(name);
        match rt.block_on(replay(&trace, &crds)) {
            Ok(()) => {
                println!("pass {scenario}");
                passed += 1;
            }
            Err(e) => {
                println!("FAIL {scenario}: {e}");
                failed += 1;
            }
        }
    }
    println!("{passed} passed, {failed} failed");
    if failed > 0 || passed == 0 {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

/// The CRDs next to the traces folder (`../crds/*/*.yaml`), as JSON.
fn read_crds(traces: &Path) -> Result<Vec<Value>, String> {
    let root = traces.join("../crds");
    let mut files = Vec::new();
    let mut stack = vec![root.clone()];
    while let Some(d) = stack.pop() {
        let rd = std::fs::read_dir(&d)
            .map_err(|e| format!("CRD folder {} cannot be read: {e}", d.display()))?;
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if p
                .extension()
                .is_some_and(|x| x == "yaml" || x == "yml" || x == "json")
            {
                files.push(p);
            }
        }
    }
    files.sort();
    let mut out = Vec::new();
    for f in files {
        let text = std::fs::read_to_string(&f).map_err(|e| format!("{}: {e}", f.display()))?;
        let docs: Vec<Value> = serde_saphyr::from_multiple(&text)
            .map_err(|e| format!("{}: invalid YAML: {e}", f.display()))?;
        out.extend(docs.into_iter().filter(|d| d.is_object()));
    }
    Ok(out)
}

struct Response {
    status: u16,
    warnings: Vec<String>,
    body: Value,
}

struct Client {
    addr: std::net::SocketAddr,
}

impl Client {
    async fn send(
        &self,
        method: &str,
        path: &str,
        query: &[(String, String)],
        content_type: Option<&str>,
        body: Option<Vec<u8>>,
    ) -> Result<Response, String> {
        let mut target = path.to_string();
        if !query.is_empty() {
            let q = form_urlencoded::Serializer::new(String::new())
                .extend_pairs(query.iter())
                .finish();
            target.push('?');
            target.push_str(&q);
        }
        let mut req = format!(
            "{method} {target} HTTP/1.1\r\nHost: {}\r\nAccept: application/json\r\nUser-Agent: trace-recorder/1.0\r\nConnection: close\r\n",
            self.addr
        );
        if let Some(ct) = content_type {
            req.push_str(&format!("Content-Type: {ct}\r\n"));
        }
        let body = body.unwrap_or_default();
        if !body.is_empty() || matches!(method, "POST" | "PUT" | "PATCH") {
            req.push_str(&format!("Content-Length: {}\r\n", body.len()));
        }
        req.push_str("\r\n");
        let mut stream = TcpStream::connect(self.addr)
            .await
            .map_err(|e| format!("connect: {e}"))?;
        let mut bytes = req.into_bytes();
        bytes.extend_from_slice(&body);
        stream
            .write_all(&bytes)
            .await
            .map_err(|e| format!("write: {e}"))?;
        let mut raw = Vec::new();
        tokio::time::timeout(Duration::from_secs(30), stream.read_to_end(&mut raw))
            .await
            .map_err(|_| "no response within 30 s".to_string())?
            .map_err(|e| format!("read: {e}"))?;
        parse_response(&raw)
    }
}

fn parse_response(raw: &[u8]) -> Result<Response, String> {
    let end = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or("response without header end")?;
    let head = String::from_utf8_lossy(&raw[..end]).to_string();
    let mut payload = raw[end + 4..].to_vec();
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let status: u16 = status_line
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| format!("bad status line {status_line:?}"))?;
    let mut warnings = Vec::new();
    let mut chunked = false;
    for l in lines {
        let Some((k, v)) = l.split_once(':') else {
            continue;
        };
        let v = v.trim();
        if k.eq_ignore_ascii_case("warning") {
            warnings.push(warning_text(v));
        } else if k.eq_ignore_ascii_case("transfer-encoding") && v.contains("chunked") {
            chunked = true;
        }
    }
    if chunked {
        payload = dechunk(&payload)?;
    }
    let body = if payload.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&payload)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&payload).to_string()))
    };
    Ok(Response {
        status,
        warnings,
        body,
    })
}

/// `299 - "text"` -> `text` (with `\"` and `\\` unescaped).
fn warning_text(v: &str) -> String {
    let rest = v.splitn(3, ' ').nth(2).unwrap_or(v).trim();
    let Some(inner) = rest.strip_prefix('"') else {
        return rest.to_string();
    };
    let mut out = String::new();
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                if let Some(n) = chars.next() {
                    out.push(n);
                }
            }
            '"' => break,
            c => out.push(c),
        }
    }
    out
}

fn dechunk(mut data: &[u8]) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    loop {
        let nl = data
            .windows(2)
            .position(|w| w == b"\r\n")
            .ok_or("bad chunked body")?;
        let size_text = String::from_utf8_lossy(&data[..nl]).to_string();
        let size = usize::from_str_radix(size_text.split(';').next().unwrap().trim(), 16)
            .map_err(|_| format!("bad chunk size {size_text:?}"))?;
        data = &data[nl + 2..];
        if size == 0 {
            return Ok(out);
        }
        if data.len() < size {
            return Err("truncated chunk".into());
        }
        out.extend_from_slice(&data[..size]);
        data = data.get(size + 2..).unwrap_or_default();
    }
}

/// A request of a trace (step or setup), placeholders substituted.
struct Request {
    method: String,
    path: String,
    query: Vec<(String, String)>,
    content_type: Option<String>,
    body: Option<Vec<u8>>,
}

fn substitute(s: &str, responses: &[Response]) -> Result<String, String> {
    let mut out = s.replace("<ns>", NAMESPACE);
    for (tag, field) in [("<rv:", "resourceVersion"), ("<continue:", "continue")] {
        while let Some(start) = out.find(tag) {
            let end = out[start..]
                .find('>')
                .map(|e| start + e)
                .ok_or_else(|| format!("unterminated placeholder in {s:?}"))?;
            let n: usize = out[start + tag.len()..end]
                .parse()
                .map_err(|_| format!("bad placeholder in {s:?}"))?;
            let value = responses
                .get(n)
                .and_then(|r| r.body["metadata"][field].as_str())
                .ok_or_else(|| format!("placeholder {tag}{n}>: step {n} has no metadata.{field}"))?
                .to_string();
            out.replace_range(start..=end, &value);
        }
    }
    Ok(out)
}

fn substitute_value(v: &Value, responses: &[Response]) -> Result<Value, String> {
    Ok(match v {
        Value::String(s) => Value::String(substitute(s, responses)?),
        Value::Array(a) => Value::Array(
            a.iter()
                .map(|x| substitute_value(x, responses))
                .collect::<Result<_, _>>()?,
        ),
        Value::Object(o) => {
            let mut m = Map::new();
            for (k, x) in o {
                m.insert(substitute(k, responses)?, substitute_value(x, responses)?);
            }
            Value::Object(m)
        }
        other => other.clone(),
    })
}

fn request(r: &Value, responses: &[Response]) -> Result<Request, String> {
    let method = r["method"].as_str().ok_or("request without method")?;
    let path = substitute(r["path"].as_str().ok_or("request without path")?, responses)?;
    let mut query = Vec::new();
    if let Some(q) = r["query"].as_object() {
        for (k, v) in q {
            let v = match v {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            query.push((k.clone(), substitute(&v, responses)?));
        }
    }
    let body = match &r["body"] {
        Value::Null => None,
        Value::String(s) => Some(substitute(s, responses)?.into_bytes()),
        v => Some(serde_json::to_vec(&substitute_value(v, responses)?).unwrap()),
    };
    Ok(Request {
        method: method.to_string(),
        path,
        query,
        content_type: r["contentType"].as_str().map(str::to_string),
        body,
    })
}

impl Client {
    async fn run(&self, r: &Request) -> Result<Response, String> {
        self.send(
            &r.method,
            &r.path,
            &r.query,
            r.content_type.as_deref(),
            r.body.clone(),
        )
        .await
    }

    /// Repeats `r` until `cond` holds (bounded), returning the last response.
    async fn poll(&self, r: &Request, cond: &Value, limit: Duration) -> Result<Response, String> {
        let start = Instant::now();
        loop {
            let resp = self.run(r).await?;
            if satisfied(&resp, cond) {
                return Ok(resp);
            }
            if start.elapsed() > limit {
                return Err(format!(
                    "{} {}: condition {cond} not reached within {limit:?} (last status {})",
                    r.method, r.path, resp.status
                ));
            }
            tokio::time::sleep(POLL_EVERY).await;
        }
    }
}

fn satisfied(resp: &Response, cond: &Value) -> bool {
    if let Some(code) = cond.get("status").and_then(Value::as_u64) {
        return u64::from(resp.status) == code;
    }
    if let Some(ty) = cond.get("condition").and_then(Value::as_str) {
        return resp.body["status"]["conditions"]
            .as_array()
            .is_some_and(|cs| cs.iter().any(|c| c["type"] == ty && c["status"] == "True"));
    }
    true
}

async fn replay(trace: &Value, crds: &[Value]) -> Result<(), String> {
    let server = TestApiServer::start().await;
    let result = replay_on(&server, trace, crds).await;
    server.shutdown().await;
    result
}

async fn replay_on(server: &TestApiServer, trace: &Value, crds: &[Value]) -> Result<(), String> {
    let client = Client {
        addr: server.addr(),
    };
    for crd in crds {
        let resp = client
            .send(
                "POST",
                "/apis/apiextensions.k8s.io/v1/customresourcedefinitions",
                &[("fieldManager".into(), "trace-setup".into())],
                Some("application/json"),
                Some(serde_json::to_vec(crd).unwrap()),
            )
            .await?;
        if resp.status != 201 {
            return Err(format!(
                "installing CRD {}: status {}: {}",
                crd["metadata"]["name"], resp.status, resp.body["message"]
            ));
        }
        let path = format!(
            "/apis/apiextensions.k8s.io/v1/customresourcedefinitions/{}",
            crd["metadata"]["name"].as_str().unwrap_or_default()
        );
        let get = Request {
            method: "GET".into(),
            path,
            query: vec![],
            content_type: None,
            body: None,
        };
        client
            .poll(&get, &json!({"condition": "Established"}), POLL_FOR)
            .await?;
    }
    if trace["freshNamespace"].as_bool().unwrap_or(false) {
        let resp = client
            .send(
                "POST",
                "/api/v1/namespaces",
                &[("fieldManager".into(), "trace-setup".into())],
                Some("application/json"),
                Some(
                    serde_json::to_vec(&json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NAMESPACE}}))
                        .unwrap(),
                ),
            )
            .await?;
        if resp.status != 201 {
            return Err(format!(
                "creating namespace: status {}: {}",
                resp.status, resp.body["message"]
            ));
        }
    }
    for (i, s) in trace["setup"].as_array().into_iter().flatten().enumerate() {
        let r = request(s, &[]).map_err(|e| format!("setup {i}: {e}"))?;
        client
            .run(&r)
            .await
            .map_err(|e| format!("setup {i}: {e}"))?;
        if let Some(w) = s.get("waitFor") {
            let get = Request {
                method: "GET".into(),
                path: substitute(w["path"].as_str().unwrap_or(&r.path), &[])?,
                query: vec![],
                content_type: None,
                body: None,
            };
            let limit = w["timeout"]
                .as_u64()
                .map(Duration::from_secs)
                .unwrap_or(POLL_FOR);
            client
                .poll(&get, w, limit)
                .await
                .map_err(|e| format!("setup {i}: {e}"))?;
        }
    }
    let mut responses: Vec<Response> = Vec::new();
    // Per object: the previous response's resourceVersion and allocations.
    let mut last_rv: HashMap<String, String> = HashMap::new();
    let mut last_alloc: HashMap<String, Value> = HashMap::new();
    for (i, step) in trace["steps"]
        .as_array()
        .ok_or("trace without steps")?
        .iter()
        .enumerate()
    {
        let r = request(&step["request"], &responses).map_err(|e| format!("step {i}: {e}"))?;
        if r.method != "GET" {
            next_second().await;
        }
        let resp = match step.get("pollUntil") {
            Some(cond) => client.poll(&r, cond, POLL_FOR).await,
            None => client.run(&r).await,
        }
        .map_err(|e| format!("step {i}: {e}"))?;
        let expected = &step["response"];
        let want_status = expected["status"].as_u64().unwrap_or(0);
        if u64::from(resp.status) != want_status {
            return Err(format!(
                "step {i}: status: expected {want_status}, got {} ({})",
                resp.status,
                short(&resp.body["message"])
            ));
        }
        let mut got = resp.body.clone();
        normalise(&mut got, false);
        if let Some(d) = first_diff(&expected["body"], &got, String::new()) {
            return Err(format!("step {i}: {d}"));
        }
        let want_warn: Vec<Value> = expected["warnings"].as_array().cloned().unwrap_or_default();
        let got_warn: Vec<Value> = resp
            .warnings
            .iter()
            .map(|w| Value::String(w.replace(NAMESPACE, "<ns>")))
            .collect();
        if want_warn != got_warn {
            return Err(format!(
                "step {i}: warnings: expected {}, got {}",
                short(&Value::Array(want_warn)),
                short(&Value::Array(got_warn))
            ));
        }
        let key = object_key(&r, &resp.body);
        let rv = resp.body["metadata"]["resourceVersion"]
            .as_str()
            .filter(|_| is_object(&resp.body))
            .map(str::to_string);
        if let Some(want) = step.get("rvChanged").and_then(Value::as_bool) {
            let got = match (&rv, last_rv.get(&key)) {
                (Some(now), Some(before)) => now != before,
                (None, Some(_)) => true,
                _ => {
                    return Err(format!(
                        "step {i}: rvChanged: expected {want}, but there is no earlier response for {key}"
                    ));
                }
            };
            if got != want {
                return Err(format!("step {i}: rvChanged: expected {want}, got {got}"));
            }
        }
        let alloc = allocations(&resp.body);
        if let Some(want) = step.get("allocatedKept").and_then(Value::as_bool) {
            let got = kept(last_alloc.get(&key), alloc.as_ref());
            if got != want {
                return Err(format!(
                    "step {i}: allocatedKept: expected {want}, got {got} (before {}, now {})",
                    short(last_alloc.get(&key).unwrap_or(&Value::Null)),
                    short(alloc.as_ref().unwrap_or(&Value::Null))
                ));
            }
        }
        if let Some(rv) = rv {
            last_rv.insert(key.clone(), rv);
        }
        if let Some(a) = alloc {
            last_alloc.insert(key, a);
        }
        responses.push(resp);
    }
    Ok(())
}

/// Waits for the next wall-clock second. managedFields entries are ordered
/// by their `time` in whole seconds, and the recorded writes happened in
/// distinct seconds: each write step starts in a new second too.
async fn next_second() {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    let into = now.subsec_millis();
    tokio::time::sleep(Duration::from_millis(u64::from(1000 - into) + 5)).await;
}

/// An object (not a `Status`, not a list).
fn is_object(body: &Value) -> bool {
    let kind = body["kind"].as_str().unwrap_or_default();
    !kind.is_empty() && kind != "Status" && !kind.ends_with("List")
}

/// The object a request is about: its path (`/scale` and `/status` are the
/// object's), or for a POST the collection path plus the returned name.
fn object_key(r: &Request, body: &Value) -> String {
    if r.method == "POST" {
        let name = body["metadata"]["name"].as_str().unwrap_or_default();
        return format!("{}/{name}", r.path.trim_end_matches('/'));
    }
    let p = r.path.trim_end_matches('/');
    p.strip_suffix("/scale")
        .or_else(|| p.strip_suffix("/status"))
        .unwrap_or(p)
        .to_string()
}

/// A Service's allocated values: cluster IPs, and node ports by port
/// (`port/protocol`).
fn allocations(body: &Value) -> Option<Value> {
    if body["kind"] != "Service" {
        return None;
    }
    let spec = &body["spec"];
    let mut ports = Map::new();
    for p in spec["ports"].as_array().into_iter().flatten() {
        if let Some(np) = p.get("nodePort") {
            let proto = p["protocol"].as_str().unwrap_or("TCP");
            ports.insert(format!("{}/{proto}", p["port"]), np.clone());
        }
    }
    Some(json!({
        "clusterIP": spec["clusterIP"],
        "clusterIPs": spec["clusterIPs"],
        "nodePorts": ports,
        "healthCheckNodePort": spec["healthCheckNodePort"],
    }))
}

/// Whether the allocated values of `before` are all still in `now` (ports
/// only in one of them do not count).
fn kept(before: Option<&Value>, now: Option<&Value>) -> bool {
    let (Some(b), Some(n)) = (before, now) else {
        return false;
    };
    if b["clusterIP"] != n["clusterIP"] || b["clusterIPs"] != n["clusterIPs"] {
        return false;
    }
    if !b["healthCheckNodePort"].is_null() && b["healthCheckNodePort"] != n["healthCheckNodePort"] {
        return false;
    }
    let (bp, np) = (&b["nodePorts"], &n["nodePorts"]);
    bp.as_object()
        .into_iter()
        .flatten()
        .all(|(k, v)| np.get(k).is_none_or(|x| x == v))
}

// ---- normalisation -------------------------------------------------------

fn normalise(v: &mut Value, in_metadata: bool) {
    match v {
        Value::Object(o) => {
            let entries: Vec<(String, Value)> = std::mem::take(o).into_iter().collect();
            for (k, mut x) in entries {
                let key = normalise_str(&k);
                match (k.as_str(), &x) {
                    ("uid", Value::String(s)) if !s.is_empty() => x = json!("<uid>"),
                    ("resourceVersion", Value::String(s)) if !s.is_empty() => x = json!("<rv>"),
                    ("clusterIP", Value::String(s)) if is_ip(s) => x = json!("<ip>"),
                    ("clusterIPs", Value::Array(_)) => {
                        for ip in x.as_array_mut().unwrap() {
                            if ip.as_str().is_some_and(is_ip) {
                                *ip = json!("<ip>");
                            }
                        }
                    }
                    ("nodePort", Value::Number(_)) => x = json!("<nodeport>"),
                    ("continue", Value::String(s)) if in_metadata && !s.is_empty() => {
                        x = json!("<continue>")
                    }
                    _ => normalise(&mut x, k == "metadata"),
                }
                o.insert(key, x);
            }
        }
        Value::Array(a) => a.iter_mut().for_each(|x| normalise(x, false)),
        Value::String(s) => *s = normalise_str(s),
        _ => {}
    }
}

fn normalise_str(s: &str) -> String {
    if is_timestamp(s) {
        return "<time>".into();
    }
    replace_uuids(s).replace(NAMESPACE, "<ns>")
}

fn is_ip(s: &str) -> bool {
    s.parse::<std::net::IpAddr>().is_ok()
}

/// RFC 3339: `2006-01-02T15:04:05[.frac](Z|±hh:mm)`.
fn is_timestamp(s: &str) -> bool {
    let b = s.as_bytes();
    let digits =
        |r: std::ops::Range<usize>| b.get(r).is_some_and(|x| x.iter().all(u8::is_ascii_digit));
    if b.len() < 20
        || !digits(0..4)
        || b[4] != b'-'
        || !digits(5..7)
        || b[7] != b'-'
        || !digits(8..10)
        || !(b[10] == b'T' || b[10] == b't')
        || !digits(11..13)
        || b[13] != b':'
        || !digits(14..16)
        || b[16] != b':'
        || !digits(17..19)
    {
        return false;
    }
    let mut i = 19;
    if b[i] == b'.' {
        i += 1;
        let start = i;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        if i == start {
            return false;
        }
    }
    match &b[i..] {
        [b'Z'] | [b'z'] => true,
        [s, h1, h2, b':', m1, m2] => {
            (*s == b'+' || *s == b'-') && [h1, h2, m1, m2].iter().all(|c| c.is_ascii_digit())
        }
        _ => false,
    }
}

fn replace_uuids(s: &str) -> String {
    const GROUPS: [usize; 5] = [8, 4, 4, 4, 12];
    let b = s.as_bytes();
    let matches_at = |i: usize| -> bool {
        let mut j = i;
        for (n, g) in GROUPS.iter().enumerate() {
            if n > 0 {
                if b.get(j) != Some(&b'-') {
                    return false;
                }
                j += 1;
            }
            for _ in 0..*g {
                if !b.get(j).is_some_and(u8::is_ascii_hexdigit) {
                    return false;
                }
                j += 1;
            }
        }
        true
    };
    let mut out = String::new();
    let mut i = 0;
    while i < s.len() {
        if s.is_char_boundary(i) && matches_at(i) {
            out.push_str("<uid>");
            i += 36;
        } else {
            let c = s[i..].chars().next().unwrap();
            out.push(c);
            i += c.len_utf8();
        }
    }
    out
}

// ---- comparison ----------------------------------------------------------

fn short(v: &Value) -> String {
    let t = v.to_string();
    if t.chars().count() > 160 {
        format!("{}…", t.chars().take(160).collect::<String>())
    } else {
        t
    }
}

fn escape_ptr(k: &str) -> String {
    k.replace('~', "~0").replace('/', "~1")
}

/// The first difference between `want` and `got` (key order included), as
/// `<JSON pointer>: expected <x>, got <y>`.
fn first_diff(want: &Value, got: &Value, ptr: String) -> Option<String> {
    let at = |p: &str| {
        if p.is_empty() {
            "/".to_string()
        } else {
            p.to_string()
        }
    };
    match (want, got) {
        (Value::Object(w), Value::Object(g)) => {
            for (k, wv) in w {
                let p = format!("{ptr}/{}", escape_ptr(k));
                match g.get(k) {
                    None => return Some(format!("{p}: expected {}, got nothing", short(wv))),
                    Some(gv) => {
                        if let Some(d) = first_diff(wv, gv, p) {
                            return Some(d);
                        }
                    }
                }
            }
            for (k, gv) in g {
                if !w.contains_key(k) {
                    return Some(format!(
                        "{ptr}/{}: expected nothing, got {}",
                        escape_ptr(k),
                        short(gv)
                    ));
                }
            }
            let wk: Vec<&String> = w.keys().collect();
            let gk: Vec<&String> = g.keys().collect();
            if wk != gk {
                return Some(format!(
                    "{}: key order: expected {wk:?}, got {gk:?}",
                    at(&ptr)
                ));
            }
            None
        }
        (Value::Array(w), Value::Array(g)) => {
            for (i, wv) in w.iter().enumerate() {
                let p = format!("{ptr}/{i}");
                match g.get(i) {
                    None => return Some(format!("{p}: expected {}, got nothing", short(wv))),
                    Some(gv) => {
                        if let Some(d) = first_diff(wv, gv, p) {
                            return Some(d);
                        }
                    }
                }
            }
            if g.len() > w.len() {
                return Some(format!(
                    "{ptr}/{}: expected nothing, got {}",
                    w.len(),
                    short(&g[w.len()])
                ));
            }
            None
        }
        (w, g) if w == g => None,
        (w, g) => Some(format!(
            "{}: expected {}, got {}",
            at(&ptr),
            short(w),
            short(g)
        )),
    }
}
