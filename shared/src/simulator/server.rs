//! The simulator's HTTP side: the axum router, its control handle, stats, and a loopback server.

use std::collections::BTreeMap;
use std::io::Write as _;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::{Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use chrono::NaiveDate;
use serde_json::{Value, json};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::dataset::{Dataset, OrderedFields};
use super::faults::{
    FaultKind, TotalChange, Transient, draw_request, malform, reform_datetimes, total_change,
};
use super::{Endpoint, Faults, SimulatorConfig};

/// Requests served and faults injected since the server started (never reset).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SimulatorStats {
    /// Every request, any path.
    pub requests: u64,
    /// Requests per endpoint name (`"tracks"`, `"users"`, `"listen_history"`, and `"other"`
    /// for any other path); every key is present.
    pub by_endpoint: BTreeMap<String, u64>,
    /// Injected faults per [`FaultKind::name`]; every key is present. `"malformed"` counts
    /// rows, the others requests.
    pub faults: BTreeMap<String, u64>,
}

#[derive(Default)]
struct Counters {
    requests: AtomicU64,
    /// Tracks, users, listen history, other.
    by_endpoint: [AtomicU64; 4],
    faults: [AtomicU64; FaultKind::ALL.len()],
}

impl Counters {
    fn fault(&self, kind: FaultKind, n: u64) {
        self.faults[kind as usize].fetch_add(n, Ordering::Relaxed);
    }
}

struct Current {
    dataset: Arc<Dataset>,
    faults: Arc<Faults>,
}

struct Shared {
    config: SimulatorConfig,
    current: RwLock<Current>,
    /// Requests per endpoint since the last `set_date`/`set_faults`: the fault clock.
    sequence: [AtomicU64; 3],
    counters: Counters,
    /// Set to `true` on shutdown: hanging requests give up at once.
    shutdown: watch::Sender<bool>,
}

impl Shared {
    fn current(&self) -> (Arc<Dataset>, Arc<Faults>) {
        let c = self.current.read().unwrap_or_else(|e| e.into_inner());
        (c.dataset.clone(), c.faults.clone())
    }

    fn reset_sequence(&self) {
        for s in &self.sequence {
            s.store(0, Ordering::Relaxed);
        }
    }
}

/// Changes a running simulator (cheap to clone; every clone controls the same server).
#[derive(Clone)]
pub struct SimulatorControl {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for SimulatorControl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SimulatorControl")
            .field("date", &self.date())
            .finish_non_exhaustive()
    }
}

impl SimulatorControl {
    /// Serves the data set as of `date` from the next request on, and restarts the fault
    /// clock. Builds the date's index (O(rows), about a second per ten million rows).
    pub fn set_date(&self, date: NaiveDate) {
        let config = SimulatorConfig {
            date,
            ..self.shared.config.clone()
        };
        let dataset = Arc::new(Dataset::new(&config));
        let mut c = self
            .shared
            .current
            .write()
            .unwrap_or_else(|e| e.into_inner());
        c.dataset = dataset;
        self.shared.reset_sequence();
    }

    /// Replaces the faults from the next request on, and restarts the fault clock.
    pub fn set_faults(&self, faults: Faults) {
        let mut c = self
            .shared
            .current
            .write()
            .unwrap_or_else(|e| e.into_inner());
        c.faults = Arc::new(faults);
        self.shared.reset_sequence();
    }

    /// Requests and faults so far.
    pub fn stats(&self) -> SimulatorStats {
        let c = &self.shared.counters;
        let by_endpoint = ["tracks", "users", "listen_history", "other"]
            .into_iter()
            .zip(&c.by_endpoint)
            .map(|(k, v)| (k.to_owned(), v.load(Ordering::Relaxed)))
            .collect();
        let faults = FaultKind::ALL
            .into_iter()
            .map(|k| {
                (
                    k.name().to_owned(),
                    c.faults[k as usize].load(Ordering::Relaxed),
                )
            })
            .collect();
        SimulatorStats {
            requests: c.requests.load(Ordering::Relaxed),
            by_endpoint,
            faults,
        }
    }

    /// The date served.
    pub fn date(&self) -> NaiveDate {
        self.shared.current().0.date()
    }

