//! Headless Chromium driven through ChromeDriver's WebDriver protocol (W3C
//! WebDriver over HTTP, with plain reqwest and serde_json): open pages,
//! find elements by CSS selector, type, click, read text, take screenshots.
//!
//! Needs Debian's `chromium` and `chromium-driver` packages (`.ci/run`
//! installs them). Each [`Browser`] runs its own chromedriver on a free
//! port, in its own process group, which is killed when the browser is
//! dropped (so a failing test leaves no Chromium behind).

use std::path::PathBuf;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;
use serde_json::{Value, json};

use crate::wait_until;

/// Longest chromedriver may take to start answering, and Chromium to start.
const START_DEADLINE: Duration = Duration::from_secs(60);

/// Longest one WebDriver command may take (a page load included).
const COMMAND_DEADLINE: Duration = Duration::from_secs(60);

/// The key WebDriver names a found element under.
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

/// `name` on `PATH`; fails the test, saying how to get it, when absent.
fn on_path(name: &str, package: &str) -> PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|candidate| candidate.is_file())
        .unwrap_or_else(|| {
            panic!(
                "{name} not found on PATH: browser tests need Debian's `{package}` package \
                 (`apt-get install -y {package}`; .ci/run installs it when missing)"
            )
        })
}

/// A headless Chromium session.
#[derive(Debug)]
pub struct Browser {
    http: reqwest::Client,
    /// `http://127.0.0.1:PORT/session/ID`.
    session: String,
    driver: tokio::process::Child,
    _profile: tempfile::TempDir,
}

