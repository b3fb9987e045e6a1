//! TLS end to end: the real coordinator serves HTTPS with a certificate the
//! test makes, a real agent that trusts its CA runs a task, agents that do
//! not trust it stop with the reason, and SIGHUP swaps the certificate.

use std::path::{Path, PathBuf};
use std::time::Duration;

use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair, KeyUsagePurpose,
};
use switchyard_protocol::{Client, ClientError, ClientOptions, ErrorBody, ErrorCode, TaskState};
use switchyard_tests::{
    ADMIN_TOKEN, AppOptions, spawn_agent_process, spawn_app, spawn_tls_coordinator_process,
    test_database, wait_until,
};

use crate::sim;

/// A CA and a server certificate it signed (for 127.0.0.1 and localhost),
/// as PEM files.
struct Pki {
    ca: PathBuf,
    cert: PathBuf,
    key: PathBuf,
}

fn make_pki(dir: &Path, name: &str) -> Pki {
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    ca_params
        .distinguished_name
        .push(DnType::CommonName, format!("{name} test CA"));
    let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate().unwrap()).unwrap();
    let key = KeyPair::generate().unwrap();
    let mut params =
        CertificateParams::new(vec!["127.0.0.1".to_owned(), "localhost".to_owned()]).unwrap();
    params
        .distinguished_name
        .push(DnType::CommonName, "127.0.0.1");
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    let cert = params.signed_by(&key, &ca).unwrap();
    let pki = Pki {
        ca: dir.join(format!("{name}-ca.pem")),
        cert: dir.join(format!("{name}-cert.pem")),
        key: dir.join(format!("{name}-key.pem")),
    };
    std::fs::write(&pki.ca, ca.pem()).unwrap();
    std::fs::write(&pki.cert, cert.pem()).unwrap();
    std::fs::write(&pki.key, key.serialize_pem()).unwrap();
    pki
}

/// A typed client for `url` that trusts only the CA in `ca`.
fn trusting(url: &str, ca: &Path) -> Client {
    Client::with_options(url, &ClientOptions::default().ca_file(ca))
        .unwrap()
        .with_token(ADMIN_TOKEN)
}

fn path(path: &Path) -> &str {
    path.to_str().unwrap()
}

#[tokio::test]
async fn an_agent_runs_a_task_over_tls_and_agents_that_distrust_the_certificate_stop() {
    let dir = tempfile::tempdir().unwrap();
    let fleet = make_pki(dir.path(), "fleet");
    let other = make_pki(dir.path(), "other");
    let db = test_database().await;
    let (_coordinator, url) =
        spawn_tls_coordinator_process(&db.url, (&fleet.cert, &fleet.key), &fleet.ca, &[]).await;
    let client = trusting(&url, &fleet.ca);
    let _agent = spawn_agent_process(&url, &["tls"], 1, &["--ca-file", path(&fleet.ca)]);
    let submitted = client
        .submit(&sim::task(&["echo", "over tls"], &["tls"]))
        .await
        .unwrap();
    let task = sim::finished(&client, submitted.id, Duration::from_secs(30)).await;
    assert_eq!(task.state, TaskState::Succeeded, "{task:?}");
    assert_eq!(task.output.unwrap().stdout, "over tls\n");

    // Trusting another CA, or only the system's roots: not a retry loop,
    // but a prompt failure that says what to do.
    for extra in [vec!["--ca-file", path(&other.ca)], vec![]] {
        let mut agent = spawn_agent_process(&url, &["tls"], 1, &extra);
        let status = agent.wait_exit(Duration::from_secs(30)).await;
        let output = format!("{}{}", agent.stdout(), agent.stderr());
        assert!(!status.success(), "{extra:?}: {status:?}\n{output}");
        assert!(
            output.contains("the coordinator's certificate is not trusted")
                && output.contains("--ca-file"),
            "{extra:?}: {output}"
        );
        assert!(!output.contains("retrying"), "{extra:?}: {output}");
    }
}

