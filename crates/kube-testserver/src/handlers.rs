//! HTTP handling: request accounting and fault injection, then dispatch to
//! discovery documents and the resource verbs, rendering results and
//! failures as the real API server does.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::http::{HeaderMap, Method, Request, Response, StatusCode, header};
use hyper::body::Incoming;
use serde_json::{Value, json};

use crate::counters::RequestRecord;
use crate::discovery;
use crate::faults::FaultAction;
use crate::meta::meta_str;
use crate::patch::{PatchType, unsupported};
use crate::registry::ResourceKind;
use crate::route::{Query, ResourcePath, Route, parse, verb};
use crate::selector::{FieldSelector, LabelSelector};
use crate::server::Shared;
use crate::state::{State, present};
use crate::status::{ApiError, FieldError};
use crate::watch::{WatchSpec, partial_metadata, too_large};
use crate::writes::{DeleteOpts, Followup, Sub, Target, WriteOpts};

/// Returned to hyper to close the connection without a response.
#[derive(Debug)]
pub(crate) struct DropConnection;

impl std::fmt::Display for DropConnection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("connection dropped by fault injection")
    }
}

impl std::error::Error for DropConnection {}

fn json_response(code: u16, v: &Value) -> Response<Body> {
    Response::builder()
        .status(StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR))
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(v.to_string()))
        .expect("valid response")
}

fn error_response(e: &ApiError) -> Response<Body> {
    let mut r = json_response(e.code, &e.to_status());
    if let Some(d) = &e.details
        && d.retry_after_seconds > 0
        && let Ok(v) = d.retry_after_seconds.to_string().parse()
    {
        r.headers_mut().insert(header::RETRY_AFTER, v);
    }
    r
}

/// Whether a request is a dry run: `dryRun=All` in the query, or (for
/// DELETE) `"dryRun": ["All"]` in the DeleteOptions body.
fn dry_run_of(q: &Query, method: &Method, body: &[u8]) -> bool {
    if q.get("dryRun") == Some("All") {
        return true;
    }
    if method == Method::DELETE && !body.is_empty() {
        return serde_json::from_slice::<Value>(body)
            .ok()
            .and_then(|v| v.get("dryRun").cloned())
            .and_then(|v| v.as_array().cloned())
            .is_some_and(|a| a.iter().any(|x| x == "All"));
    }
    false
}

/// Entry point for every request.
pub(crate) async fn handle(
    shared: Arc<Shared>,
    req: Request<Incoming>,
) -> Result<Response<Body>, DropConnection> {
    let (parts, body) = req.into_parts();
    let method = parts.method.clone();
    let path = parts.uri.path().to_string();
    let query_str = parts.uri.query().unwrap_or("").to_string();
    let query = Query::parse(&query_str);
    // The real server's limit on request bodies (3 MiB).
    const MAX_BODY: usize = 3 * 1024 * 1024;
    let body = match axum::body::to_bytes(Body::new(body), MAX_BODY + 1).await {
        Ok(b) if b.len() > MAX_BODY => {
            return Ok(error_response(&ApiError::too_large(MAX_BODY)));
        }
        Ok(b) => b,
        Err(e) => {
            // axum reports the limit as a "length limit exceeded" error.
            let too_large = format!("{e} {:?}", e).contains("length limit exceeded");
            return Ok(error_response(&if too_large {
                ApiError::too_large(MAX_BODY)
            } else {
                ApiError::bad_request(format!("failed to read the request body: {e}"))
            }));
        }
    };
    let route = parse(&path);
    let verb = verb(&route, method.as_str(), &query);
    let dry_run = dry_run_of(&query, &method, &body);
    let impersonate_user = parts
        .headers
        .get("impersonate-user")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let user_agent = parts
        .headers
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let seq = shared.recorder().start(RequestRecord {
        method: method.to_string(),
        path: path.clone(),
        query: query_str,
        verb: verb.to_string(),
        dry_run,
        status: 0,
        impersonate_user: impersonate_user.clone(),
        user_agent,
        fault: None,
    });

    let decision = shared.faults().decide(method.as_str(), &path, verb);
    if !decision.delay.is_zero() {
        tokio::time::sleep(decision.delay).await;
    }
    match decision.action {
        Some((FaultAction::Drop, _)) => {
            shared.recorder().finish(seq, 0, Some("drop".into()));
            return Err(DropConnection);
        }
        Some((FaultAction::Status(code), message)) => {
            let e = ApiError::for_code(code, message.as_deref());
            shared
                .recorder()
                .finish(seq, code, Some(format!("status {code}")));
            return Ok(error_response(&e));
        }
        Some((FaultAction::Delay(_), _)) | None => {}
    }
    if let (Some(user), Route::Resource(rp)) = (&impersonate_user, &route)
        && let Err(e) = shared.rbac().authorize(user, verb, rp)
    {
        shared.recorder().finish(seq, e.code, None);
        return Ok(error_response(&e));
    }
    // A PATCH that turns out to create its object (server-side apply) also
    // needs `create` on it, checked when the write creates (see
    // `WriteOpts::create_denied`).
    let create_denied = match (&impersonate_user, &route) {
        (Some(user), Route::Resource(rp))
            if method == Method::PATCH && rp.name.is_some() && rp.subresource.is_none() =>
        {
            shared.rbac().authorize_create_on_update(user, rp).err()
        }
        _ => None,
    };

    let resp = dispatch(
        &shared,
        &method,
        &parts.headers,
        route,
        &query,
        &body,
        create_denied,
    )
    .await;
    tracing::debug!(%method, %path, verb, status = resp.status().as_u16(), "kube-testserver request");
    shared.recorder().finish(seq, resp.status().as_u16(), None);
    Ok(resp)
}

