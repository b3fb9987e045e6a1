//! The OpenAPI document is valid OpenAPI 3.1 and describes exactly the
//! routes the router serves, each with its request and response schemas.
//!
//! Routes are registered from their documentation (utoipa-axum's `routes!`
//! takes each handler's path and method from its `#[utoipa::path]`, and the
//! route modules hand out nothing else), so the router and the document
//! list the same routes by construction. What is left to check is that each
//! documented operation answers (its handler, not the router's 404 or 405),
//! and that no other method on its path does.

use std::collections::BTreeSet;

use oas3::spec::{MediaType, Spec};
use reqwest::{Method, StatusCode};
use serde_json::Value;
use switchyard_tests::{AppOptions, TestApp, spawn_app};

use crate::admin::TOKEN;

/// Methods a route can be served with (HEAD follows GET in axum).
const METHODS: [Method; 5] = [
    Method::GET,
    Method::POST,
    Method::PUT,
    Method::PATCH,
    Method::DELETE,
];

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

    // Every documented path is served with exactly its documented methods.
    let documented: BTreeSet<String> = spec.paths.as_ref().unwrap().keys().cloned().collect();
    assert!(documented.len() >= 20, "{documented:?}");
    let mut wrong = Vec::new();
    for path in &documented {
        for method in &METHODS {
            let in_doc = spec.operation(method, path).is_some();
            if serves(&app, method, path).await != in_doc {
                wrong.push(format!(
                    "{method} {path}: documented {in_doc}, served {}",
                    !in_doc
                ));
            }
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));

    // Operation ids are unique (client generators and validators need
    // them so) and snake_case.
    let mut ids = BTreeSet::new();
    for (path, method, op) in spec.operations() {
        let id = op
            .operation_id
            .as_deref()
            .unwrap_or_else(|| panic!("{method} {path}: no operation id"));
        assert!(
            ids.insert(id.to_owned()),
            "{method} {path}: operation id {id} used twice"
        );
        assert!(
            id.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'),
            "{method} {path}: operation id {id}"
        );
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

/// The schema component `name`.
fn component<'a>(doc: &'a Value, name: &str) -> &'a Value {
    let schema = &doc["components"]["schemas"][name];
    assert!(schema.is_object(), "no component {name}");
    schema
}

/// The schema of query parameter `name` of `GET path`.
fn query_param<'a>(doc: &'a Value, path: &str, name: &str) -> &'a Value {
    doc["paths"][path]["get"]["parameters"]
        .as_array()
        .unwrap_or_else(|| panic!("GET {path} has no parameters"))
        .iter()
        .find(|p| p["name"] == name)
        .map(|p| &p["schema"])
        .unwrap_or_else(|| panic!("GET {path} has no parameter {name}"))
}

/// A component's pattern, compiled as an anchored regular expression.
fn pattern(schema: &Value) -> regex::Regex {
    let text = schema["pattern"].as_str().expect("a pattern");
    regex::Regex::new(text).unwrap_or_else(|e| panic!("{text}: {e}"))
}

