//! The router: every path of the source API, and the request counting in front of it.

use std::sync::atomic::Ordering;
use std::sync::{Arc, RwLock};

use axum::Router;
use axum::extract::{Query, State};
use axum::http::{StatusCode, header};
use axum::response::Redirect;
use axum::routing::get;
use serde_json::json;
use tokio::sync::watch;

use super::super::dataset::Dataset;
use super::super::{Resource, SimulatorConfig};
use super::control::SimulatorControl;
use super::docs::{DOCS_HTML, openapi};
use super::page::serve_page;
use super::responses::json_response;
use super::state::{Counters, Current, Shared};

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
    let endpoint = |e: Resource| {
        get(
            move |State(s): State<Arc<Shared>>, Query(q): Query<Vec<(String, String)>>| {
                serve_page(s, e, q)
            },
        )
    };
    let other = |s: &Arc<Shared>| s.counters.by_endpoint[3].fetch_add(1, Ordering::Relaxed);
    let router = Router::new()
        .route("/tracks", endpoint(Resource::Tracks))
        .route("/users", endpoint(Resource::Users))
        .route("/listen_history", endpoint(Resource::ListenHistory))
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
                if Resource::from_name(req.uri().path()).is_none() {
                    other(&s);
                }
                next.run(req).await
            },
        ))
        .with_state(shared.clone());
    (router, SimulatorControl { shared })
}