#[tokio::test]
async fn sighup_swaps_the_certificate_and_a_bad_one_keeps_the_current() {
    let dir = tempfile::tempdir().unwrap();
    let old = make_pki(dir.path(), "old");
    let new = make_pki(dir.path(), "new");
    let (cert, key) = (dir.path().join("served.pem"), dir.path().join("served.key"));
    std::fs::copy(&old.cert, &cert).unwrap();
    std::fs::copy(&old.key, &key).unwrap();
    let db = test_database().await;
    let (coordinator, url) =
        spawn_tls_coordinator_process(&db.url, (&cert, &key), &old.ca, &[]).await;

    let kept = trusting(&url, &old.ca);
    kept.whoami().await.unwrap();
    match trusting(&url, &new.ca).whoami().await {
        Err(ClientError::UntrustedCertificate { .. }) => {}
        other => panic!("a client trusting only the new CA got {other:?}"),
    }

    std::fs::copy(&new.cert, &cert).unwrap();
    std::fs::copy(&new.key, &key).unwrap();
    coordinator.sighup();
    wait_until(
        "the coordinator to present the new certificate",
        Duration::from_secs(10),
        || async { trusting(&url, &new.ca).whoami().await.is_ok() },
    )
    .await;
    // The connection opened before the reload goes on; new ones get the
    // new certificate.
    kept.whoami()
        .await
        .expect("a connection made before SIGHUP still works");
    match trusting(&url, &old.ca).whoami().await {
        Err(ClientError::UntrustedCertificate { .. }) => {}
        other => panic!("a new connection trusting only the old CA got {other:?}"),
    }

    std::fs::write(&cert, "not a certificate").unwrap();
    coordinator.sighup();
    wait_until(
        "the failed reload to be logged",
        Duration::from_secs(10),
        || async {
            coordinator
                .stdout()
                .contains("failed to reload the TLS certificate; keeping the current one")
        },
    )
    .await;
    trusting(&url, &new.ca)
        .whoami()
        .await
        .expect("a bad file keeps the current certificate");

    // Plain HTTP on the HTTPS port is told what to do.
    let plain = switchyard_tests::http_client()
        .get(format!("{}/health", url.replacen("https://", "http://", 1)))
        .send()
        .await
        .unwrap();
    assert_eq!(plain.status(), reqwest::StatusCode::BAD_REQUEST);
    let body: ErrorBody = plain.json().await.unwrap();
    assert_eq!(body.code, ErrorCode::BadRequest);
    assert!(body.message.contains("https://"), "{body:?}");
}

#[tokio::test]
async fn https_to_a_plain_http_coordinator_is_a_tls_error_not_a_network_one() {
    let dir = tempfile::tempdir().unwrap();
    let pki = make_pki(dir.path(), "any");
    let app = spawn_app(AppOptions::new()).await;
    let url = app.base_url.replacen("http://", "https://", 1);
    match trusting(&url, &pki.ca).whoami().await {
        Err(error @ ClientError::Tls { .. }) => {
            assert!(error.to_string().contains("http://"), "{error}");
        }
        other => panic!("expected a TLS error, got {other:?}"),
    }
}

#[tokio::test]
async fn a_full_https_server_closes_newcomers_which_clients_retry_rather_than_give_up() {
    let dir = tempfile::tempdir().unwrap();
    let fleet = make_pki(dir.path(), "fleet");
    let db = test_database().await;
    let (_coordinator, url) = spawn_tls_coordinator_process(
        &db.url,
        (&fleet.cert, &fleet.key),
        &fleet.ca,
        &["--max-connections", "2"],
    )
    .await;
    // Both places are held by a worker's long-polls, two at a time, one
    // after another.
    let worker = sim::SimWorker::register(&trusting(&url, &fleet.ca), "busy", &[], 1).await;
    let mut polling = tokio::task::JoinSet::new();
    for _ in 0..2 {
        let worker = worker.clone();
        polling.spawn(async move {
            let poll = switchyard_protocol::FetchRequest {
                max_tasks: 1,
                wait_secs: 20.0,
            };
            loop {
                let _ = worker.client.fetch(worker.id, &poll).await;
            }
        });
    }
    // Each try on a connection of its own: it is refused while a long-poll
    // holds the place. However it fails, it must not look like a TLS
    // failure, which an agent gives up on.
    wait_until(
        "newcomers to be refused while a long-poll holds the place",
        Duration::from_secs(30),
        || async {
            let mut refused = 0;
            for _ in 0..5 {
                if let Err(error) = trusting(&url, &fleet.ca).whoami().await {
                    assert!(
                        !error.is_tls(),
                        "a full server's refusal must read as a transient failure, not a \
                         TLS one: {error:?}"
                    );
                    refused += 1;
                }
            }
            (refused == 5).then_some(())
        },
    )
    .await;
    polling.abort_all();
}

/// Over HTTPS the dashboard's session cookie is marked `Secure`, and a
/// form from the page's own `https://` origin is taken.
#[tokio::test]
async fn a_dashboard_login_over_https_sets_a_secure_cookie() {
    let dir = tempfile::tempdir().unwrap();
    let fleet = make_pki(dir.path(), "fleet");
    let db = test_database().await;
    let (_coordinator, url) =
        spawn_tls_coordinator_process(&db.url, (&fleet.cert, &fleet.key), &fleet.ca, &[]).await;
    let http = switchyard_protocol::http_client_builder(
        &url,
        &ClientOptions::default().ca_file(&fleet.ca),
    )
    .unwrap()
    .redirect(reqwest::redirect::Policy::none())
    .build()
    .unwrap();
    let response = http
        .post(format!("{url}/login"))
        .header("content-type", "application/x-www-form-urlencoded")
        .header("origin", url.trim_end_matches('/'))
        .body(format!("token={ADMIN_TOKEN}"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), reqwest::StatusCode::SEE_OTHER);
    let cookie = response.headers()["set-cookie"].to_str().unwrap();
    assert!(
        cookie.starts_with("switchyard_session=") && cookie.ends_with("; Secure"),
        "{cookie}"
    );
}
