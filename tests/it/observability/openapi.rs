//! The OpenAPI document is valid OpenAPI 3.1 and describes exactly the
//! routes the router serves, each with its request and response schemas.

use std::collections::BTreeSet;

use oas3::spec::{MediaType, Spec};
use reqwest::{Method, StatusCode};
use serde_json::Value;
use switchyard_coordinator::dispatcher::TaskDispatcher;
use switchyard_coordinator::service::{AppState, Settings};
use switchyard_tests::{AppOptions, TestApp, serve_args, spawn_app};
use tokio_util::sync::CancellationToken;

use crate::admin::TOKEN;

/// Methods a route can be served with (HEAD follows GET in axum).
const METHODS: [Method; 5] = [
    Method::GET,
    Method::POST,
    Method::PUT,
    Method::PATCH,
    Method::DELETE,
];

/// Paths the router registers, read from the router the coordinator builds:
/// axum offers no listing, but the router's `Debug` form shows every
/// registered path template. Should that form change with an axum upgrade,
/// this fails loudly rather than passing vacuously.
async fn router_paths(app: &TestApp) -> BTreeSet<String> {
    let config = serve_args(&app.db.url, app.addr, &AppOptions::new());
    let state = AppState::new(
        app.db.connect().await,
        TaskDispatcher::new(config.dispatch_mode, config.balance_strategy),
        Settings::from_config(&config),
        CancellationToken::new(),
    );
    let router = switchyard_coordinator::routes::router(state);
    let debug = format!("{router:?}");
    // `Router { path_router: …, fallback_router: …, … }`: only the first
    // holds the routes.
    let start = debug
        .find("path_router:")
        .expect("unexpected Router debug output");
    let end = debug.find("fallback_router:").unwrap_or(debug.len());
    let mut paths = BTreeSet::new();
    let mut rest = &debug[start..end];
    while let Some(at) = rest.find("RouteId(") {
        rest = &rest[at..];
        let open = rest.find(": \"").unwrap() + 3;
        let close = open + rest[open..].find('"').unwrap();
        let path = &rest[open..close];
        if !path.contains("__private__") {
            paths.insert(path.to_owned());
        }
        rest = &rest[close..];
    }
    assert!(
        paths.len() >= 10,
        "could not read the router's paths from {debug}"
    );
    paths
}

/// A concrete URL path for `template`, with every `{param}` as `999999`.
fn concrete(template: &str) -> String {
    let mut out = String::new();
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        let close = open + rest[open..].find('}').unwrap();
        out.push_str(&rest[..open]);
        out.push_str("999999");
        rest = &rest[close + 1..];
    }
    out + rest
}

/// Whether the router serves `method` on `template`: anything but the
/// router's own "no such route" or "method not allowed" answers counts.
async fn serves(app: &TestApp, method: &Method, template: &str) -> bool {
    let mut request = app
        .http
        .request(method.clone(), app.url(&concrete(template)))
        .bearer_auth(TOKEN);
    if *method != Method::GET && *method != Method::DELETE {
        request = request.json(&serde_json::json!({}));
    }
    let response = request.send().await.unwrap();
    let status = response.status();
    let body: Value = response.json().await.unwrap_or(Value::Null);
    let code = body["code"].as_str().unwrap_or_default();
    !(status == StatusCode::METHOD_NOT_ALLOWED
        || (status == StatusCode::NOT_FOUND && code == "not_found"))
}

/// Every `$ref` in the document.
fn collect_refs(value: &Value, refs: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            for (key, value) in map {
                match (key.as_str(), value) {
                    ("$ref", Value::String(reference)) => refs.push(reference.clone()),
                    _ => collect_refs(value, refs),
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|item| collect_refs(item, refs)),
        _ => {}
    }
}

fn has_schema_content(content: &oas3::Map<String, MediaType>) -> bool {
    !content.is_empty() && content.values().all(|media| media.schema.is_some())
}

