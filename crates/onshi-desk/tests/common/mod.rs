//! Shared by the desk's tests: a real central (onshi-web over SQLite with the fixture
//! registry) on a random port, in-process terminals for a clinic and a pharmacy with their
//! desks, a small WebDriver client for headless Chromium (Debian's `chromium` and
//! `chromium-driver`), and the check of every JSON answer against the desk's OpenAPI document.

#![allow(dead_code)]

use std::path::PathBuf;
use std::sync::{Arc, LazyLock};

use onshi_card::PinHasher;
use onshi_central::fixture::{self, Fixture};
use onshi_central::import::{self, Input};
use onshi_central::outage::{OutageConfig, OutageService};
use onshi_central::{Central, SystemClock};
use onshi_domain::numbers::{MedicalInstitutionCode, MyNumberHasher};
use onshi_store::SqliteStore;
use onshi_terminal::client::InProcessCentral;

pub const CLINIC: &str = "1311234567";
pub const PHARMACY: &str = "1341234567";
/// The day of service the tests use (the fixture's qualifications are set around it).
pub const DAY: &str = "2026-11-25";

pub struct World {
    pub central: String,
    pub clinic: String,
    pub pharmacy: String,
    pub fx: Fixture,
    /// the terminals' API tokens (the claims API's credential for the receipt computer)
    pub clinic_token: String,
    pub pharmacy_token: String,
    pub clinic_dir: PathBuf,
    /// the central's registry (to give persons medical information, R2)
    pub store: Arc<SqliteStore>,
    /// the central's outage mode (the terminals reach it in process; tests take the call
    /// centre's steps here)
    pub outage: OutageService,
    _dir: tempfile::TempDir,
}

