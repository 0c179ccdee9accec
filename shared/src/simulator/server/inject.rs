//! The faults that act before the app sees a request: latency delays it, a failing endpoint and
//! the transient faults (5xx, 429, HTML, timeout) answer in its place.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::Response;
use serde_json::json;

use super::super::faults::{FaultKind, RequestDraw, Transient};
use super::super::{Resource, Faults};
use super::responses::{error_response, html_response, json_response};
use super::state::Shared;

/// Waits out the request's latency, then the answer of a request-level fault, if one fires
/// (`None`: the app serves the page).
pub(super) async fn request_fault(s: &Shared, e: Resource, faults: &Faults, draw: &RequestDraw) -> Option<Response> {
    let c = &s.counters;
    let delay = faults.latency + faults.latency_jitter.mul_f64(draw.jitter);
    if !delay.is_zero() {
        c.fault(FaultKind::Latency, 1);
        tokio::time::sleep(delay).await;
    }
    if faults
        .fail_endpoint
        .as_deref()
        .and_then(Resource::from_name)
        == Some(e)
    {
        c.fault(FaultKind::FailEndpoint, 1);
        return Some(json_response(
            StatusCode::SERVICE_UNAVAILABLE,
            &json!({"detail": "Service Unavailable"}),
        ));
    }
    match draw.transient {
        Transient::Error(status) => {
            c.fault(FaultKind::Error, 1);
            return Some(error_response(status));
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
            return Some(r);
        }
        Transient::Html(status) => {
            c.fault(FaultKind::Html, 1);
            return Some(html_response(status));
        }
        Transient::Timeout => {
            c.fault(FaultKind::Timeout, 1);
            let mut stop = s.shutdown.subscribe();
            tokio::select! {
                () = tokio::time::sleep(faults.timeout) => {}
                _ = stop.wait_for(|&down| down) => {}
            }
            return Some(json_response(
                StatusCode::GATEWAY_TIMEOUT,
                &json!({"message": "Endpoint request timed out"}),
            ));
        }
        Transient::None | Transient::Truncate(_) => {}
    }
    None
}
