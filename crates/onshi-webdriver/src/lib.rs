//! Test support, not shipped, shared by the HTTP and browser tests of the central, the desk
//! and the payer:
//!
//! - a small WebDriver client for headless Chromium (Debian's `chromium` and
//!   `chromium-driver`) — real clicks on the real screens, and full-page screenshots when
//!   `ONSHI_SCREENSHOTS` names a folder; fails loudly when the browser or the driver is
//!   missing ([`Driver`]);
//! - [`openapi`]: every answer a test receives checked against the server's OpenAPI document;
//! - [`schemathesis`]: the schemathesis run against a served document.

pub mod openapi;
pub mod schemathesis;

use std::net::TcpListener as StdListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

pub struct Driver {
    child: Child,
    base: String,
    session: String,
    http: reqwest::Client,
    _profile: tempfile::TempDir,
    /// where screenshots go (env ONSHI_SCREENSHOTS), if anywhere
    pub shots: Option<PathBuf>,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn find_on_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}

fn free_port() -> u16 {
    StdListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

impl Driver {
    /// Starts chromedriver and a headless Chromium session. Fails loudly when either is missing.
    pub async fn start() -> Driver {
        let driver = find_on_path("chromedriver").unwrap_or_else(|| {
            panic!(
                "browser tests need Debian's chromium and chromium-driver (chromedriver not found on PATH): \
                 apt-get install -y chromium chromium-driver — .ci/run installs them"
            )
        });
        let browser = ["chromium", "chromium-browser"]
            .iter()
            .find_map(|n| find_on_path(n))
            .unwrap_or_else(|| {
                panic!(
                    "browser tests need Debian's chromium (not found on PATH): apt-get install -y chromium chromium-driver"
                )
            });
        let port = free_port();
        let child = Command::new(driver)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn chromedriver");
        let base = format!("http://127.0.0.1:{port}");
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(60))
            .build()
            .expect("client");
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Ok(r) = http.get(format!("{base}/status")).send().await
                && r.status().is_success()
            {
                break;
            }
            assert!(Instant::now() < deadline, "chromedriver did not start");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let profile = tempfile::tempdir().expect("profile");
        let args = vec![
            "--headless".to_string(),
            "--no-sandbox".into(),
            "--disable-gpu".into(),
            "--disable-quic".into(),
            "--no-first-run".into(),
            "--disable-background-networking".into(),
            "--disable-component-update".into(),
            "--disable-sync".into(),
            "--disable-dev-shm-usage".into(),
            "--lang=ja-JP".into(),
            "--window-size=1024,1366".into(),
            format!("--user-data-dir={}", profile.path().display()),
        ];
        let caps = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {"binary": browser.display().to_string(), "args": args}
        }}});
        let r: Value = http
            .post(format!("{base}/session"))
            .json(&caps)
            .send()
            .await
            .expect("new session")
            .json()
            .await
            .expect("session json");
        let session = r["value"]["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("chromium session did not start: {r}"))
            .to_string();
        Driver {
            child,
            base,
            session,
            http,
            _profile: profile,
            shots: std::env::var_os("ONSHI_SCREENSHOTS").map(PathBuf::from),
        }
    }

    async fn call(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        let url = format!("{}/session/{}{}", self.base, self.session, path);
        let mut req = self.http.request(method, &url);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let r: Value = req
            .send()
            .await
            .unwrap_or_else(|e| panic!("webdriver {path}: {e}"))
            .json()
            .await
            .unwrap_or_else(|e| panic!("webdriver {path}: {e}"));
        if let Some(err) = r["value"].get("error") {
            panic!("webdriver {path}: {err} {}", r["value"]["message"]);
        }
        r["value"].clone()
    }

    pub async fn goto(&self, url: &str) {
        self.call(reqwest::Method::POST, "/url", Some(json!({"url": url})))
            .await;
    }

    pub async fn url(&self) -> String {
        self.call(reqwest::Method::GET, "/url", None)
            .await
            .as_str()
            .unwrap_or_default()
            .to_string()
    }

    async fn find_all(&self, using: &str, value: &str) -> Vec<String> {
        let v = self
            .call(
                reqwest::Method::POST,
                "/elements",
                Some(json!({"using": using, "value": value})),
            )
            .await;
        v.as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|e| e[ELEMENT].as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default()
    }

    async fn one(&self, using: &str, value: &str) -> String {
        let all = self.find_all(using, value).await;
        match all.into_iter().next() {
            Some(e) => e,
            None => panic!(
                "not on the screen: {value}\n--- page text ---\n{}",
                self.text("body").await
            ),
        }
    }

    async fn click_el(&self, id: &str) {
        self.call(
            reqwest::Method::POST,
            &format!("/element/{id}/click"),
            Some(json!({})),
        )
        .await;
    }

    /// Clicks the first button or link whose text contains `label`, preferring the
    /// highlighted "次にすること" panel.
    pub async fn click(&self, label: &str) {
        let lit = xpath_literal(label);
        let xp = format!(
            "(//*[@id='next']//*[self::button or self::a][contains(normalize-space(.), {lit})] | //*[self::button or self::a][contains(normalize-space(.), {lit})])[1]"
        );
        let id = self.one("xpath", &xp).await;
        self.click_and_wait(&id).await;
    }

    /// Clicks an element that loads a new page, and waits until the new page has loaded.
    async fn click_and_wait(&self, id: &str) {
        self.script("window.__onshi_old_page = true;", json!([]))
            .await;
        self.click_el(id).await;
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            let url = format!("{}/session/{}/execute/sync", self.base, self.session);
            let r = self
                .http
                .post(&url)
                .json(&json!({"script": "return document.readyState === 'complete' && !window.__onshi_old_page;", "args": []}))
                .send()
                .await;
            if let Ok(r) = r
                && let Ok(v) = r.json::<Value>().await
                && v["value"] == Value::Bool(true)
            {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "the page did not load after a click"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Clicks the button `label` in the table row that mentions `row`.
    pub async fn click_in_row(&self, row: &str, label: &str) {
        let xp = format!(
            "//tr[contains(normalize-space(.), {})]//button[contains(normalize-space(.), {})]",
            xpath_literal(row),
            xpath_literal(label)
        );
        let id = self.one("xpath", &xp).await;
        self.click_and_wait(&id).await;
    }

    /// Clicks a button inside the element with the given css selector.
    pub async fn click_in(&self, scope_css: &str, label: &str) {
        let lit = xpath_literal(label);
        let scope = self.one("css selector", scope_css).await;
        let v = self
            .call(
                reqwest::Method::POST,
                &format!("/element/{scope}/element"),
                Some(json!({"using": "xpath", "value": format!(".//*[self::button or self::a][contains(normalize-space(.), {lit})]")})),
            )
            .await;
        let id = v[ELEMENT].as_str().expect("button in scope").to_string();
        self.click_and_wait(&id).await;
    }

    /// Clicks the label (radio / checkbox) whose text contains `label`, in the next-step
    /// panel when there is one.
    pub async fn choose(&self, label: &str) {
        let lit = xpath_literal(label);
        let xp = format!(
            "(//*[@id='next']//label[contains(normalize-space(.), {lit})] | //label[contains(normalize-space(.), {lit})])[1]"
        );
        let id = self.one("xpath", &xp).await;
        self.click_el(&id).await;
    }

    /// Types into the first field matching the css selector (next-step panel first).
    pub async fn type_in(&self, css: &str, text: &str) {
        let mut all = self.find_all("css selector", &format!("#next {css}")).await;
        if all.is_empty() {
            all = self.find_all("css selector", css).await;
        }
        let Some(id) = all.into_iter().next() else {
            panic!("no field {css} on the screen:\n{}", self.text("body").await)
        };
        self.call(
            reqwest::Method::POST,
            &format!("/element/{id}/clear"),
            Some(json!({})),
        )
        .await;
        self.call(
            reqwest::Method::POST,
            &format!("/element/{id}/value"),
            Some(json!({"text": text})),
        )
        .await;
    }

    pub async fn select(&self, css: &str, value: &str) {
        self.script(
            "const e=document.querySelector(arguments[0]); e.value=arguments[1]; e.dispatchEvent(new Event('change'));",
            json!([css, value]),
        )
        .await;
    }

    pub async fn text(&self, css: &str) -> String {
        let all = self.find_all("css selector", css).await;
        let Some(id) = all.into_iter().next() else {
            return String::new();
        };
        self.call(reqwest::Method::GET, &format!("/element/{id}/text"), None)
            .await
            .as_str()
            .unwrap_or_default()
            .to_string()
    }

    pub async fn attr(&self, css: &str, name: &str) -> String {
        let id = self.one("css selector", css).await;
        self.call(
            reqwest::Method::GET,
            &format!("/element/{id}/attribute/{name}"),
            None,
        )
        .await
        .as_str()
        .unwrap_or_default()
        .to_string()
    }

    pub async fn script(&self, script: &str, args: Value) -> Value {
        self.call(
            reqwest::Method::POST,
            "/execute/sync",
            Some(json!({"script": script, "args": args})),
        )
        .await
    }

    /// Saves a full-page PNG under the screenshot folder, when one is set.
    pub async fn shot(&self, name: &str) {
        let Some(dir) = &self.shots else { return };
        let metrics = self
            .call(
                reqwest::Method::POST,
                "/goog/cdp/execute",
                Some(json!({"cmd": "Page.getLayoutMetrics", "params": {}})),
            )
            .await;
        let w = metrics["cssContentSize"]["width"]
            .as_f64()
            .unwrap_or(1024.0);
        let h = metrics["cssContentSize"]["height"]
            .as_f64()
            .unwrap_or(1366.0);
        let v = self
            .call(
                reqwest::Method::POST,
                "/goog/cdp/execute",
                Some(json!({"cmd": "Page.captureScreenshot", "params": {
                    "format": "png", "captureBeyondViewport": true,
                    "clip": {"x": 0, "y": 0, "width": w, "height": h.min(4000.0), "scale": 1}
                }})),
            )
            .await;
        let data = v["data"].as_str().expect("screenshot data");
        let bytes = base64_decode(data).expect("screenshot base64");
        std::fs::create_dir_all(dir).expect("screenshot dir");
        std::fs::write(dir.join(format!("{name}.png")), bytes).expect("write screenshot");
    }

    pub async fn quit(&self) {
        let _ = self
            .http
            .delete(format!("{}/session/{}", self.base, self.session))
            .send()
            .await;
    }
}

fn xpath_literal(s: &str) -> String {
    if !s.contains('\'') {
        format!("'{s}'")
    } else {
        format!("\"{s}\"")
    }
}

fn base64_decode(s: &str) -> Option<Vec<u8>> {
    let val = |c: u8| -> Option<u32> {
        Some(match c {
            b'A'..=b'Z' => (c - b'A') as u32,
            b'a'..=b'z' => (c - b'a' + 26) as u32,
            b'0'..=b'9' => (c - b'0' + 52) as u32,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        })
    };
    let clean: Vec<u8> = s
        .bytes()
        .filter(|c| !c.is_ascii_whitespace() && *c != b'=')
        .collect();
    let mut out = Vec::with_capacity(clean.len() * 3 / 4);
    for chunk in clean.chunks(4) {
        let mut acc = 0u32;
        for (i, c) in chunk.iter().enumerate() {
            acc |= val(*c)? << (18 - 6 * i);
        }
        let n = chunk.len();
        out.push((acc >> 16) as u8);
        if n > 2 {
            out.push((acc >> 8) as u8);
        }
        if n > 3 {
            out.push(acc as u8);
        }
    }
    Some(out)
}

/// The repository's docs/screens folder (for ONSHI_SCREENSHOTS=docs/screens runs).
pub fn repo_path(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .join(rel)
}