async fn dispatch(
    shared: &Arc<Shared>,
    method: &Method,
    headers: &HeaderMap,
    route: Route,
    q: &Query,
    body: &[u8],
    create_denied: Option<ApiError>,
) -> Response<Body> {
    let accept = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    let discovery_get = |f: &dyn Fn(&State) -> Option<(Value, bool)>| -> Response<Body> {
        if method != Method::GET {
            return error_response(&ApiError::method_not_allowed());
        }
        let state = shared.state();
        match f(&state) {
            Some((v, aggregated)) => {
                let mut r = json_response(200, &v);
                if aggregated {
                    r.headers_mut().insert(
                        header::CONTENT_TYPE,
                        discovery::AGGREGATED_CONTENT_TYPE.parse().expect("header"),
                    );
                }
                r
            }
            None => error_response(&ApiError::resource_not_found()),
        }
    };
    let aggregated = discovery::wants_aggregated(&accept);
    match route {
        Route::Version => discovery_get(&|_| Some((discovery::version_info(), false))),
        Route::OpenApiV3(path) => {
            if method != Method::GET {
                return error_response(&ApiError::method_not_allowed());
            }
            crate::openapi::serve(path.as_deref())
        }
        Route::Health => Response::builder()
            .status(200)
            .header(header::CONTENT_TYPE, "text/plain; charset=utf-8")
            .body(Body::from("ok"))
            .expect("valid response"),
        Route::Api => {
            let addr = shared.addr;
            discovery_get(&|s| {
                Some(if aggregated {
                    (discovery::aggregated(&s.registry, true), true)
                } else {
                    (discovery::api_versions(addr), false)
                })
            })
        }
        Route::Apis => discovery_get(&|s| {
            Some(if aggregated {
                (discovery::aggregated(&s.registry, false), true)
            } else {
                (discovery::group_list(&s.registry), false)
            })
        }),
        Route::Group(g) => {
            discovery_get(&|s| discovery::api_group(&s.registry, &g).map(|v| (v, false)))
        }
        Route::GroupVersion(g, v) => {
            discovery_get(&|s| discovery::resource_list(&s.registry, &g, &v).map(|x| (x, false)))
        }
        Route::Unknown => error_response(&ApiError::resource_not_found()),
        Route::Resource(rp) => {
            match resource(shared, method, headers, &accept, rp, q, body, create_denied) {
                Ok(r) => r,
                Err(e) => error_response(&e),
            }
        }
    }
}