    /// The data set served now (un-faulted rows).
    pub fn dataset(&self) -> Arc<Dataset> {
        self.shared.current().0
    }
}

/// The simulator as an axum router (every path of the source API), and its control handle.
pub fn router(config: SimulatorConfig) -> (Router, SimulatorControl) {
    let shared = Arc::new(Shared {
        current: RwLock::new(Current {
            dataset: Arc::new(Dataset::new(&config)),
            faults: Arc::new(config.faults.clone()),
        }),
        config,
        sequence: Default::default(),
        counters: Counters::default(),
        shutdown: watch::Sender::new(false),
    });
    let endpoint = |e: Endpoint| {
        get(
            move |State(s): State<Arc<Shared>>, Query(q): Query<Vec<(String, String)>>| {
                serve_page(s, e, q)
            },
        )
    };
    let other = |s: &Arc<Shared>| s.counters.by_endpoint[3].fetch_add(1, Ordering::Relaxed);
    let router = Router::new()
        .route("/tracks", endpoint(Endpoint::Tracks))
        .route("/users", endpoint(Endpoint::Users))
        .route("/listen_history", endpoint(Endpoint::ListenHistory))
        .route("/", get(|| async { Redirect::temporary("/docs") }))
        .route(
            "/docs",
            get(|| async {
                (
                    [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
                    DOCS_HTML,
                )
            }),
        )
        .route(
            "/openapi.json",
            get(|| async { ([(header::CONTENT_TYPE, "application/json")], openapi()) }),
        )
        .fallback(|| async {
            json_response(StatusCode::NOT_FOUND, &json!({"detail": "Not Found"}))
        })
        .method_not_allowed_fallback(|| async {
            json_response(
                StatusCode::METHOD_NOT_ALLOWED,
                &json!({"detail": "Method Not Allowed"}),
            )
        })
        .layer(axum::middleware::from_fn_with_state(
            shared.clone(),
            move |State(s): State<Arc<Shared>>,
                  req: axum::extract::Request,
                  next: axum::middleware::Next| async move {
                s.counters.requests.fetch_add(1, Ordering::Relaxed);
                if Endpoint::from_name(req.uri().path()).is_none() {
                    other(&s);
                }
                next.run(req).await
            },
        ))
        .with_state(shared.clone());
    (router, SimulatorControl { shared })
}

/// One page of an endpoint, with the faults drawn for this request.
async fn serve_page(s: Arc<Shared>, e: Endpoint, query: Vec<(String, String)>) -> Response {
    let c = &s.counters;
    c.by_endpoint[e.index()].fetch_add(1, Ordering::Relaxed);
    let n = s.sequence[e.index()].fetch_add(1, Ordering::Relaxed);
    let (dataset, faults) = s.current();
    let seed = s.config.seed;
    let draw = draw_request(&faults, seed, dataset.day(), e, n);

    let delay = faults.latency + faults.latency_jitter.mul_f64(draw.jitter);
    if !delay.is_zero() {
        c.fault(FaultKind::Latency, 1);
        tokio::time::sleep(delay).await;
    }
    if faults
        .fail_endpoint
        .as_deref()
        .and_then(Endpoint::from_name)
        == Some(e)
    {
        c.fault(FaultKind::FailEndpoint, 1);
        return json_response(
            StatusCode::SERVICE_UNAVAILABLE,
            &json!({"detail": "Service Unavailable"}),
        );
    }
    match draw.transient {
        Transient::Error(status) => {
            c.fault(FaultKind::Error, 1);
            return error_response(status);
        }
        Transient::RateLimit => {
            c.fault(FaultKind::RateLimit, 1);
            let mut r = json_response(
                StatusCode::TOO_MANY_REQUESTS,
                &json!({"detail": "Too Many Requests"}),
            );
            r.headers_mut().insert(
                header::RETRY_AFTER,
                HeaderValue::from(faults.retry_after_secs),
            );
            return r;
        }
        Transient::Html(status) => {
            c.fault(FaultKind::Html, 1);
            return html_response(status);
        }
        Transient::Timeout => {
            c.fault(FaultKind::Timeout, 1);
            let mut stop = s.shutdown.subscribe();
            tokio::select! {
                () = tokio::time::sleep(faults.timeout) => {}
                _ = stop.wait_for(|&down| down) => {}
            }
            return json_response(
                StatusCode::GATEWAY_TIMEOUT,
                &json!({"message": "Endpoint request timed out"}),
            );
        }
        Transient::None | Transient::Truncate(_) => {}
    }
    // Validation comes after the transient faults: those stand for the layers in front of
    // the app (gateway, proxy), which answer before the app sees the query.
    let (page, size) = match parse_paging(&query) {
        Ok(p) => p,
        Err(errors) => {
            return json_response(StatusCode::UNPROCESSABLE_ENTITY, &json!({"detail": errors}));
        }
    };

    // The served rows: the data set, possibly with its one-time `total` change, a one-time
    // shift (the first row gone, one appended: same `total`), and rows served twice.
    let len = dataset.count(e);
    let change = faults
        .total_change_after
        .filter(|&after| n >= after)
        .map(|_| total_change(seed, e));
    let shifted = faults.shift_after.is_some_and(|after| n >= after);
    let (mut skip, mut appended) = match change {
        None => (0, 0),
        Some(TotalChange::Grow(k)) => (0, k),
        Some(TotalChange::Shrink(k)) => (k.min(len), 0),
    };
    if shifted && skip < len {
        skip += 1;
        appended += 1;
    }
    let live = len - skip;
    let duplicated = faults.duplicate_rows.min(live);
    let total = live + appended + duplicated;
    if change.is_some() {
        c.fault(FaultKind::TotalChange, 1);
    }
    if shifted {
        c.fault(FaultKind::Shift, 1);
    }
    if duplicated > 0 {
        c.fault(FaultKind::Duplicate, 1);
    }
    // Listing index -> the row: live rows, then new ones, then the first rows again.
    let row_at = |i: u64| {
        if i < live {
            dataset.gen_row(e, skip + i)
        } else if i < live + appended {
            dataset.phantom_row(e, i - live)
        } else {
            dataset.gen_row(e, skip + (i - live - appended))
        }
    };
    let start = (page - 1).saturating_mul(size).min(total);
    let end = start.saturating_add(size).min(total);
    let pages = total.div_ceil(size);

    let mut body = Vec::with_capacity(64 + (end - start) as usize * 256);
    let wrong_shape = faults.wrong_shape_endpoint.as_deref().and_then(Endpoint::from_name) == Some(e);
    // A changed API: the rows under another name, the counts in a `meta` object.
    body.extend_from_slice(if wrong_shape { b"{\"data\":[" } else { b"{\"items\":[" });
    let (mut malformed, mut reformed) = (0, 0);
    for i in start..end {
        let mut row = row_at(i);
        if malform(&mut row, e, seed, faults.malformed_rate) {
            malformed += 1;
        }
        if reform_datetimes(&mut row, seed, faults.datetime_form_rate) {
            reformed += 1;
        }
        if i > start {
            body.push(b',');
        }
        serde_json::to_writer(&mut body, &OrderedFields(&row.fields)).expect("rows serialise");
    }
    if wrong_shape {
        c.fault(FaultKind::WrongShape, 1);
        write!(body, "],\"meta\":{{\"total\":{total},\"page\":{page},\"size\":{size}}}}}").expect("vec write");
    } else {
        write!(
            body,
            "],\"total\":{total},\"page\":{page},\"size\":{size},\"pages\":{pages}}}"
        )
        .expect("vec write");
    }
    c.fault(FaultKind::Malformed, malformed);
    c.fault(FaultKind::DatetimeForm, reformed);

    if let Transient::Truncate(fraction) = draw.transient {
        c.fault(FaultKind::Truncate, 1);
        // Any strict prefix of a JSON object is syntactically incomplete.
        let cut = ((body.len() as f64 * fraction) as usize).clamp(1, body.len() - 1);
        body.truncate(cut);
    }
    Response::builder()
        .status(StatusCode::OK)
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(body))
        .expect("valid response")
}

