//! What the tests of the `onshi` binary share: running it, the fixture registry it makes, a
//! central or a demo started on free loopback ports with the URLs their banners name, and a
//! card confirmation through the facility's certified reader, and the form encoding and CSRF
//! token the screens' forms need.
//!
//! Each test binary takes the part it needs (`mod support;`), hence no dead-code lint here.
#![allow(dead_code)]

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Arc, mpsc};
use std::time::{Duration, Instant};

use onshi_central::fixture;

pub const BIN: &str = env!("CARGO_BIN_EXE_onshi");

/// The fixture's clinic, the facility [`make_registry`] adds.
pub const FACILITY: &str = "1311234567";

/// `onshi` with these arguments, run to its end.
pub fn run(args: &[&str]) -> Output {
    Command::new(BIN).args(args).output().expect("onshi runs")
}

/// `onshi` with these arguments, which must succeed: its standard output.
pub fn onshi(args: &[&str]) -> String {
    let out = run(args);
    assert!(
        out.status.success(),
        "onshi {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf-8")
}

/// A process the test started, killed and waited for when dropped (also when the test fails).
pub struct Running(pub Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Writes the fixture's qualifications and cards files into `dir`.
pub fn write_fixture(dir: &Path) -> (PathBuf, PathBuf) {
    let fx = fixture::build();
    let q = dir.join("qualifications.csv");
    let c = dir.join("cards.csv");
    std::fs::write(&q, fx.qualifications_csv).unwrap();
    std::fs::write(&c, fx.cards_csv).unwrap();
    (q, c)
}

/// The fixture registry as the binary makes it: both files (written into `dir`) imported into
/// the database `db` (with its key file `keys` on PostgreSQL), the [`FACILITY`] added and its
/// certified reader R1 (its key in `dir`) registered. Returns the facility's token and the
/// reader over the card emulation the import made at `cards`.
pub fn make_registry(
    dir: &Path,
    db: &str,
    keys: Option<&str>,
    cards: &Path,
) -> (String, onshi_card::CertifiedReader) {
    let (q, c) = write_fixture(dir);
    make_registry_from(dir, db, keys, cards, &q, &c)
}

/// [`make_registry`] from the import files `q` and `c` instead of the fixture's.
pub fn make_registry_from(
    dir: &Path,
    db: &str,
    keys: Option<&str>,
    cards: &Path,
    q: &Path,
    c: &Path,
) -> (String, onshi_card::CertifiedReader) {
    let on_db = |command: &[&str], rest: &[&str]| onshi(&[command, &["--db", db], rest].concat());
    let mut import = vec![
        "--qualifications",
        q.to_str().unwrap(),
        "--cards",
        c.to_str().unwrap(),
    ];
    if let Some(keys) = keys {
        import.extend(["--keys", keys]);
    }
    on_db(&["registry", "import"], &import);
    let token = on_db(
        &["facility", "add"],
        &["--code", FACILITY, "--name", "テスト医院"],
    )
    .trim()
    .to_string();
    let key = onshi_card::ReaderKey::load_or_create(&dir.join("reader.key.json"), "R1").unwrap();
    on_db(
        &["reader", "register"],
        &[
            "--facility",
            FACILITY,
            "--id",
            "R1",
            "--public-key",
            &key.public_key_hex(),
        ],
    );
    let cards = onshi_card::CardStore::open_with_key_file(cards).unwrap();
    (
        token,
        onshi_card::CertifiedReader::new(key, Arc::new(cards)),
    )
}

/// One card confirmation at the central `base` as the [`FACILITY`] (its `token`): a nonce, the
/// reader's assertion for the card `serial` (face matched, on 2026-11-25) and the request.
pub async fn card_confirmation(
    http: &reqwest::Client,
    base: &str,
    token: &str,
    reader: &onshi_card::CertifiedReader,
    serial: &str,
) -> reqwest::Result<reqwest::Response> {
    let face = onshi_card::IdentityAttempt::Face { matched: true };
    card_confirmation_by(http, base, token, reader, serial, &face).await
}

/// [`card_confirmation`] with the holder identified by `identity` (a PIN: the card signs).
pub async fn card_confirmation_by(
    http: &reqwest::Client,
    base: &str,
    token: &str,
    reader: &onshi_card::CertifiedReader,
    serial: &str,
    identity: &onshi_card::IdentityAttempt,
) -> reqwest::Result<reqwest::Response> {
    let g: serde_json::Value = http
        .post(format!("{base}/v1/confirmations/card/nonce"))
        .bearer_auth(token)
        .send()
        .await?
        .json()
        .await?;
    let a = reader
        .assert(
            FACILITY,
            g["nonce"].as_str().unwrap_or_default(),
            serial,
            chrono::NaiveDate::from_ymd_opt(2026, 11, 25).unwrap(),
            false,
            identity,
        )
        .expect("the reader signs");
    http.post(format!("{base}/v1/confirmations/card"))
        .bearer_auth(token)
        .json(&a)
        .send()
        .await
}

/// How many times each of `ids` is in the confirmation history of the SQLite registry `db`,
/// and how many confirmations the history holds.
pub fn history_counts(db: &Path, ids: &[i64]) -> (HashMap<i64, i64>, i64) {
    let conn = rusqlite::Connection::open(onshi_store::sqlite::history_path(db)).unwrap();
    let mut found = HashMap::new();
    for id in ids {
        let n: i64 = conn
            .query_row(
                "SELECT count(*) FROM confirmation WHERE id = ?1",
                [id],
                |r| r.get(0),
            )
            .unwrap();
        found.insert(*id, n);
    }
    let total = conn
        .query_row("SELECT count(*) FROM confirmation", [], |r| r.get(0))
        .unwrap();
    (found, total)
}

/// Starts `cmd` with its standard output piped, and gives its lines as they come. They are read
/// to the end on a thread of their own, also once nobody receives them: a closed pipe would
/// make the process's next line fail.
pub fn spawn_reading(cmd: &mut Command) -> (Running, mpsc::Receiver<String>) {
    let mut child = cmd
        .stdout(Stdio::piped())
        .spawn()
        .expect("the process starts");
    let stdout = child.stdout.take().expect("stdout");
    let (tx, rx) = mpsc::channel::<String>();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    (Running(child), rx)
}

/// `onshi central` with these arguments, listening on a free loopback port, its standard error
/// dropped (the caller may set it).
pub fn central(args: &[&str]) -> Command {
    let mut cmd = Command::new(BIN);
    cmd.arg("central")
        .args(args)
        .args(["--listen", "127.0.0.1:0"])
        .stderr(Stdio::null());
    cmd
}

/// Starts a server (`onshi central …`) and returns it with the URL the first line of its
/// banner names.
pub fn start_server(cmd: &mut Command) -> (Running, String) {
    let (server, lines) = spawn_reading(cmd);
    let line = lines.recv().unwrap_or_default();
    let url = line
        .split_whitespace()
        .find(|w| w.starts_with("http://") || w.starts_with("https://"))
        .unwrap_or_else(|| panic!("no URL in {line:?}"))
        .to_string();
    (server, url)
}

/// The first `https://…` or `http://…` in a line, up to the next blank.
pub fn url_in(line: &str) -> Option<String> {
    let start = line.find("https://").or_else(|| line.find("http://"))?;
    Some(
        line[start..]
            .split_whitespace()
            .next()
            .unwrap_or_default()
            .trim_end_matches([')', ','])
            .to_string(),
    )
}

/// What the banner of `onshi demo` named, as far as it was read.
#[derive(Debug, Default)]
pub struct Banner {
    /// the lines read
    pub seen: String,
    /// the central's API
    pub api: Option<String>,
    /// the first terminal's (the clinic's) reception desk
    pub desk: Option<String>,
    /// the staff id and password the desk's line gives
    pub desk_login: Option<(String, String)>,
    pub web_api: Option<String>,
    /// the clinic's facility token
    pub token: Option<String>,
    /// the payer's screens (their login page)
    pub payer: Option<String>,
    /// the token of a staff member of payer 1 (支払基金)
    pub payer_staff: Option<String>,
    /// the clinic's token at payer 1
    pub payer_clinic: Option<String>,
    /// whether the clinic's desk is named as its settlement hook
    pub hook_registered: bool,
}

impl Banner {
    fn read(&mut self, line: &str) {
        let t = line.trim_start();
        if t.starts_with("API:") {
            self.api = url_in(t);
        } else if t.starts_with("payer screens:") {
            self.payer = url_in(t);
        } else if let Some(rest) = t.strip_prefix("payer 1 ") {
            let tok = rest.split("token ").nth(1).map(|s| s.trim().to_string());
            if rest.starts_with("staff") {
                self.payer_staff = self.payer_staff.take().or(tok);
            } else if rest.starts_with("facility") && rest.contains(FACILITY) {
                self.payer_clinic = self.payer_clinic.take().or(tok);
            }
        } else if t.contains("Web API:") {
            self.web_api = url_in(t);
        } else if self.desk.is_none() && t.contains("/desk/") && !t.contains("claims") {
            // the clinic's desk comes first, with its staff login
            self.desk = url_in(t);
            if t.contains("受付画面") {
                let words: Vec<&str> = t.split_whitespace().collect();
                let after = |w: &str| {
                    words
                        .iter()
                        .position(|x| *x == w)
                        .and_then(|i| words.get(i + 1))
                        .map(|s| s.trim_end_matches(')').to_string())
                };
                self.desk_login = after("staff").zip(after("password"));
            }
        } else if t.starts_with(FACILITY) && t.contains("/desk/api/claims/settlement") {
            self.hook_registered = true;
        } else if self.token.is_none()
            && t.starts_with(FACILITY)
            && let Some(tok) = t.split("token ").nth(1)
        {
            self.token = Some(tok.trim().to_string());
        }
    }
}

/// Starts `onshi demo` with 300 persons, every listener on a free loopback port, its data
/// folder `data/demo` and these extra arguments, and reads its banner until `ready` holds of
/// it or `timeout` has passed.
pub fn start_demo(
    data: &Path,
    extra: &[&str],
    timeout: Duration,
    ready: impl Fn(&Banner) -> bool,
) -> (Running, Banner) {
    let (demo, lines) = spawn_reading(
        Command::new(BIN)
            .args(["demo", "--persons", "300", "--listen", "127.0.0.1:0"])
            .args(extra)
            .args(["--web-api-listen", "127.0.0.1:0"])
            .args(["--payer-listen", "127.0.0.1:0", "--data"])
            .arg(data.join("demo"))
            .stderr(Stdio::null()),
    );
    let deadline = Instant::now() + timeout;
    let mut banner = Banner::default();
    let mut seen = Vec::new();
    while Instant::now() < deadline && !ready(&banner) {
        let Ok(line) = lines.recv_timeout(Duration::from_millis(500)) else {
            continue;
        };
        banner.read(&line);
        seen.push(line);
    }
    banner.seen = seen.join("\n");
    (demo, banner)
}

// ------------------------------------------------------------------------------- forms

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

/// An `application/x-www-form-urlencoded` body.
pub fn form(fields: &[(&str, &str)]) -> String {
    fields
        .iter()
        .map(|(k, v)| format!("{}={}", enc(k), enc(v)))
        .collect::<Vec<_>>()
        .join("&")
}

/// The value of the first `name="csrf"` field of a page.
pub fn csrf_of(page: &str) -> String {
    let marker = "name=\"csrf\" value=\"";
    let at = page
        .find(marker)
        .unwrap_or_else(|| panic!("a form token:\n{page}"))
        + marker.len();
    page[at..].split('"').next().unwrap_or_default().to_string()
}