/// The field manager: `fieldManager`, else the User-Agent up to the first
/// `/` (empty without a User-Agent, as kube sends none).
fn field_manager(q: &Query, headers: &HeaderMap) -> String {
    if let Some(m) = q.get("fieldManager")
        && !m.is_empty()
    {
        return m.to_string();
    }
    let ua = headers
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    // Like the real server: no User-Agent gives an empty manager name.
    ua.split('/')
        .next()
        .unwrap_or("")
        .chars()
        .take(128)
        .collect()
}

fn options_invalid(kind: &str, errs: Vec<FieldError>) -> ApiError {
    ApiError::invalid("meta.k8s.io", kind, "", errs)
}

/// Parses a JSON (or, for YAML content types, YAML) request body.
fn parse_body(headers: &HeaderMap, body: &[u8], yaml_ok: bool) -> Result<Value, ApiError> {
    let ct = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_ascii_lowercase();
    match serde_json::from_slice::<Value>(body) {
        Ok(v) => Ok(v),
        Err(json_err) => {
            if yaml_ok || ct.contains("yaml") {
                let text = std::str::from_utf8(body)
                    .map_err(|e| ApiError::bad_request(format!("error decoding YAML: {e}")))?;
                let opts = serde_saphyr::options! {
                    duplicate_keys: serde_saphyr::DuplicateKeyPolicy::LastWins,
                };
                serde_saphyr::from_str_with_options::<Value>(text, opts)
                    .map_err(|e| ApiError::bad_request(format!("error decoding YAML: {e}")))
            } else {
                Err(ApiError::bad_request(format!(
                    "couldn't get version/kind; json parse error: {json_err}"
                )))
            }
        }
    }
}

fn metadata_only(accept: &str) -> bool {
    accept
        .split(',')
        .next()
        .is_some_and(|a| a.contains("as=PartialObjectMetadata"))
}

