//! One page of an endpoint: the request's faults, the paging, then the rows as served (with
//! the listing faults: a changed `total`, a shift, rows served twice, malformed rows).

use std::io::Write as _;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use axum::body::Body;
use axum::http::{StatusCode, header};
use axum::response::Response;
use serde_json::json;

use super::super::Resource;
use super::super::dataset::OrderedFields;
use super::super::faults::{FaultKind, TotalChange, Transient, draw_request, malform, reform_datetimes, total_change};
use super::inject::request_fault;
use super::paging::parse_paging;
use super::responses::json_response;
use super::state::Shared;

/// One page of an endpoint, with the faults drawn for this request.
pub(super) async fn serve_page(s: Arc<Shared>, e: Resource, query: Vec<(String, String)>) -> Response {
    let c = &s.counters;
    c.by_endpoint[e.index()].fetch_add(1, Ordering::Relaxed);
    let n = s.sequence[e.index()].fetch_add(1, Ordering::Relaxed);
    let (dataset, faults) = s.current();
    let seed = s.config.seed;
    let draw = draw_request(&faults, seed, dataset.day(), e, n);

    if let Some(answer) = request_fault(&s, e, &faults, &draw).await {
        return answer;
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
    let wrong_shape = faults.wrong_shape_endpoint.as_deref().and_then(Resource::from_name) == Some(e);
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