/// `page` (>= 1, default 1) and `size` (1..=100, default 100), or FastAPI's 422 details.
fn parse_paging(query: &[(String, String)]) -> Result<(u64, u64), Vec<Value>> {
    // Like Starlette, the last of repeated parameters wins.
    let last = |name: &str| {
        query
            .iter()
            .rev()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    let mut errors = Vec::new();
    let mut check = |name: &str, default: u64, max: Option<u64>| -> u64 {
        let Some(raw) = last(name) else {
            return default;
        };
        let loc = json!(["query", name]);
        match parse_int(raw) {
            None => errors.push(json!({
                "type": "int_parsing",
                "loc": loc,
                "msg": "Input should be a valid integer, unable to parse string as an integer",
                "input": raw,
            })),
            Some(v) if v < 1 => errors.push(json!({
                "type": "greater_than_equal",
                "loc": loc,
                "msg": "Input should be greater than or equal to 1",
                "input": raw,
                "ctx": {"ge": 1},
            })),
            Some(v) => match max {
                Some(max) if v > i128::from(max) => errors.push(json!({
                    "type": "less_than_equal",
                    "loc": loc,
                    "msg": format!("Input should be less than or equal to {max}"),
                    "input": raw,
                    "ctx": {"le": max},
                })),
                _ => return u64::try_from(v).unwrap_or(u64::MAX),
            },
        }
        default
    };
    let page = check("page", 1, None);
    let size = check("size", 100, Some(100));
    if errors.is_empty() {
        Ok((page, size))
    } else {
        Err(errors)
    }
}

/// An integer as pydantic reads one from a query string: optional sign, ASCII digits,
/// surrounding whitespace allowed. Values beyond `i128` are refused.
fn parse_int(raw: &str) -> Option<i128> {
    let t = raw.trim();
    let digits = t.strip_prefix(['+', '-']).unwrap_or(t);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    t.strip_prefix('+').unwrap_or(t).parse().ok()
}

fn json_response(status: StatusCode, body: &Value) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response()
}