#[allow(clippy::too_many_arguments)]
fn resource(
    shared: &Arc<Shared>,
    method: &Method,
    headers: &HeaderMap,
    accept: &str,
    rp: ResourcePath,
    q: &Query,
    body: &[u8],
    create_denied: Option<ApiError>,
) -> Result<Response<Body>, ApiError> {
    let mut state = shared.state();
    let kind = state
        .registry
        .lookup(&rp.group, &rp.version, &rp.plural)
        .cloned()
        .ok_or_else(ApiError::resource_not_found)?;
    if rp.namespace.is_some() && !kind.namespaced {
        return Err(ApiError::resource_not_found());
    }
    if rp.namespace.is_none() && kind.namespaced && rp.name.is_some() {
        return Err(ApiError::resource_not_found());
    }
    if rp.subresource.as_deref() == Some("scale")
        && crate::scale::has_scale(&kind.group, &kind.kind)
        && let Some(n) = rp.name.clone()
    {
        let target = Target {
            kind: kind.clone(),
            namespace: rp.namespace.clone().unwrap_or_default(),
            sub: Sub::Scale,
        };
        let opts = WriteOpts {
            dry_run: q.get("dryRun") == Some("All"),
            manager: field_manager(q, headers),
            force: false,
            create_denied: None,
        };
        let result = match method.clone() {
            Method::GET => state.get_scale(&target, &n),
            Method::PUT => state
                .write_scale(&target, &n, None, body, &opts)
                .map(|r| r.object),
            Method::PATCH => {
                let ct = headers
                    .get(header::CONTENT_TYPE)
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("");
                match PatchType::from_content_type(ct) {
                    Some(PatchType::Apply) | None => Err(unsupported(false)),
                    Some(pt) => state
                        .write_scale(&target, &n, Some(pt), body, &opts)
                        .map(|r| r.object),
                }
            }
            _ => Err(ApiError::method_not_allowed()),
        };
        drop(state);
        return Ok(json_response(200, &result?));
    }
    let sub = match rp.subresource.as_deref() {
        None => Sub::Main,
        Some("status") if kind.status_subresource => Sub::Status,
        Some(_) => return Err(ApiError::resource_not_found()),
    };
    let target = Target {
        kind: kind.clone(),
        namespace: rp.namespace.clone().unwrap_or_default(),
        sub,
    };
    let meta_only = metadata_only(accept);
    let render = |v: &Value| {
        if meta_only {
            partial_metadata(v)
        } else {
            v.clone()
        }
    };

    // Write options, validated as the real server validates *Options.
    let dry_run_value = q.get("dryRun");
    let opts_kind = match *method {
        Method::POST => "CreateOptions",
        Method::PUT => "UpdateOptions",
        Method::PATCH => "PatchOptions",
        _ => "DeleteOptions",
    };
    if let Some(v) = dry_run_value
        && v != "All"
        && *method != Method::GET
    {
        return Err(options_invalid(
            opts_kind,
            vec![FieldError::not_supported("dryRun", &json!(v), &["All"])],
        ));
    }
    let manager = field_manager(q, headers);
    if manager.len() > 128 {
        return Err(options_invalid(
            opts_kind,
            vec![FieldError::invalid(
                "fieldManager",
                &json!(manager),
                "must be less than 128 characters",
            )],
        ));
    }
    let opts = WriteOpts {
        dry_run: dry_run_value == Some("All"),
        manager,
        force: q.flag("force"),
        create_denied,
    };

    let field_validation = q.get("fieldValidation").unwrap_or("Warn").to_string();
    let schema = state.schema_of(&kind);
    let mut warnings: Vec<String> = Vec::new();
    // Unknown and duplicate fields of a JSON body (POST, PUT, merge patch):
    // dropped, and reported per `fieldValidation`.
    let mut check_body = |v: &mut Value, raw: &[u8]| -> Result<(), ApiError> {
        let mut errs: Vec<String> = crate::fieldcheck::json_duplicates(raw)
            .into_iter()
            .map(|p| format!("duplicate field {p:?}"))
            .collect();
        if let Some(s) = &schema {
            for p in crate::fieldcheck::unknown_fields(v, s.ty()) {
                errs.push(format!("unknown field {:?}", p.trim_start_matches('.')));
            }
            crate::fieldcheck::drop_unknown(v, s.ty());
        }
        match field_validation.as_str() {
            "Strict" if !errs.is_empty() => Err(ApiError::bad_request(format!(
                "{k} in version {v:?} cannot be handled as a {k}: strict decoding error: {}",
                errs.join(", "),
                k = kind.kind,
                v = kind.version,
            ))),
            "Ignore" => Ok(()),
            _ => {
                warnings.extend(errs);
                Ok(())
            }
        }
    };

    let name = rp.name.clone();
    let result: Result<(u16, Value, Vec<Followup>), ApiError> = match (name, method.clone()) {
        (None, Method::GET) => {
            if sub != Sub::Main {
                return Err(ApiError::resource_not_found());
            }
            if q.flag("watch") {
                let spec = watch_spec(&state, &kind, rp.namespace.clone(), q, meta_only)?;
                let prepared = crate::watch::prepare(&state, spec)?;
                drop(state);
                let body = crate::watch::spawn(prepared, shared.shutdown_receiver());
                return Ok(Response::builder()
                    .status(200)
                    .header(header::CONTENT_TYPE, "application/json")
                    .body(body)
                    .expect("valid response"));
            }
            list(&state, &kind, rp.namespace.as_deref(), q, meta_only).map(|v| (200, v, vec![]))
        }
        (None, Method::POST) => {
            if kind.namespaced && rp.namespace.is_none() {
                return Err(ApiError::method_not_allowed());
            }
            let mut v = parse_body(headers, body, false)?;
            check_body(&mut v, body)?;
            state
                .create(&target, v, &opts)
                .map(|r| (201, render(&r.object), r.followups))
        }
        (None, Method::DELETE) => {
            if kind.namespaced && rp.namespace.is_none() {
                return Err(ApiError::method_not_allowed());
            }
            let d = delete_opts(q, body)?;
            let ls = label_selector(q)?;
            let fs = field_selector(q, &kind)?;
            let names: Vec<String> = state
                .store
                .list(&kind.group, &kind.plural, rp.namespace.as_deref())
                .into_iter()
                .filter(|o| ls.matches(&crate::meta::labels(o)) && fs.matches(o))
                .map(|o| meta_str(o, "name").to_string())
                .collect();
            state
                .delete_collection(&target, names, &d)
                .map(|v| (200, v, vec![]))
        }
        (None, _) => Err(ApiError::method_not_allowed()),
        (Some(n), Method::GET) => {
            let key = State::key(&kind, &target.namespace, &n);
            match state.store.get(&key) {
                Some(o) => Ok((200, render(&present(&kind, o)), vec![])),
                None => Err(ApiError::not_found(&kind.group, &kind.plural, &n)),
            }
        }
        (Some(n), Method::PUT) => {
            let mut v = parse_body(headers, body, false)?;
            check_body(&mut v, body)?;
            state.replace(&target, &n, v, &opts).map(|r| {
                (
                    if r.created { 201 } else { 200 },
                    render(&r.object),
                    r.followups,
                )
            })
        }
        (Some(n), Method::PATCH) => {
            let ct = headers
                .get(header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("");
            let Some(pt) = PatchType::from_content_type(ct) else {
                return Err(unsupported(kind.custom));
            };
            if pt != PatchType::Apply && q.get("force").is_some() {
                return Err(options_invalid(
                    "PatchOptions",
                    vec![FieldError::forbidden(
                        "force",
                        "may not be specified for non-apply patch",
                    )],
                ));
            }
            if pt == PatchType::Apply {
                if q.get("fieldManager").is_none_or(str::is_empty) {
                    return Err(options_invalid(
                        "PatchOptions",
                        vec![FieldError::required(
                            "fieldManager",
                            "is required for apply patch",
                        )],
                    ));
                }
                let cfg = parse_body(headers, body, true)?;
                if serde_json::from_slice::<Value>(body).is_err()
                    && let Ok(text) = std::str::from_utf8(body)
                {
                    let dups = crate::fieldcheck::yaml_duplicates(text);
                    match field_validation.as_str() {
                        "Strict" if !dups.is_empty() => {
                            return Err(ApiError::bad_request(format!(
                                "error strict decoding YAML: error converting YAML to JSON: yaml: unmarshal errors:\n  {}",
                                dups.join("\n  ")
                            )));
                        }
                        "Ignore" => {}
                        _ => warnings.extend(dups),
                    }
                }
                if let Some(s) = &schema
                    && let Some(p) = crate::fieldcheck::unknown_fields(&cfg, s.ty()).first()
                {
                    return Err(ApiError::plain(
                        500,
                        format!(
                            "failed to create typed patch object ({}/{}; {}/{}, Kind={}): {p}: field not declared in schema",
                            meta_str(&cfg, "namespace"),
                            meta_str(&cfg, "name"),
                            kind.group,
                            kind.version,
                            kind.kind
                        ),
                    ));
                }
                state.apply(&target, &n, cfg, &opts).map(|r| {
                    (
                        if r.created { 201 } else { 200 },
                        render(&r.object),
                        r.followups,
                    )
                })
            } else {
                let checked;
                let body = if matches!(pt, PatchType::Merge | PatchType::Strategic)
                    && let Ok(mut v) = serde_json::from_slice::<Value>(body)
                {
                    check_body(&mut v, body)?;
                    checked = serde_json::to_vec(&v).unwrap_or_default();
                    &checked[..]
                } else {
                    body
                };
                state
                    .patch(&target, &n, pt, body, &opts)
                    .map(|r| (200, render(&r.object), r.followups))
            }
        }
        (Some(n), Method::DELETE) => {
            if sub != Sub::Main {
                return Err(ApiError::method_not_allowed());
            }
            let d = delete_opts(q, body)?;
            let delay = state.settings.namespace_finalize_delay;
            let is_namespace = kind.group.is_empty() && kind.kind == "Namespace";
            state.delete(&target, &n, &d).map(|v| {
                let followups = if is_namespace && !d.dry_run && !delay.is_zero() {
                    vec![Followup::FinalizeNamespace {
                        name: n.clone(),
                        delay,
                    }]
                } else {
                    vec![]
                };
                (200, render_deleted(&v, meta_only), followups)
            })
        }
        (Some(_), _) => Err(ApiError::method_not_allowed()),
    };
    drop(state);
    let (code, v, followups) = result?;
    for f in followups {
        shared.schedule(f);
    }
    let mut resp = json_response(code, &v);
    for w in warnings {
        let text = format!("299 - {}", serde_json::to_string(&w).unwrap_or_default());
        if let Ok(h) = header::HeaderValue::from_str(&text) {
            resp.headers_mut().append(header::WARNING, h);
        }
    }
    Ok(resp)
}

fn render_deleted(v: &Value, meta_only: bool) -> Value {
    if meta_only && v.get("kind") != Some(&json!("Status")) {
        partial_metadata(v)
    } else {
        v.clone()
    }
}

fn delete_opts(q: &Query, body: &[u8]) -> Result<DeleteOpts, ApiError> {
    let mut d = DeleteOpts {
        dry_run: q.get("dryRun") == Some("All"),
        ..Default::default()
    };
    if !body.is_empty() {
        let v: Value = serde_json::from_slice(body)
            .map_err(|e| ApiError::bad_request(format!("error decoding DeleteOptions: {e}")))?;
        if let Some(a) = v.get("dryRun").and_then(Value::as_array) {
            for x in a {
                if x != "All" {
                    return Err(options_invalid(
                        "DeleteOptions",
                        vec![FieldError::not_supported("dryRun", x, &["All"])],
                    ));
                }
                d.dry_run = true;
            }
        }
        if let Some(p) = v.get("preconditions") {
            d.uid = p.get("uid").and_then(Value::as_str).map(str::to_string);
            d.resource_version = p
                .get("resourceVersion")
                .and_then(Value::as_str)
                .map(str::to_string);
        }
    }
    Ok(d)
}

fn label_selector(q: &Query) -> Result<LabelSelector, ApiError> {
    LabelSelector::parse(q.get("labelSelector").unwrap_or("")).map_err(ApiError::bad_request)
}

fn field_selector(q: &Query, kind: &ResourceKind) -> Result<FieldSelector, ApiError> {
    FieldSelector::parse(
        q.get("fieldSelector").unwrap_or(""),
        &kind.group,
        &kind.kind,
    )
    .map_err(ApiError::bad_request)
}

fn parse_rv(s: &str) -> Result<u64, ApiError> {
    s.parse::<u64>()
        .map_err(|_| ApiError::bad_request(format!("invalid resource version: {s:?}")))
}

fn watch_spec(
    state: &State,
    kind: &ResourceKind,
    namespace: Option<String>,
    q: &Query,
    metadata_only: bool,
) -> Result<WatchSpec, ApiError> {
    let labels = label_selector(q)?;
    let fields = field_selector(q, kind)?;
    let rv = q.get("resourceVersion").unwrap_or("");
    let send_initial_events = q.flag("sendInitialEvents");
    let bookmarks = q.flag("allowWatchBookmarks");
    if send_initial_events && q.get("resourceVersionMatch") != Some("NotOlderThan") {
        return Err(options_invalid(
            "ListOptions",
            vec![FieldError::forbidden(
                "resourceVersionMatch",
                "sendInitialEvents requires setting resourceVersionMatch to NotOlderThan",
            )],
        ));
    }
    let from_rv = if rv.is_empty() || rv == "0" {
        None
    } else {
        let n = parse_rv(rv)?;
        let current = state.store.current_rv();
        if n > current {
            return Err(too_large(n, current));
        }
        if send_initial_events { None } else { Some(n) }
    };
    let timeout = q
        .get("timeoutSeconds")
        .and_then(|t| t.parse::<u64>().ok())
        .filter(|t| *t > 0)
        .unwrap_or(1800);
    Ok(WatchSpec {
        kind: kind.clone(),
        namespace,
        labels,
        fields,
        from_rv,
        send_initial_events,
        bookmarks,
        timeout: Duration::from_secs(timeout),
        metadata_only,
    })
}

fn hex(s: &str) -> String {
    s.bytes().map(|b| format!("{b:02x}")).collect()
}

fn unhex(s: &str) -> Option<String> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    let bytes: Option<Vec<u8>> = (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect();
    String::from_utf8(bytes?).ok()
}

/// LIST with selectors, resourceVersion semantics and limit/continue paging.
fn list(
    state: &State,
    kind: &ResourceKind,
    namespace: Option<&str>,
    q: &Query,
    meta_only: bool,
) -> Result<Value, ApiError> {
    let ls = label_selector(q)?;
    let fs = field_selector(q, kind)?;
    let current = state.store.current_rv();
    let rv = q.get("resourceVersion").unwrap_or("");
    let rvm = q.get("resourceVersionMatch").unwrap_or("");
    let cont = q.get("continue").unwrap_or("");
    if !rvm.is_empty() && rv.is_empty() {
        return Err(options_invalid(
            "ListOptions",
            vec![FieldError::forbidden(
                "resourceVersionMatch",
                "resourceVersionMatch is forbidden unless resourceVersion is provided",
            )],
        ));
    }
    if !cont.is_empty() && !rv.is_empty() && rv != "0" {
        return Err(ApiError::bad_request(
            "specifying resource version is not allowed when using continue",
        ));
    }
    if !rvm.is_empty() && rvm != "NotOlderThan" && rvm != "Exact" {
        return Err(options_invalid(
            "ListOptions",
            vec![FieldError::not_supported(
                "resourceVersionMatch",
                &json!(rvm),
                &["Exact", "NotOlderThan", ""],
            )],
        ));
    }
    if !rv.is_empty() && rv != "0" {
        let n = parse_rv(rv)?;
        if n > current {
            return Err(too_large(n, current));
        }
        if rvm == "Exact" && n != current {
            return Err(ApiError::expired(
                "The resourceVersion for the provided list is too old.",
            ));
        }
    }
    // resourceVersion=0 is served "from the cache", which ignores limit.
    let limit = if rv == "0" {
        None
    } else {
        q.get("limit")
            .and_then(|l| l.parse::<usize>().ok())
            .filter(|l| *l > 0)
    };
    let (list_rv, after) = if cont.is_empty() {
        (current, None)
    } else {
        let decoded = unhex(cont)
            .and_then(|s| serde_json::from_str::<Value>(&s).ok())
            .ok_or_else(|| ApiError::bad_request("continue key is not valid: invalid format"))?;
        let rv = decoded.get("rv").and_then(Value::as_u64).unwrap_or(current);
        if rv < state.store.compacted_rv() {
            return Err(ApiError::expired(
                "The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter.",
            ));
        }
        let part = |i: usize| {
            decoded
                .get("start")
                .and_then(|s| s.get(i))
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string()
        };
        (rv, Some((part(0), part(1))))
    };
    let matching: Vec<&Value> = state
        .store
        .list(&kind.group, &kind.plural, namespace)
        .into_iter()
        .filter(|o| ls.matches(&crate::meta::labels(o)) && fs.matches(o))
        .filter(|o| {
            after.as_ref().is_none_or(|(ans, aname)| {
                (meta_str(o, "namespace"), meta_str(o, "name")) > (ans.as_str(), aname.as_str())
            })
        })
        .collect();
    let total = matching.len();
    let take = limit.unwrap_or(total).min(total);
    let items: Vec<Value> = matching[..take]
        .iter()
        .map(|o| {
            let mut v = present(kind, o);
            if meta_only {
                return partial_metadata(&v);
            }
            if !kind.custom
                && let Some(m) = v.as_object_mut()
            {
                // Typed lists carry no apiVersion/kind on their items.
                m.remove("apiVersion");
                m.remove("kind");
            }
            v
        })
        .collect();
    let mut meta = json!({"resourceVersion": list_rv.to_string()});
    if take < total
        && let Some(last) = matching.get(take.wrapping_sub(1))
    {
        let start = json!([meta_str(last, "namespace"), meta_str(last, "name")]);
        meta["continue"] = json!(hex(&json!({"rv": list_rv, "start": start}).to_string()));
        meta["remainingItemCount"] = json!(total - take);
    }
    Ok(if meta_only {
        json!({
            "kind": "PartialObjectMetadataList",
            "apiVersion": "meta.k8s.io/v1",
            "metadata": meta,
            "items": items,
        })
    } else {
        json!({
            "kind": kind.list_kind(),
            "apiVersion": kind.api_version(),
            "metadata": meta,
            "items": items,
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_roundtrip() {
        assert_eq!(unhex(&hex("a/b")).as_deref(), Some("a/b"));
        assert_eq!(unhex("zz"), None);
    }
}