#[tokio::test]
async fn the_openapi_document_states_the_bounds_the_server_enforces() {
    use switchyard_protocol::limits::*;
    use switchyard_protocol::text::REFUSED;

    let app = spawn_app(AppOptions::new().flag("--admin-token", TOKEN)).await;
    let doc: Value = super::get_json(&app, "/api/openapi.json").await;
    let n = |value: &Value| {
        value
            .as_f64()
            .unwrap_or_else(|| panic!("not a number: {value}"))
    };

    // Request bodies name the bounded components.
    let submit = &component(&doc, "SubmitTask")["properties"];
    assert_eq!(submit["tags"]["$ref"], "#/components/schemas/TagList");
    assert_eq!(submit["labels"]["$ref"], "#/components/schemas/LabelList");
    assert_eq!(submit["argv"]["$ref"], "#/components/schemas/Argv");
    assert_eq!(
        submit["priority"]["oneOf"][0]["$ref"],
        "#/components/schemas/Priority"
    );
    let register = &component(&doc, "RegisterWorker")["properties"];
    assert_eq!(register["name"]["$ref"], "#/components/schemas/WorkerName");
    let report = &component(&doc, "TaskReport")["properties"];
    assert_eq!(report["stdout"]["$ref"], "#/components/schemas/OutputTail");

    // Each with the numbers of `limits`.
    for (name, key, bound) in [
        ("Tag", "maxLength", MAX_TAG_BYTES as f64),
        ("Tag", "minLength", 1.0),
        ("TagList", "maxItems", MAX_TAGS as f64),
        ("Label", "maxLength", MAX_LABEL_BYTES as f64),
        ("Label", "x-max-bytes", MAX_LABEL_BYTES as f64),
        ("LabelList", "maxItems", MAX_LABELS as f64),
        ("Argv", "minItems", 1.0),
        ("Argv", "maxItems", MAX_ARGV as f64),
        ("Argv", "x-max-bytes", MAX_ARGV_BYTES as f64),
        ("Environment", "x-max-bytes", MAX_ENV_BYTES as f64),
        ("WorkingDir", "maxLength", MAX_WORKING_DIR_BYTES as f64),
        ("Priority", "minimum", f64::from(MIN_PRIORITY)),
        ("Priority", "maximum", f64::from(MAX_PRIORITY)),
        ("TimeoutSecs", "maximum", MAX_TIMEOUT_SECS as f64),
        ("MaxAttempts", "maximum", f64::from(MAX_ATTEMPTS)),
        (
            "IdempotencyKey",
            "maxLength",
            MAX_IDEMPOTENCY_KEY_BYTES as f64,
        ),
        ("SubmitTaskList", "maxItems", MAX_BATCH as f64),
        ("WorkerName", "maxLength", MAX_WORKER_NAME_BYTES as f64),
        ("Slots", "maximum", f64::from(MAX_SLOTS)),
        ("FetchCount", "maximum", f64::from(MAX_FETCH)),
        ("FetchWaitSecs", "maximum", MAX_FETCH_WAIT_SECS),
        ("OutputTail", "maxLength", OUTPUT_TAIL_BYTES as f64),
        ("ErrorText", "maxLength", MAX_ERROR_BYTES as f64),
        ("TaskReportList", "maxItems", MAX_REPORT_BATCH as f64),
        (
            "PrincipalName",
            "maxLength",
            MAX_PRINCIPAL_NAME_BYTES as f64,
        ),
        ("TokenLabel", "maxLength", MAX_TOKEN_LABEL_BYTES as f64),
        (
            "TokenLifetimeSecs",
            "maximum",
            MAX_TOKEN_LIFETIME_SECS as f64,
        ),
    ] {
        assert_eq!(n(&component(&doc, name)[key]), bound, "{name}.{key}");
    }
    for (path, param, bound) in [
        ("/api/v1/tasks", "limit", f64::from(MAX_PAGE_SIZE)),
        ("/api/v1/stats", "per_page", f64::from(MAX_STATS_PER_PAGE)),
    ] {
        assert_eq!(
            n(&query_param(&doc, path, param)["maximum"]),
            bound,
            "{path} {param}"
        );
    }

    // The patterns say what the server checks: tags are a small ASCII set,
    // and text people read holds no refused character.
    let tag = pattern(component(&doc, "Tag"));
    assert!(tag.is_match("a-b_c.d:e/f=g+h@i"));
    for bad in ["has space", "gpu\u{202E}", "", "ünï"] {
        assert!(!tag.is_match(bad), "{bad:?}");
    }
    assert_eq!(
        query_param(&doc, "/api/v1/tasks", "tag")["pattern"],
        component(&doc, "Tag")["pattern"]
    );
    for name in ["Label", "WorkerName", "TokenLabel", "IdempotencyKey"] {
        let visible = pattern(component(&doc, name));
        for fine in ["nightly", "Jörg", "夜間ビルド", "release ❤\u{FE0F}"] {
            assert!(visible.is_match(fine), "{name}: {fine:?}");
        }
        for &(low, high) in REFUSED {
            for c in [low, high] {
                let text = format!("a{c}b");
                assert!(
                    !visible.is_match(&text),
                    "{name} allows U+{:04X}",
                    u32::from(c)
                );
            }
        }
    }
    let principal = pattern(component(&doc, "PrincipalName"));
    assert!(principal.is_match("alice.smith@example-1"));
    assert!(!principal.is_match("al ice") && !principal.is_match("al:ice"));
}
