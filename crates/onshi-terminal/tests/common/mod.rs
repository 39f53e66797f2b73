//! Shared by the terminal's integration tests: a real central (the HTTP server of onshi-web
//! over SQLite with the fixture registry) on a random loopback port, and a real terminal
//! process (`onshi-terminal terminal …`) on a temporary exchange folder.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use onshi_card::PinHasher;
use onshi_central::fixture::{self, Fixture};
use onshi_central::import::{self, Input};
use onshi_central::{Central, SystemClock};
use onshi_domain::numbers::{MedicalInstitutionCode, MyNumberHasher};
use onshi_store::{Facility, FacilityStore, SqliteStore};

pub const CLINIC: &str = "1311234567";
pub const TOKEN: &str = "tok-clinic";
pub const DAY: &str = "20261125";

pub struct CentralServer {
    pub base: String,
    pub fx: Fixture,
    pub store: Arc<SqliteStore>,
    pub pins: PinHasher,
    /// the card emulation (its file, with its key file beside it)
    pub cards: Arc<onshi_card::CardStore>,
    pub cards_path: PathBuf,
    /// the folder of the central's files (registry, history, card emulation, keys)
    pub dir: PathBuf,
    _dir: tempfile::TempDir,
}

/// Starts the central on a random port in this process (needs a tokio runtime).
pub async fn start_central() -> CentralServer {
    start_central_with(None).await
}

/// As [`start_central`], over TLS when `tls` is given (`base` is then `https://…`).
pub async fn start_central_with(tls: Option<onshi_tls::ServerTls>) -> CentralServer {
    start_central_full(tls, false).await
}

/// As [`start_central_with`], every facility call needing the facility's TLS client
/// certificate (`tls` should accept client certificates).
pub async fn start_central_with_client_certificates(tls: onshi_tls::ServerTls) -> CentralServer {
    start_central_full(Some(tls), true).await
}