#[tokio::test]
async fn the_openapi_document_is_3_1_and_lists_every_route_with_schemas() {
    let app = spawn_app(AppOptions::new().flag("--admin-token", TOKEN)).await;
    let text = app
        .http
        .get(app.url("/api/openapi.json"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let raw: Value = serde_json::from_str(&text).unwrap();
    assert!(
        raw["openapi"].as_str().unwrap().starts_with("3.1."),
        "{}",
        raw["openapi"]
    );
    let spec: Spec = oas3::from_json(&text).unwrap_or_else(|e| panic!("not OpenAPI 3.1: {e}"));
    spec.validate_version().unwrap();
    assert!(
        raw["components"]["securitySchemes"]["admin_token"]["scheme"] == "bearer",
        "{}",
        raw["components"]
    );

    // Every path the router serves is documented, with exactly the methods
    // it serves.
    let documented: BTreeSet<String> = spec.paths.as_ref().unwrap().keys().cloned().collect();
    let served = router_paths(&app).await;
    assert_eq!(
        served, documented,
        "router paths (left) vs documented paths (right)"
    );
    for path in &served {
        for method in &METHODS {
            let in_doc = spec.operation(method, path).is_some();
            assert_eq!(
                serves(&app, method, path).await,
                in_doc,
                "{method} {path}: served by the router vs documented ({in_doc})"
            );
        }
    }

    // Each operation has typed responses; bodies it takes have schemas;
    // every reference resolves.
    for (path, method, op) in spec.operations() {
        let what = format!("{method} {path}");
        let responses = op
            .responses
            .as_ref()
            .unwrap_or_else(|| panic!("{what}: no responses"));
        assert!(!responses.is_empty(), "{what}: no responses");
        for (status, response) in responses {
            let response = response
                .resolve(&spec)
                .unwrap_or_else(|e| panic!("{what} {status}: {e}"));
            if status.starts_with('2') {
                assert!(
                    has_schema_content(&response.content),
                    "{what} {status}: no schema"
                );
            }
        }
        if let Some(body) = &op.request_body {
            let body = body
                .resolve(&spec)
                .unwrap_or_else(|e| panic!("{what} body: {e}"));
            assert!(
                has_schema_content(&body.content),
                "{what}: body without a schema"
            );
        }
        // Every route needs a token (the document's default), admin routes
        // an admin's; only /health and this document are open.
        let schemes: Vec<&String> = op
            .security
            .iter()
            .flat_map(|requirement| requirement.0.keys())
            .collect();
        let public = !op.security.is_empty() && schemes.is_empty();
        let open_route = path == "/health" || path == "/api/openapi.json";
        assert_eq!(
            public, open_route,
            "{what}: only /health and the document are open"
        );
        if path.starts_with("/api/v1/admin/") {
            assert_eq!(
                schemes,
                ["admin_token"],
                "{what}: admin routes need the admin token"
            );
        }
    }
    let mut refs = Vec::new();
    collect_refs(&raw, &mut refs);
    assert!(!refs.is_empty());
    for reference in refs {
        let name = reference
            .strip_prefix("#/components/schemas/")
            .unwrap_or_else(|| panic!("unexpected reference {reference}"));
        assert!(
            raw["components"]["schemas"][name].is_object(),
            "dangling {reference}"
        );
    }
    // Bodies the API takes are described.
    for (method, path) in [
        (Method::POST, "/api/v1/tasks"),
        (Method::POST, "/api/v1/workers"),
        (Method::POST, "/api/v1/workers/{id}/report"),
        (Method::POST, "/api/v1/workers/{id}/fetch"),
    ] {
        let op = spec.operation(&method, path).unwrap();
        assert!(
            op.request_body.is_some(),
            "{method} {path}: no request body"
        );
    }
    assert!(text.contains("\"#/components/schemas/TaskView\""));
}
