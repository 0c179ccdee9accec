//! The paging parameters, validated the way the source (FastAPI) validates them.

use serde_json::{Value, json};

/// `page` (>= 1, default 1) and `size` (1..=100, default 100), or FastAPI's 422 details.
pub(super) fn parse_paging(query: &[(String, String)]) -> Result<(u64, u64), Vec<Value>> {
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