/// Starts the central, a clinic terminal and a pharmacy terminal, each with its desk.
pub async fn start_world() -> World {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Arc::new(SqliteStore::open(dir.path().join("c.sqlite")).expect("store"));
    let hasher = MyNumberHasher::new(b"test-key-0123456789").expect("key");
    let pins = PinHasher::new(b"test-pin-key-0123456789").expect("key");
    let cards = Arc::new(
        onshi_card::CardStore::open(dir.path().join("cards.sqlite"), pins.clone()).expect("key"),
    );
    let fx = fixture::build();
    let report = import::import(
        store.as_ref(),
        &hasher,
        &cards,
        Some(Input {
            name: "q.csv".into(),
            reader: fx.qualifications_csv.as_bytes(),
        }),
        Some(Input {
            name: "c.csv".into(),
            reader: fx.cards_csv.as_bytes(),
        }),
        &mut |_| {},
    )
    .expect("import");
    assert!(report.committed, "fixture import: {:?}", report.errors);
    let central = Central::new(store.clone(), store.clone(), Arc::new(SystemClock));
    let outage = OutageService::new(
        store.clone(),
        store.clone(),
        Arc::new(SystemClock),
        OutageConfig::default(),
    );
    let state = onshi_web::AppState::new(central, store.clone(), cards.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(onshi_web::serve(
        listener,
        state.clone(),
        std::future::pending(),
    ));
    let mut urls = Vec::new();
    let mut tokens = Vec::new();
    for code in [CLINIC, PHARMACY] {
        let facility = MedicalInstitutionCode::parse(code).expect("code");
        let tdir = dir.path().join(code);
        let cfg = onshi_terminal::Config::new(facility.clone(), &tdir);
        let client = Arc::new(
            InProcessCentral::new(state.central.clone(), state.cards.clone(), facility)
                .with_outage(outage.clone()),
        );
        let t =
            onshi_terminal::Terminal::open(cfg, client, Arc::new(SystemClock)).expect("terminal");
        let token = onshi_terminal::api::ApiToken::generate().expect("token");
        tokens.push(token.expose().to_string());
        let desk = onshi_desk::Desk::open(t)
            .expect("desk")
            .with_api_token(token);
        add_staff(&desk);
        let l = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let a = l.local_addr().expect("addr");
        tokio::spawn(async move {
            let _ = axum::serve(l, onshi_desk::router(desk)).await;
        });
        urls.push(format!("http://{a}"));
    }
    World {
        central: format!("http://{addr}"),
        clinic: urls[0].clone(),
        pharmacy: urls[1].clone(),
        fx,
        clinic_token: tokens[0].clone(),
        pharmacy_token: tokens[1].clone(),
        clinic_dir: dir.path().join(CLINIC),
        store,
        outage,
        _dir: dir,
    }
}

impl World {
    /// The API token of the terminal whose desk is at `base`.
    pub fn token(&self, base: &str) -> &str {
        if base == self.pharmacy {
            &self.pharmacy_token
        } else {
            &self.clinic_token
        }
    }
}

/// The receipt computer's client of a desk's claims API: every request carries
/// `Authorization: Bearer <token>` (the terminal's API token), and nothing else.
pub fn api_client(token: &str) -> reqwest::Client {
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert(
        "authorization",
        format!("Bearer {token}").parse().expect("header"),
    );
    reqwest::Client::builder()
        .default_headers(headers)
        .build()
        .expect("client")
}

// ------------------------------------------------------------------------------- OpenAPI

/// The desk's OpenAPI document (`docs/api/desk-openapi.json`, generated from its types).
pub static DESK_API: LazyLock<onshi_webdriver::openapi::Document> =
    LazyLock::new(|| onshi_webdriver::openapi::Document::new(onshi_desk::openapi::document()));

/// Reads an answer of one of the desk's JSON routes and checks it against the desk's OpenAPI
/// document (route, status, content type, and a JSON body against its schema with no member
/// undocumented): status and body. Panics with every difference.
pub async fn conform(method: &str, r: reqwest::Response) -> (u16, Vec<u8>) {
    let status = r.status().as_u16();
    let path = r.url().path().to_string();
    let content_type = r
        .headers()
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let body = r.bytes().await.expect("body").to_vec();
    DESK_API.check_raw(method, &path, status, content_type.as_deref(), &body);
    (status, body)
}

/// As [`conform`], the body read as JSON (`Null` when there is none).
pub async fn conform_json(method: &str, r: reqwest::Response) -> (u16, serde_json::Value) {
    let (status, body) = conform(method, r).await;
    (
        status,
        serde_json::from_slice(&body).unwrap_or(serde_json::Value::Null),
    )
}

// ------------------------------------------------------------------------------- WebDriver

pub use onshi_webdriver::Driver;

// ------------------------------------------------------------------------------- HTTP client

/// Percent-encodes a form value.
pub fn enc(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Posts a form (percent-encoded) to `url`: status, final path (after redirects) and body.
pub async fn post_form(
    http: &reqwest::Client,
    url: &str,
    form: &[(&str, &str)],
) -> (u16, String, String) {
    let body = form
        .iter()
        .map(|(k, v)| format!("{}={}", enc(k), enc(v)))
        .collect::<Vec<_>>()
        .join("&");
    let r = http
        .post(url)
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body(body)
        .send()
        .await
        .expect("post");
    let path = r.url().path().to_string();
    (r.status().as_u16(), path, r.text().await.expect("text"))
}

/// The password of the tests' staff accounts.
pub const PASSWORD: &str = "desk-password-1";

/// A staff id and name made of markup, quotes and `&` (for the XSS test; a valid id: no
/// spaces, 30 characters).
pub const HOSTILE: &str = "<script>alert('x')</script>\"&'";

/// The tests' staff accounts: S01 受付 一郎, S02 受付 二郎, and [`HOSTILE`].
pub fn add_staff(desk: &onshi_desk::Desk) {
    desk.staff.set("S01", "受付 一郎", PASSWORD).expect("staff");
    desk.staff.set("S02", "受付 二郎", PASSWORD).expect("staff");
    desk.staff.set(HOSTILE, HOSTILE, PASSWORD).expect("staff");
}

/// A client signed in at a desk as `staff`: it keeps the session cookie and sends the desk's
/// Origin and the session's CSRF token with every request, as the desk's own pages do.
pub async fn signed_in(base: &str, staff: &str) -> reqwest::Client {
    let jar = Arc::new(reqwest::cookie::Jar::default());
    let http = reqwest::Client::builder()
        .cookie_provider(jar.clone())
        .build()
        .expect("client");
    let r = http
        .post(format!("{base}/desk/login"))
        .header("Origin", base)
        .form(&[("staff_id", staff), ("password", PASSWORD)])
        .send()
        .await
        .expect("login");
    let page = r.text().await.expect("page");
    let token = csrf_of(&page).unwrap_or_else(|| panic!("not signed in:\n{page}"));
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert("origin", base.parse().expect("origin"));
    headers.insert("x-csrf-token", token.parse().expect("token"));
    reqwest::Client::builder()
        .cookie_provider(jar)
        .default_headers(headers)
        .build()
        .expect("client")
}

/// The CSRF token a page's forms carry.
pub fn csrf_of(page: &str) -> Option<String> {
    let at = page.find("name=\"csrf\" value=\"")? + "name=\"csrf\" value=\"".len();
    page[at..].split('"').next().map(str::to_string)
}

/// In a browser: the login page, the staff id and password, ログイン.
pub async fn log_in(b: &Driver, base: &str, staff: &str) {
    b.goto(&format!("{base}/desk/login")).await;
    b.type_in("#staff_id", staff).await;
    b.type_in("#password", PASSWORD).await;
    b.click("ログイン").await;
}

/// A clerk's browser without the browser: form posts and page loads over HTTP.
pub struct DeskClient {
    pub base: String,
    pub http: reqwest::Client,
}

impl DeskClient {
    /// Signed in as S01.
    pub async fn new(base: &str) -> Self {
        Self::as_staff(base, "S01").await
    }

    pub async fn as_staff(base: &str, staff: &str) -> Self {
        DeskClient {
            base: base.to_string(),
            http: signed_in(base, staff).await,
        }
    }

    /// Status and body of a page.
    pub async fn get(&self, path: &str) -> (u16, String) {
        let r = self
            .http
            .get(format!("{}{path}", self.base))
            .send()
            .await
            .expect("get");
        (r.status().as_u16(), r.text().await.expect("text"))
    }

    /// Status, final path (after redirects) and body of a form post.
    pub async fn post(&self, path: &str, form: &[(&str, &str)]) -> (u16, String, String) {
        post_form(&self.http, &format!("{}{path}", self.base), form).await
    }
}