impl Browser {
    /// Starts chromedriver and a headless Chromium session with a fresh
    /// profile and a 1280×900 window.
    pub async fn start() -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|listener| listener.local_addr())
            .unwrap()
            .port();
        let driver = tokio::process::Command::new(on_path("chromedriver", "chromium-driver"))
            .arg(format!("--port={port}"))
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .process_group(0)
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        let http = crate::http_client();
        let base = format!("http://127.0.0.1:{port}");
        wait_until("chromedriver to answer", START_DEADLINE, || {
            let request = http.get(format!("{base}/status")).send();
            async move {
                match request.await {
                    Ok(response) => response.json::<Value>().await.ok()?["value"]["ready"]
                        .as_bool()
                        .filter(|ready| *ready),
                    Err(_) => None,
                }
            }
        })
        .await;
        let profile = tempfile::tempdir().unwrap();
        let capabilities = json!({
            "capabilities": { "alwaysMatch": {
                "browserName": "chrome",
                "goog:chromeOptions": {
                    "binary": on_path("chromium", "chromium"),
                    "args": [
                        "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                        "--window-size=1280,900", "--hide-scrollbars", "--no-first-run",
                        "--disable-background-networking", "--disable-component-update",
                        "--disable-sync", "--disable-quic",
                        format!("--user-data-dir={}", profile.path().display()),
                    ],
                },
            } }
        });
        let answer = send(http.post(format!("{base}/session")).json(&capabilities)).await;
        let id = answer["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no session in {answer}"))
            .to_owned();
        Browser {
            http,
            session: format!("{base}/session/{id}"),
            driver,
            _profile: profile,
        }
    }

    async fn get(&self, path: &str) -> Value {
        send(self.http.get(format!("{}{path}", self.session))).await
    }

    async fn post(&self, path: &str, body: Value) -> Value {
        send(
            self.http
                .post(format!("{}{path}", self.session))
                .json(&body),
        )
        .await
    }

    /// Opens `url` and waits for it to load.
    pub async fn goto(&self, url: &str) {
        self.post("/url", json!({ "url": url })).await;
    }

    /// The URL of the page shown.
    pub async fn url(&self) -> String {
        self.get("/url").await.as_str().unwrap().to_owned()
    }

    /// The page's current HTML (as the DOM is now).
    pub async fn source(&self) -> String {
        self.get("/source").await.as_str().unwrap().to_owned()
    }

    /// The element `css` selects, if there is one now.
    pub async fn try_find(&self, css: &str) -> Option<String> {
        let response = self
            .http
            .post(format!("{}/element", self.session))
            .json(&json!({ "using": "css selector", "value": css }))
            .timeout(COMMAND_DEADLINE)
            .send()
            .await
            .unwrap();
        let found = response.status().is_success();
        let body: Value = response.json().await.unwrap();
        found.then(|| body["value"][ELEMENT].as_str().unwrap().to_owned())
    }

    /// The element `css` selects; fails the test when there is none.
    pub async fn find(&self, css: &str) -> String {
        match self.try_find(css).await {
            Some(element) => element,
            None => panic!(
                "no element {css:?} on {}:\n{}",
                self.url().await,
                self.source().await
            ),
        }
    }

    /// The visible text of the element `css` selects.
    pub async fn text(&self, css: &str) -> String {
        let element = self.find(css).await;
        let text = self.get(&format!("/element/{element}/text")).await;
        text.as_str().unwrap().to_owned()
    }

    /// Types `text` into the element `css` selects.
    pub async fn type_into(&self, css: &str, text: &str) {
        let element = self.find(css).await;
        self.post(
            &format!("/element/{element}/value"),
            json!({ "text": text }),
        )
        .await;
    }

    /// Clicks the element `css` selects (a submit button waits for the
    /// page it leads to).
    pub async fn click(&self, css: &str) {
        let element = self.find(css).await;
        self.post(&format!("/element/{element}/click"), json!({}))
            .await;
    }

    /// The text of the element `css` selects, if there is one now and it
    /// is still there when read (a page that reloads meanwhile drops it).
    async fn try_text(&self, css: &str) -> Option<String> {
        let element = self.try_find(css).await?;
        let response = self
            .http
            .get(format!("{}/element/{element}/text", self.session))
            .timeout(COMMAND_DEADLINE)
            .send()
            .await
            .ok()?;
        if !response.status().is_success() {
            return None;
        }
        let body: Value = response.json().await.ok()?;
        body["value"].as_str().map(str::to_owned)
    }

    /// Waits until the element `css` selects holds `needle` in its text
    /// (while the page changes, reloads included).
    pub async fn wait_for_text(&self, css: &str, needle: &str, deadline: Duration) -> String {
        wait_until(&format!("{css} to show {needle:?}"), deadline, || async {
            self.try_text(css)
                .await
                .filter(|text| text.contains(needle))
        })
        .await
    }

    /// The value of the cookie `name` of the page's site, if set.
    pub async fn cookie(&self, name: &str) -> Option<String> {
        let response = self
            .http
            .get(format!("{}/cookie/{name}", self.session))
            .send()
            .await
            .unwrap();
        if !response.status().is_success() {
            return None;
        }
        let body: Value = response.json().await.unwrap();
        body["value"]["value"].as_str().map(str::to_owned)
    }

    /// A PNG of the window.
    pub async fn screenshot(&self) -> Vec<u8> {
        let encoded = self.get("/screenshot").await;
        STANDARD.decode(encoded.as_str().unwrap()).unwrap()
    }

    /// Saves a PNG of the window as `guide/images/NAME.png` when
    /// `SWITCHYARD_SCREENSHOTS=1` (so ordinary runs leave the guide's
    /// images alone).
    pub async fn screenshot_for_guide(&self, name: &str) {
        if std::env::var("SWITCHYARD_SCREENSHOTS").as_deref() != Ok("1") {
            return;
        }
        let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../guide/images");
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(format!("{name}.png"));
        std::fs::write(&path, self.screenshot().await)
            .unwrap_or_else(|e| panic!("failed to write {}: {e}", path.display()));
    }

    /// Ends the session and chromedriver.
    pub async fn quit(mut self) {
        let _ = self
            .http
            .delete(&self.session)
            .timeout(COMMAND_DEADLINE)
            .send()
            .await;
        self.kill();
        let _ = self.driver.wait().await;
    }

    fn kill(&mut self) {
        if let Some(pid) = self.driver.id().and_then(|pid| i32::try_from(pid).ok()) {
            // ESRCH: already gone.
            let _ = killpg(Pid::from_raw(pid), Signal::SIGKILL);
        }
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Sends a WebDriver command; answers its `value`, failing the test on an error.
async fn send(request: reqwest::RequestBuilder) -> Value {
    let response = request.timeout(COMMAND_DEADLINE).send().await.unwrap();
    let status = response.status();
    let body: Value = response.json().await.unwrap();
    assert!(status.is_success(), "WebDriver answered {status}: {body}");
    body.get("value").cloned().unwrap_or(Value::Null)
}