async fn start_central_full(
    tls: Option<onshi_tls::ServerTls>,
    client_certificates: bool,
) -> CentralServer {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(SqliteStore::open(dir.path().join("c.sqlite")).unwrap());
    let hasher = MyNumberHasher::new(b"test-key-0123456789").unwrap();
    let cards_path = dir.path().join("cards.sqlite");
    let cards = Arc::new(onshi_card::CardStore::open_with_key_file(&cards_path).unwrap());
    let pins = cards.secrets().clone();
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
    .unwrap();
    assert!(report.committed, "fixture import: {:?}", report.errors);
    store
        .upsert_facility(
            &Facility {
                code: MedicalInstitutionCode::parse(CLINIC).unwrap(),
                name: "clinic".into(),
            },
            &onshi_web::token_hash(TOKEN),
        )
        .unwrap();
    let central = Central::new(store.clone(), store.clone(), Arc::new(SystemClock));
    let state = onshi_web::AppState::new(central, store.clone(), cards.clone());
    let state = if client_certificates {
        state.with_client_certificates()
    } else {
        state
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let scheme = if tls.is_some() { "https" } else { "http" };
    match tls {
        Some(tls) => {
            tokio::spawn(onshi_web::serve_tls(
                listener,
                state,
                tls,
                std::future::pending(),
            ));
        }
        None => {
            tokio::spawn(onshi_web::serve(listener, state, std::future::pending()));
        }
    }
    CentralServer {
        base: format!("{scheme}://{addr}"),
        fx,
        store,
        pins,
        cards,
        cards_path,
        dir: dir.path().to_path_buf(),
        _dir: dir,
    }
}

/// A terminal process; killed when dropped.
pub struct TerminalProc {
    pub child: Child,
    pub dir: PathBuf,
    pub api: String,
    /// the terminal API's token (from its data folder)
    pub token: String,
    /// a client of the API (trusting the API's CA when it is served over TLS)
    pub http: reqwest::Client,
}

impl TerminalProc {
    /// A request to the terminal's API with its token.
    pub fn request(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        self.http
            .request(method, format!("{}{path}", self.api))
            .bearer_auth(&self.token)
    }

    /// GET `path` of the API (with the token) as JSON.
    pub async fn get_json(&self, path: &str) -> (u16, serde_json::Value) {
        let r = self
            .request(reqwest::Method::GET, path)
            .send()
            .await
            .unwrap();
        (r.status().as_u16(), r.json().await.unwrap())
    }
}

impl Drop for TerminalProc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn exchange(dir: &Path) -> onshi_terminal::Exchange {
    onshi_terminal::Exchange::new(dir)
}

/// Starts `onshi-terminal terminal` against `c` on `dir`, with a certified reader over the
/// card emulation (its device key made here and registered at the central, as at
/// installation), and waits until its API is up.
pub fn start_terminal(c: &CentralServer, dir: &Path, extra: &[&str]) -> TerminalProc {
    start_terminal_at(c, &c.base, dir, extra)
}

/// As [`start_terminal`], pointed at `central` (e.g. a port where nothing listens).
pub fn start_terminal_at(
    c: &CentralServer,
    central: &str,
    dir: &Path,
    extra: &[&str],
) -> TerminalProc {
    start_terminal_logged(c, central, dir, extra, None)
}

/// As [`start_terminal_at`], its log (`RUST_LOG=debug`) written to `log` when given.
pub fn start_terminal_logged(
    c: &CentralServer,
    central: &str,
    dir: &Path,
    extra: &[&str],
    log: Option<&Path>,
) -> TerminalProc {
    start_terminal_full(c, central, dir, extra, log, None)
}

/// As [`start_terminal`], its own API over TLS with `cert`/`key` (PEM files) and the test's
/// client trusting `ca`.
pub fn start_terminal_api_tls(
    c: &CentralServer,
    dir: &Path,
    cert: &Path,
    key: &Path,
    ca: &Path,
    extra: &[&str],
) -> TerminalProc {
    let mut args = vec![
        "--tls-cert",
        cert.to_str().unwrap(),
        "--tls-key",
        key.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    start_terminal_full(c, &c.base, dir, &args, None, Some(ca))
}

fn start_terminal_full(
    c: &CentralServer,
    central: &str,
    dir: &Path,
    extra: &[&str],
    log: Option<&Path>,
    api_ca: Option<&Path>,
) -> TerminalProc {
    std::fs::create_dir_all(dir).unwrap();
    let key_path = dir.join("reader.key.json");
    let key = onshi_card::ReaderKey::load_or_create(&key_path, "reader-test").unwrap();
    onshi_store::TrustStore::register_reader(
        c.store.as_ref(),
        &onshi_store::ReaderRecord {
            id: key.id.clone(),
            facility: CLINIC.into(),
            public_key: key.public_key_hex(),
            revoked: false,
        },
    )
    .unwrap();
    let info = exchange(dir).info_path();
    let _ = std::fs::remove_file(&info);
    // the terminal's own API: TLS when the test gives a certificate, else plain on loopback
    let plain: &[&str] = if extra.contains(&"--tls-cert") {
        &[]
    } else {
        &["--plain-http"]
    };
    let child = Command::new(env!("CARGO_BIN_EXE_onshi-terminal"))
        .args([
            "terminal",
            "--central",
            central,
            "--facility",
            CLINIC,
            "--exchange",
        ])
        .arg(dir)
        .args(["--token", TOKEN])
        .arg("--cards")
        .arg(&c.cards_path)
        .arg("--reader-key")
        .arg(&key_path)
        .args(extra)
        .args(plain)
        .env("RUST_LOG", if log.is_some() { "debug" } else { "warn" })
        .stdout(Stdio::null())
        .stderr(match log {
            Some(p) => Stdio::from(std::fs::File::create(p).unwrap()),
            None => Stdio::inherit(),
        })
        .spawn()
        .expect("spawn onshi-terminal");
    // owned at once, so that a failed start still kills and reaps the process
    let mut http = reqwest::Client::builder().use_rustls_tls();
    if let Some(ca) = api_ca {
        http = http.add_root_certificate(
            reqwest::Certificate::from_pem(&std::fs::read(ca).unwrap()).unwrap(),
        );
    }
    let mut proc = TerminalProc {
        child,
        dir: dir.to_path_buf(),
        api: String::new(),
        token: String::new(),
        http: http.build().unwrap(),
    };
    let start = Instant::now();
    loop {
        if let Ok(raw) = std::fs::read(&info)
            && let Ok(i) = serde_json::from_slice::<onshi_terminal::TerminalInfo>(&raw)
            && i.pid == proc.child.id()
        {
            proc.api = i.api;
            proc.token = onshi_terminal::api::read_token(&exchange(dir).data)
                .unwrap()
                .expose()
                .to_string();
            return proc;
        }
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "terminal did not start"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Writes a request file the way a careful receipt computer does (temp name, then rename).
pub fn put_request(dir: &Path, name: &str, bytes: &[u8]) {
    let req = exchange(dir).req;
    let tmp = req.join(format!(".{name}.part"));
    std::fs::write(&tmp, bytes).unwrap();
    std::fs::rename(&tmp, req.join(name)).unwrap();
}

/// Waits (bounded) for the answer to `request_name`.
pub async fn wait_answer(dir: &Path, request_name: &str, within: Duration) -> Vec<u8> {
    let res = exchange(dir)
        .res
        .join(onshi_formats::terminal_xml::response_file_name(request_name).unwrap());
    let start = Instant::now();
    loop {
        if let Ok(b) = std::fs::read(&res) {
            return b;
        }
        assert!(
            start.elapsed() < within,
            "no answer for {request_name} within {within:?}"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// A single-confirmation request (照会区分 2) in UTF-8 or Shift_JIS.
pub fn single_request(
    insurer: &str,
    symbol: &str,
    number: &str,
    branch: &str,
    birth: &str,
    sjis: bool,
) -> Vec<u8> {
    let text = format!(
        r#"<?xml version="1.0" encoding="{}" standalone="no"?>
<XmlMsg>
  <MessageHeader>
    <QualificationConfirmationDate>{DAY}</QualificationConfirmationDate>
    <MedicalInstitutionCode>{CLINIC}</MedicalInstitutionCode>
    <ArbitraryFileIdentifier>テスト-1</ArbitraryFileIdentifier>
  </MessageHeader>
  <MessageBody>
    <QualificationConfirmSearchInfo>
      <InsurerNumber>{insurer}</InsurerNumber>
      <InsuredCardSymbol>{symbol}</InsuredCardSymbol>
      <InsuredIdentificationNumber>{number}</InsuredIdentificationNumber>
      <InsuredBranchNumber>{branch}</InsuredBranchNumber>
      <Birthdate>{birth}</Birthdate>
      <LimitApplicationCertificateRelatedConsFlg>0</LimitApplicationCertificateRelatedConsFlg>
    </QualificationConfirmSearchInfo>
  </MessageBody>
</XmlMsg>
"#,
        if sjis { "Shift_JIS" } else { "UTF-8" }
    );
    if sjis {
        onshi_formats::terminal_xml::encode_text(
            &text,
            onshi_formats::terminal_xml::Encoding::ShiftJis,
        )
        .unwrap()
    } else {
        text.into_bytes()
    }
}

/// POSTs a reader session to the terminal's API.
pub async fn place(t: &TerminalProc, body: serde_json::Value) -> (u16, serde_json::Value) {
    let r = t
        .request(reqwest::Method::POST, "/v1/reader/place")
        .json(&body)
        .timeout(Duration::from_secs(30))
        .send()
        .await
        .unwrap();
    let s = r.status().as_u16();
    (s, r.json().await.unwrap())
}
