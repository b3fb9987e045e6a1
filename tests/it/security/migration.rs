//! The scoped-token migration on a database that already holds tokens:
//! nothing is lost, worker tokens of gone workers are revoked, and a worker
//! token an admin registered acts only as its worker from then on.

use reqwest::StatusCode;
use sea_orm::{ConnectionTrait, DatabaseConnection, FromQueryResult, Statement};
use switchyard_migration::{Migrator, MigratorTrait};
use switchyard_protocol::Role;
use switchyard_tests::{ADMIN_TOKEN, AppOptions, SCHEMA, empty_database, spawn_app_on};

use super::{client, register, unknown_token};

/// Migrations before the scoped-token one.
const BEFORE: u32 = 5;

#[derive(Debug, PartialEq, Eq, FromQueryResult)]
struct TokenRow {
    prefix: String,
    principal: Option<String>,
    worker: Option<String>,
    revoked: bool,
    registered_with: Option<i64>,
}

async fn tokens(db: &DatabaseConnection) -> Vec<TokenRow> {
    TokenRow::find_by_statement(Statement::from_string(
        sea_orm::DbBackend::Postgres,
        "SELECT t.prefix, p.name AS principal, w.name AS worker, \
                t.revoked_at IS NOT NULL AS revoked, t.registered_with \
         FROM api_tokens t LEFT JOIN principals p ON p.id = t.principal_id \
         LEFT JOIN workers w ON w.id = t.worker_id ORDER BY t.prefix",
    ))
    .all(db)
    .await
    .unwrap()
}

#[derive(Debug, FromQueryResult)]
struct Count {
    n: i64,
    with_principal: i64,
}

fn row(prefix: &str, principal: &str, worker: Option<&str>, revoked: bool) -> TokenRow {
    TokenRow {
        prefix: prefix.into(),
        principal: Some(principal.into()),
        worker: worker.map(Into::into),
        revoked,
        registered_with: None,
    }
}

#[tokio::test]
async fn existing_tokens_migrate_forward_scoped_and_without_loss() {
    let database = empty_database().await;
    let db = database.connect().await;
    db.execute_unprepared(&format!("CREATE SCHEMA {SCHEMA}"))
        .await
        .unwrap();
    Migrator::up(&db, Some(BEFORE)).await.unwrap();
    // What an older coordinator left: an admin's API token and the worker
    // token it got for a worker it registered, a fleet's registration
    // token, and the worker token of a worker that has since gone.
    let (root_api, root_worker, fleet, gone_worker) = (
        unknown_token(1),
        unknown_token(2),
        unknown_token(3),
        unknown_token(4),
    );
    db.execute_unprepared(&format!(
        "INSERT INTO principals (name, role) VALUES ('root', 'admin'), ('fleet', 'worker'); \
         INSERT INTO workers (name, slots) VALUES ('alive', 1); \
         INSERT INTO workers (name, slots, state, left_at) VALUES ('left', 1, 'gone', now()); \
         INSERT INTO api_tokens (principal_id, kind, token_hash, prefix, worker_id) \
         SELECT p.id, v.kind, sha256(convert_to(v.token, 'UTF8')), v.prefix, \
                (SELECT id FROM workers WHERE name = v.worker) \
         FROM (VALUES ('root', 'api', '{root_api}', 'root-api', NULL), \
                      ('root', 'worker', '{root_worker}', 'root-worker', 'alive'), \
                      ('fleet', 'registration', '{fleet}', 'fleet', NULL), \
                      ('fleet', 'worker', '{gone_worker}', 'gone-worker', 'left')) \
              AS v (principal, kind, token, prefix, worker) \
         JOIN principals p ON p.name = v.principal;"
    ))
    .await
    .unwrap();

    Migrator::up(&db, None).await.unwrap();
    assert_eq!(
        tokens(&db).await,
        [
            row("fleet", "fleet", None, false),
            row("gone-worker", "fleet", Some("left"), true),
            row("root-api", "root", None, false),
            row("root-worker", "root", Some("alive"), false),
        ]
    );

    let mut app = spawn_app_on(database, AppOptions::new()).await;
    // The worker token an admin registered acts only as its worker.
    let who = client(&app, &root_worker).whoami().await.unwrap();
    assert_eq!((who.role, who.principal.as_str()), (Role::Worker, "root"));
    let refused = client(&app, &root_worker).admin_tokens().await.unwrap_err();
    assert_eq!(refused.status(), Some(StatusCode::FORBIDDEN));
    let dead = client(&app, &gone_worker).whoami().await.unwrap_err();
    assert_eq!(dead.status(), Some(StatusCode::UNAUTHORIZED));
    assert_eq!(
        client(&app, &root_api).whoami().await.unwrap().role,
        Role::Admin
    );
    let (_, _) = register(&app, &fleet, "new", &[]).await;
    let (_, bootstrap_worker) = register(&app, ADMIN_TOKEN, "bootstrap", &[]).await;
    assert_eq!(tokens(&db).await.len(), 6);
    assert!(tokens(&db).await.iter().any(|t| t.principal.is_none()));

    // Going back down keeps every token the older schema can hold: all
    // but the bootstrap admin's worker token, which has no principal.
    app.stop().await.unwrap();
    let after = u32::try_from(Migrator::migrations().len()).unwrap() - BEFORE;
    Migrator::down(&db, Some(after)).await.unwrap();
    let down = Count::find_by_statement(Statement::from_string(
        sea_orm::DbBackend::Postgres,
        "SELECT count(*) AS n, count(principal_id) AS with_principal FROM api_tokens",
    ))
    .one(&db)
    .await
    .unwrap()
    .unwrap();
    assert_eq!((down.n, down.with_principal), (5, 5));
    Migrator::up(&db, None).await.unwrap();
    app.start().await;
    let refused = client(&app, &bootstrap_worker).whoami().await.unwrap_err();
    assert_eq!(refused.status(), Some(StatusCode::UNAUTHORIZED));
    assert_eq!(
        client(&app, &root_api).whoami().await.unwrap().role,
        Role::Admin
    );
}
