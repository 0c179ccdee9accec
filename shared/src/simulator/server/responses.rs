//! Fixed answers: JSON errors, and the 5xx and HTML pages the layers in front of the app write.

use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

pub(super) fn json_response(status: StatusCode, body: &Value) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response()
}

/// A 5xx as different layers write them: the app's plain 500, a gateway's JSON 502/503.
pub(super) fn error_response(status: u16) -> Response {
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
pub(super) fn html_response(status: u16) -> Response {
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
