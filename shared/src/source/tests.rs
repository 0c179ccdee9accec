//! Unit tests of the client against a scripted HTTP server on loopback.

use super::*;
use futures::TryStreamExt;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// What the scripted server answers: status, extra headers, body, and a delay before answering.
struct Reply {
    status: u16,
    headers: Vec<(&'static str, String)>,
    body: String,
    delay: Duration,
}

fn ok(body: String) -> Reply {
    Reply { status: 200, headers: vec![("content-type", "application/json".into())], body, delay: Duration::ZERO }
}

fn status(status: u16, body: &str) -> Reply {
    Reply { status, headers: vec![], body: body.into(), delay: Duration::ZERO }
}

/// A page of `total` rows `{"id": n}` in pages of `size`.
fn page_body(page: u64, size: u64, total: u64) -> String {
    let start = (page - 1) * size;
    let items: Vec<String> = (start..total.min(start + size)).map(|i| format!("{{\"id\":{}}}", i + 1)).collect();
    format!(r#"{{"items":[{}],"total":{total},"page":{page},"size":{size},"pages":{}}}"#, items.join(","), total.div_ceil(size))
}

fn page_of(path: &str) -> u64 {
    path.split(['?', '&']).find_map(|kv| kv.strip_prefix("page=")).and_then(|v| v.parse().ok()).unwrap_or(1)
}

struct Scripted {
    url: String,
    hits: Arc<AtomicUsize>,
    requests: Arc<Mutex<Vec<String>>>,
}

/// Serves `reply(request head, hit number)` on a loopback port.
async fn serve(reply: impl Fn(&str, usize) -> Reply + Send + Sync + 'static) -> Scripted {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let (hits, requests) = (Arc::new(AtomicUsize::new(0)), Arc::new(Mutex::new(Vec::new())));
    let (h, r, reply) = (hits.clone(), requests.clone(), Arc::new(reply));
    tokio::spawn(async move {
        loop {
            let Ok((mut socket, _)) = listener.accept().await else { return };
            let (h, r, reply) = (h.clone(), r.clone(), reply.clone());
            tokio::spawn(async move {
                let mut buf = vec![0u8; 8192];
                let n = socket.read(&mut buf).await.unwrap_or(0);
                let head = String::from_utf8_lossy(&buf[..n]).to_string();
                let hit = h.fetch_add(1, Ordering::SeqCst);
                r.lock().unwrap().push(head.clone());
                let answer = reply(&head, hit);
                tokio::time::sleep(answer.delay).await;
                let mut out = format!("HTTP/1.1 {} X\r\ncontent-length: {}\r\nconnection: close\r\n", answer.status, answer.body.len());
                for (k, v) in &answer.headers {
                    out.push_str(&format!("{k}: {v}\r\n"));
                }
                out.push_str("\r\n");
                out.push_str(&answer.body);
                let _ = socket.write_all(out.as_bytes()).await;
                let _ = socket.shutdown().await;
            });
        }
    });
    Scripted { url, hits, requests }
}

fn config(url: &str) -> SourceConfig {
    SourceConfig {
        base_url: url.to_owned(),
        token: None,
        page_size: 100,
        concurrency: 4,
        timeout: Duration::from_millis(500),
        max_attempts: 4,
        retry_budget: 50,
        backoff_base: Duration::from_millis(1),
        backoff_max: Duration::from_millis(20),
        max_body_bytes: 1 << 20,
    }
}

async fn read_all(client: &SourceClient, path: &str) -> Result<(Vec<String>, u32), SourceError> {
    let first = client.first_page(path).await?;
    let rest: Vec<Fetched> = client.remaining_pages(path, &first.page).try_collect().await?;
    let mut rows = Vec::new();
    let mut retries = 0;
    for f in std::iter::once(first).chain(rest) {
        retries += f.retries;
        rows.extend(f.page.items.iter().map(|r| r.get().to_owned()));
    }
    Ok((rows, retries))
}

#[tokio::test]
async fn every_page_is_read_once_in_order() {
    let server = serve(|head, _| ok(page_body(page_of(head.lines().next().unwrap()), 100, 250))).await;
    let client = SourceClient::new(config(&server.url)).unwrap();
    let (rows, retries) = read_all(&client, "tracks").await.unwrap();
    let expected: Vec<String> = (1..=250).map(|i| format!("{{\"id\":{i}}}")).collect();
    assert_eq!(rows, expected);
    assert_eq!((retries, server.hits.load(Ordering::SeqCst)), (0, 3));
    let first = server.requests.lock().unwrap()[0].clone();
    assert!(first.starts_with("GET /tracks?page=1&size=100 "), "{first}");
}

#[tokio::test]
async fn transient_failures_are_retried_until_the_page_arrives() {
    // Each page fails in each transient way once before it is served.
    let server = serve(|head, hit| {
        let page = page_of(head.lines().next().unwrap());
        match hit {
            0 => status(503, "busy"),
            1 => Reply { headers: vec![("retry-after", "0".into())], ..status(429, "slow down") },
            2 => ok(page_body(page, 100, 150)[..40].to_owned()),
            3 => Reply { headers: vec![("content-type", "text/html".into())], ..ok("<html><body>Bad gateway</body></html>".into()) },
            4 => Reply { delay: Duration::from_secs(2), ..ok(page_body(page, 100, 150)) },
            _ => ok(page_body(page, 100, 150)),
        }
    })
    .await;
    let client = SourceClient::new(SourceConfig { concurrency: 1, max_attempts: 10, ..config(&server.url) }).unwrap();
    let (rows, retries) = read_all(&client, "users").await.unwrap();
    assert_eq!(rows.len(), 150);
    assert_eq!(retries, 5, "503, 429, truncated, HTML, timeout");
}

#[tokio::test]
async fn a_refusal_is_not_retried_and_names_the_url() {
    let server = serve(|_, _| status(422, r#"{"detail":[{"msg":"size too large"}]}"#)).await;
    let client = SourceClient::new(config(&server.url)).unwrap();
    let err = client.first_page("tracks").await.unwrap_err();
    assert!(matches!(err, SourceError::Refused { status: 422, .. }), "{err}");
    let text = err.to_string();
    assert!(text.contains("/tracks?page=1&size=100") && text.contains("size too large"), "{text}");
    assert_eq!(server.hits.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn attempts_and_the_run_budget_bound_the_retries() {
    let server = serve(|_, _| status(500, "down")).await;
    let client = SourceClient::new(config(&server.url)).unwrap();
    let err = client.first_page("tracks").await.unwrap_err();
    assert!(matches!(err, SourceError::Exhausted { attempts: 4, .. }), "{err}");
    assert_eq!(server.hits.load(Ordering::SeqCst), 4);

    let budgeted = SourceClient::new(SourceConfig { retry_budget: 5, max_attempts: 100, ..config(&server.url) }).unwrap();
    let err = budgeted.first_page("tracks").await.unwrap_err();
    assert!(matches!(err, SourceError::BudgetSpent { budget: 5, .. }), "{err}");
    let err = budgeted.first_page("users").await.unwrap_err();
    assert!(matches!(err, SourceError::BudgetSpent { .. }), "the budget is shared by the run: {err}");
    let fresh = budgeted.for_run();
    assert!(matches!(fresh.first_page("users").await.unwrap_err(), SourceError::BudgetSpent { .. }));
    assert_eq!(server.hits.load(Ordering::SeqCst), 4 + 6 + 1 + 6, "a new run gets a new budget");
}

#[tokio::test]
async fn a_total_that_changes_mid_listing_is_reported() {
    let server = serve(|head, _| {
        let page = page_of(head.lines().next().unwrap());
        ok(page_body(page, 100, if page < 3 { 300 } else { 420 }))
    })
    .await;
    let client = SourceClient::new(config(&server.url)).unwrap();
    let err = read_all(&client, "tracks").await.unwrap_err();
    assert!(matches!(err, SourceError::Changed { .. }), "{err}");
    assert!(err.to_string().contains("300 rows in 3 pages") && err.to_string().contains("420 rows in 5 pages"), "{err}");
}

#[tokio::test]
async fn the_bearer_token_is_sent_when_configured() {
    let server = serve(|_, _| ok(page_body(1, 100, 0))).await;
    let client = SourceClient::new(SourceConfig { token: Some("s3cret".into()), ..config(&server.url) }).unwrap();
    let (rows, _) = read_all(&client, "tracks").await.unwrap();
    assert!(rows.is_empty());
    let head = server.requests.lock().unwrap()[0].to_lowercase();
    assert!(head.contains("authorization: bearer s3cret"), "{head}");
}

#[tokio::test]
async fn a_page_that_is_not_the_one_asked_for_is_refused() {
    let server = serve(|_, _| ok(page_body(2, 100, 250))).await;
    let client = SourceClient::new(config(&server.url)).unwrap();
    let err = client.first_page("tracks").await.unwrap_err();
    assert!(matches!(err, SourceError::BadPage { .. }), "{err}");
}

#[tokio::test]
async fn valid_json_of_the_wrong_shape_is_permanent_after_one_retry() {
    let server = serve(|_, _| ok(r#"{"data": [{"id": 1}], "meta": {"total": 1}}"#.into())).await;
    let client = SourceClient::new(SourceConfig { max_attempts: 6, ..config(&server.url) }).unwrap();
    let err = client.first_page("tracks").await.unwrap_err();
    assert!(matches!(err, SourceError::WrongShape { .. }), "{err}");
    assert!(err.to_string().contains("missing field `items`"), "the error says what is wrong: {err}");
    assert_eq!(server.hits.load(Ordering::SeqCst), 2, "one retry, not six attempts");

    // A wrong shape once (a proxy's moment), then the page: the retry gets it.
    let server = serve(|head, hit| if hit == 0 { ok("[1, 2, 3]".into()) } else { ok(page_body(page_of(head.lines().next().unwrap()), 100, 50)) }).await;
    let client = SourceClient::new(config(&server.url)).unwrap();
    let (rows, retries) = read_all(&client, "users").await.unwrap();
    assert_eq!((rows.len(), retries), (50, 1));
}

#[tokio::test]
async fn a_body_over_the_limit_fails_without_being_read_whole() {
    // 250 rows of `{"id":n}` are about 2.5 kB: over a 1 kB limit, under the default.
    let server = serve(|head, _| ok(page_body(page_of(head.lines().next().unwrap()), 100, 250))).await;
    let client = SourceClient::new(SourceConfig { max_body_bytes: 1024, ..config(&server.url) }).unwrap();
    let err = client.first_page("tracks").await.unwrap_err();
    assert!(matches!(err, SourceError::TooLarge { limit: 1024, .. }), "{err}");
    assert!(err.to_string().contains("FETCH_MAX_BODY_BYTES"), "{err}");
    assert_eq!(server.hits.load(Ordering::SeqCst), 1, "not retried");
    let roomy = SourceClient::new(config(&server.url)).unwrap();
    assert_eq!(read_all(&roomy, "tracks").await.unwrap().0.len(), 250);
}

#[tokio::test]
async fn a_body_without_length_is_cut_at_the_limit() {
    // A chunked answer that never ends within the limit: the client stops reading at the limit.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let sent = Arc::new(AtomicUsize::new(0));
    let counter = sent.clone();
    tokio::spawn(async move {
        let (mut socket, _) = listener.accept().await.unwrap();
        let mut buf = vec![0u8; 8192];
        let _ = socket.read(&mut buf).await;
        let _ = socket.write_all(b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\n\r\n").await;
        let chunk = format!("{:x}\r\n{}\r\n", 4096, " ".repeat(4096));
        for _ in 0..100_000 {
            if socket.write_all(chunk.as_bytes()).await.is_err() {
                return;
            }
            counter.fetch_add(4096, Ordering::SeqCst);
        }
    });
    let client = SourceClient::new(SourceConfig { max_body_bytes: 64 * 1024, ..config(&url) }).unwrap();
    let err = client.first_page("tracks").await.unwrap_err();
    assert!(matches!(err, SourceError::TooLarge { .. }), "{err}");
    assert!(sent.load(Ordering::SeqCst) < 100_000 * 4096, "the client hung up long before the end");
}
