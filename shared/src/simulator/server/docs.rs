//! `/docs` and `/openapi.json`: the source's documentation pages, in small.

use serde_json::json;

pub(super) const DOCS_HTML: &str = "<!DOCTYPE html>\n<html><head><title>MooVitamix source API (simulator) - Swagger UI</title></head>\n<body><h1>MooVitamix source API (simulator)</h1>\n<p>The schema is at <a href=\"/openapi.json\">/openapi.json</a>.</p>\n<ul><li>GET /tracks</li><li>GET /users</li><li>GET /listen_history</li></ul>\n</body></html>\n";

/// A small OpenAPI document of the three endpoints.
pub(super) fn openapi() -> String {
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