/// A 5xx as different layers write them: the app's plain 500, a gateway's JSON 502/503.
fn error_response(status: u16) -> Response {
    match status {
        500 => (
            StatusCode::INTERNAL_SERVER_ERROR,
            [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
            "Internal Server Error",
        )
            .into_response(),
        502 => json_response(StatusCode::BAD_GATEWAY, &json!({"message": "Bad Gateway"})),
        _ => json_response(
            StatusCode::SERVICE_UNAVAILABLE,
            &json!({"detail": "Service Unavailable"}),
        ),
    }
}

/// An HTML page where JSON was expected: a proxy's 502, or a 200 maintenance page.
fn html_response(status: u16) -> Response {
    let (status, body) = if status == 502 {
        (
            StatusCode::BAD_GATEWAY,
            "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n",
        )
    } else {
        (
            StatusCode::OK,
            "<!DOCTYPE html>\n<html><head><title>Down for maintenance</title></head>\n<body><h1>We'll be back soon</h1><p>MooVitamix is down for scheduled maintenance.</p></body></html>\n",
        )
    };
    (
        status,
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        body,
    )
        .into_response()
}

const DOCS_HTML: &str = "<!DOCTYPE html>\n<html><head><title>MooVitamix source API (simulator) - Swagger UI</title></head>\n<body><h1>MooVitamix source API (simulator)</h1>\n<p>The schema is at <a href=\"/openapi.json\">/openapi.json</a>.</p>\n<ul><li>GET /tracks</li><li>GET /users</li><li>GET /listen_history</li></ul>\n</body></html>\n";

/// A small OpenAPI document of the three endpoints.
fn openapi() -> String {
    let paging = json!([
        {"name": "page", "in": "query", "required": false,
         "schema": {"type": "integer", "minimum": 1, "default": 1, "title": "Page"}, "description": "Page number"},
        {"name": "size", "in": "query", "required": false,
         "schema": {"type": "integer", "maximum": 100, "minimum": 1, "default": 100, "title": "Size"}, "description": "Page size"}
    ]);
    let dt = json!({"type": "string", "format": "date-time"});
    let s = json!({"type": "string"});
    let schemas = json!({
        "Track": {"type": "object", "title": "Track",
            "required": ["id", "name", "artist", "songwriters", "duration", "genres", "album", "created_at", "updated_at"],
            "properties": {"id": {"type": "integer"}, "name": s, "artist": s, "songwriters": s, "duration": s,
                "genres": s, "album": s, "created_at": dt, "updated_at": dt}},
        "User": {"type": "object", "title": "User",
            "required": ["id", "first_name", "last_name", "email", "gender", "favorite_genres", "created_at", "updated_at"],
            "properties": {"id": {"type": "integer"}, "first_name": s, "last_name": s, "email": s, "gender": s,
                "favorite_genres": s, "created_at": dt, "updated_at": dt}},
        "ListenHistory": {"type": "object", "title": "ListenHistory",
            "required": ["created_at", "updated_at"],
            "properties": {"user_id": {"anyOf": [{"type": "integer"}, {"type": "null"}]},
                "items": {"anyOf": [{"type": "array", "items": {"type": "integer"}}, {"type": "null"}]},
                "created_at": dt, "updated_at": dt}},
    });
    let mut paths = serde_json::Map::new();
    let mut components = schemas.as_object().cloned().unwrap_or_default();
    for (path, model) in [
        ("/tracks", "Track"),
        ("/users", "User"),
        ("/listen_history", "ListenHistory"),
    ] {
        let page = format!("Page_{model}_");
        components.insert(page.clone(), json!({
            "type": "object", "title": page,
            "required": ["items", "total", "page", "size", "pages"],
            "properties": {
                "items": {"type": "array", "items": {"$ref": format!("#/components/schemas/{model}")}},
                "total": {"type": "integer", "minimum": 0}, "page": {"type": "integer", "minimum": 1},
                "size": {"type": "integer", "minimum": 1}, "pages": {"type": "integer", "minimum": 0}}
        }));
        paths.insert(path.to_owned(), json!({"get": {
            "summary": format!("Get {}", &path[1..]),
            "operationId": format!("get{}", &path[1..]),
            "parameters": paging,
            "responses": {
                "200": {"description": "Successful Response",
                    "content": {"application/json": {"schema": {"$ref": format!("#/components/schemas/{page}")}}}},
                "422": {"description": "Validation Error",
                    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/HTTPValidationError"}}}}
            }
        }}));
    }
    components.insert(
        "HTTPValidationError".into(),
        json!({"type": "object", "title": "HTTPValidationError",
        "properties": {"detail": {"type": "array", "items": {"type": "object"}}}}),
    );
    json!({
        "openapi": "3.1.0",
        "info": {"title": "MooVitamix source API (simulator)", "version": "0.1.0"},
        "paths": paths,
        "components": {"schemas": components},
    })
    .to_string()
}

/// A simulator serving on a TCP address until [`RunningSimulator::shutdown`] (or drop).
#[derive(Debug)]
pub struct RunningSimulator {
    addr: SocketAddr,
    control: SimulatorControl,
    task: Option<JoinHandle<()>>,
}

impl RunningSimulator {
    /// Serves `config` on `127.0.0.1` at a free port.
    pub async fn start(config: SimulatorConfig) -> std::io::Result<Self> {
        Self::start_on(config, SocketAddr::from(([127, 0, 0, 1], 0))).await
    }

    /// Serves `config` on `addr` (port 0: a free port).
    pub async fn start_on(config: SimulatorConfig, addr: SocketAddr) -> std::io::Result<Self> {
        let listener = tokio::net::TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let (router, control) = router(config);
        let mut stop = control.shared.shutdown.subscribe();
        let task = tokio::spawn(async move {
            let serve = axum::serve(listener, router).with_graceful_shutdown(async move {
                let _ = stop.wait_for(|&down| down).await;
            });
            if let Err(e) = serve.await {
                tracing::warn!(error = %e, "simulator server stopped");
            }
        });
        Ok(Self {
            addr,
            control,
            task: Some(task),
        })
    }

    /// The base URL, e.g. `http://127.0.0.1:PORT` (no trailing slash).
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The control handle (date, faults, stats).
    pub fn control(&self) -> &SimulatorControl {
        &self.control
    }

    /// Stops accepting, ends hanging requests, and waits (at most 2 s) for open requests.
    pub async fn shutdown(mut self) {
        self.control.shared.shutdown.send_replace(true);
        if let Some(mut task) = self.task.take() {
            if tokio::time::timeout(Duration::from_secs(2), &mut task)
                .await
                .is_err()
            {
                task.abort();
            }
        }
    }
}

impl Drop for RunningSimulator {
    fn drop(&mut self) {
        self.control.shared.shutdown.send_replace(true);
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}
