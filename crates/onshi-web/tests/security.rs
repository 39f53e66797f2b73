//! The security suite over the real central: a real HTTP server on a random port, a real
//! SQLite file (and, for the PIN's chain, a PostgreSQL database too), the card emulation in
//! its own file. Each test is an attack tried as an
//! outsider (or a compromised device) would, and must fail — and be recorded.

use std::sync::Arc;
use std::time::Duration;

use chrono::NaiveDate;
use onshi_card::{CardAssertion, CardStore, CertifiedReader, IdentityAttempt, Pin, ReaderKey};
use onshi_central::fixture::{self, Fixture};
use onshi_central::import::{self, Input};
use onshi_central::{Central, SystemClock};
use onshi_domain::card::IdentityOutcome;
use onshi_domain::codes::IdentityMethod;
use onshi_domain::numbers::{MedicalInstitutionCode, MyNumberHasher};
use onshi_store::{
    Facility, FacilityStore, HistoryStore, ImportStore, MedicalInfoStore, PostgresStore,
    RegistryRead, SqliteStore, TrustStore,
};
use serde_json::{Value, json};

#[path = "support/conform.rs"]
mod conform;

/// What a central of this suite is served over: either backend.
trait Store:
    RegistryRead + TrustStore + MedicalInfoStore + FacilityStore + HistoryStore + ImportStore + 'static
{
}
impl<T> Store for T where
    T: RegistryRead
        + TrustStore
        + MedicalInfoStore
        + FacilityStore
        + HistoryStore
        + ImportStore
        + 'static
{
}

struct App<S: Store = SqliteStore> {
    base: String,
    store: Arc<S>,
    http: reqwest::Client,
    fx: Fixture,
    clinic_reader: CertifiedReader,
    pharmacy_reader: CertifiedReader,
    cards: Arc<CardStore>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    _dir: tempfile::TempDir,
}

/// Serves a central over `store` (a fresh process: its own nonce table); the server stops
/// when the returned sender is dropped or fires.
async fn serve_central<S: Store>(
    store: &Arc<S>,
    cards: &Arc<CardStore>,
    nonce_ttl: Duration,
) -> (String, Central, tokio::sync::oneshot::Sender<()>) {
    let central =
        Central::new(store.clone(), store.clone(), Arc::new(SystemClock)).with_nonce_ttl(nonce_ttl);
    let state = onshi_web::AppState::new(central.clone(), store.clone(), cards.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(onshi_web::serve(listener, state, async {
        let _ = rx.await;
    }));
    (format!("http://{addr}"), central, tx)
}

const CLINIC: &str = "1311234567";
const PHARMACY: &str = "1341234567";
const DAY: &str = "2026-11-25";

fn facility(code: &str) -> Facility {
    Facility {
        code: MedicalInstitutionCode::parse(code).unwrap(),
        name: code.into(),
    }
}

fn day() -> NaiveDate {
    NaiveDate::parse_from_str(DAY, "%Y-%m-%d").unwrap()
}

async fn spawn_with(nonce_ttl: Duration) -> App {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(SqliteStore::open(dir.path().join("c.sqlite")).unwrap());
    spawn_over(store, dir, nonce_ttl).await
}

/// The suite's central over a fresh PostgreSQL database (dropped with the returned value).
async fn spawn_on_postgres() -> (App<PostgresStore>, onshi_store::postgres::TestDatabase) {
    let db = onshi_store::postgres::TestDatabase::create().unwrap();
    let url = db.url().to_string();
    let store = tokio::task::spawn_blocking(move || PostgresStore::open(&url).unwrap())
        .await
        .unwrap();
    let app = spawn_over(
        Arc::new(store),
        tempfile::tempdir().unwrap(),
        Duration::from_secs(120),
    )
    .await;
    (app, db)
}

async fn spawn_over<S: Store>(
    store: Arc<S>,
    dir: tempfile::TempDir,
    nonce_ttl: Duration,
) -> App<S> {
    let cards = Arc::new(CardStore::open_with_key_file(dir.path().join("cards.sqlite")).unwrap());
    let fx = fixture::build();
    let report = import::import(
        store.as_ref(),
        &MyNumberHasher::new(b"test-key-0123456789").unwrap(),
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
    assert!(report.committed, "{:?}", report.errors);
    store
        .upsert_facility(&facility(CLINIC), &onshi_web::token_hash("tok-old"))
        .unwrap();
    store
        .upsert_facility(&facility(PHARMACY), &onshi_web::token_hash("tok-pharmacy"))
        .unwrap();
    let (base, central, stop) = serve_central(&store, &cards, nonce_ttl).await;
    let reader = |code: &str| {
        let key = ReaderKey::generate(&format!("reader-{code}")).unwrap();
        central
            .register_reader(&facility(code).code, &key.id, &key.public_key_hex())
            .unwrap();
        CertifiedReader::new(key, cards.clone())
    };
    let clinic_reader = reader(CLINIC);
    let pharmacy_reader = reader(PHARMACY);
    App {
        base,
        store,
        http: reqwest::Client::new(),
        fx,
        clinic_reader,
        pharmacy_reader,
        cards,
        stop: Some(stop),
        _dir: dir,
    }
}

async fn spawn() -> App {
    spawn_with(Duration::from_secs(120)).await
}

impl<S: Store> App<S> {
    /// Stops the central and starts a new one over the same files (a restart).
    async fn restart(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        let (base, _, stop) =
            serve_central(&self.store, &self.cards, Duration::from_secs(120)).await;
        self.base = base;
        self.stop = Some(stop);
        self.http = reqwest::Client::new();
    }

    async fn whoami(&self, token: &str) -> u16 {
        self.http
            .get(format!("{}/v1/facility", self.base))
            .bearer_auth(token)
            .send()
            .await
            .unwrap()
            .status()
            .as_u16()
    }

    async fn post(&self, token: &str, path: &str, body: &impl serde::Serialize) -> (u16, Value) {
        let r = self
            .http
            .post(format!("{}{path}", self.base))
            .bearer_auth(token)
            .json(body)
            .send()
            .await
            .unwrap();
        let s = r.status().as_u16();
        let v = r.json().await.unwrap_or(Value::Null);
        conform::check("POST", path, s, &v);
        (s, v)
    }

    async fn nonce(&self, token: &str) -> String {
        let (s, v) = self
            .post(token, "/v1/confirmations/card/nonce", &json!({}))
            .await;
        assert_eq!(s, 200, "{v}");
        v["nonce"].as_str().unwrap().to_string()
    }

    fn serial(&self, key: &str) -> &'static str {
        self.fx.person(key).card_serial.unwrap()
    }

    /// The clinic's reader reads the valid card by face over a fresh nonce.
    async fn honest(&self, attempt: &IdentityAttempt) -> CardAssertion {
        let nonce = self.nonce("tok-old").await;
        self.clinic_reader
            .assert(CLINIC, &nonce, self.serial("valid"), day(), false, attempt)
            .unwrap()
    }

    async fn confirm(&self, token: &str, a: &CardAssertion) -> Value {
        let (s, v) = self.post(token, "/v1/confirmations/card", a).await;
        assert_eq!(s, 200, "{v}");
        v
    }

    fn refusal_reasons(&self) -> Vec<String> {
        let mut v: Vec<String> = self
            .store
            .refusals(100)
            .unwrap()
            .into_iter()
            .map(|r| r.reason)
            .collect();
        v.reverse();
        v
    }
}

/// A test on SQLite (`$sqlite`) and the same on PostgreSQL (`$postgres`), both running `$body`
/// against the suite's central. On PostgreSQL the card is read together with the reader
/// (`Central::assertion_verdict`): what it read must not reach the answer of a refused
/// assertion.
macro_rules! on_both_backends {
    ($sqlite:ident, $postgres:ident, $body:ident) => {
        #[tokio::test]
        async fn $sqlite() {
            $body(&spawn().await).await;
        }

        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn $postgres() {
            let (app, _db) = spawn_on_postgres().await;
            $body(&app).await;
        }
    };
}

fn refused_as(v: &Value, class: &str) {
    assert_eq!(v["segment_of_result"], "9", "{v}");
    assert_eq!(v["error"]["class"], class, "{v}");
    assert!(
        v["result_list"].as_array().is_none_or(|l| l.is_empty()),
        "{v}"
    );
}

const FACE: IdentityAttempt = IdentityAttempt::Face { matched: true };

#[tokio::test]
async fn r1_an_honest_signed_assertion_confirms_and_a_bare_identity_claim_is_not_even_read() {
    let app = spawn().await;
    let v = app.confirm("tok-old", &app.honest(&FACE).await).await;
    assert_eq!(v["segment_of_result"], "1", "{v}");
    assert_eq!(v["identity_method"], "face");
    // the attack of issue 10: any token plus a card serial and a claimed identity
    let (s, _) = app
        .post(
            "tok-old",
            "/v1/confirmations/card",
            &json!({"confirmation_date": DAY, "card_serial": app.serial("valid"),
                    "identity": {"result": "verified", "method": "face", "staff_id": null}}),
        )
        .await;
    assert!(s == 400 || s == 422, "{s}");
}

on_both_backends!(
    unsigned_forged_and_tampered_assertions_are_refused_and_recorded,
    unsigned_forged_and_tampered_assertions_are_refused_and_recorded_on_postgresql,
    unsigned_forged_and_tampered_are_refused
);

async fn unsigned_forged_and_tampered_are_refused<S: Store>(app: &App<S>) {
    let mut unsigned = app.honest(&FACE).await;
    unsigned.reader_signature = None;
    refused_as(
        &app.confirm("tok-old", &unsigned).await,
        "assertion_unsigned",
    );
    // signed by a key the central does not know, under the clinic reader's id
    let mut forged = app.honest(&FACE).await;
    ReaderKey::generate("reader-1311234567")
        .unwrap()
        .sign_assertion(CLINIC, &mut forged);
    refused_as(&app.confirm("tok-old", &forged).await, "assertion_forged");
    // an honest face refusal turned into a success on the way
    let mut tampered = app.honest(&IdentityAttempt::Face { matched: false }).await;
    tampered.identity = IdentityOutcome::Verified {
        method: IdentityMethod::Face,
        staff_id: None,
    };
    refused_as(&app.confirm("tok-old", &tampered).await, "assertion_forged");
    // another card put in an honest assertion
    let mut swapped = app.honest(&FACE).await;
    swapped.card_serial = app.serial("lost").into();
    refused_as(&app.confirm("tok-old", &swapped).await, "assertion_forged");
    assert_eq!(
        app.refusal_reasons(),
        [
            "assertion_unsigned",
            "assertion_forged",
            "assertion_forged",
            "assertion_forged"
        ]
    );
}

on_both_backends!(
    a_replayed_assertion_is_refused,
    a_replayed_assertion_is_refused_on_postgresql,
    replays_are_refused
);

async fn replays_are_refused<S: Store>(app: &App<S>) {
    let a = app.honest(&FACE).await;
    assert_eq!(app.confirm("tok-old", &a).await["segment_of_result"], "1");
    refused_as(&app.confirm("tok-old", &a).await, "assertion_replayed");
    // and a nonce the central never issued
    let mut made_up = app.honest(&FACE).await;
    made_up.nonce = "00".repeat(32);
    app.clinic_reader_sign(&mut made_up);
    refused_as(
        &app.confirm("tok-old", &made_up).await,
        "assertion_replayed",
    );
    assert_eq!(
        app.refusal_reasons(),
        ["assertion_replayed", "assertion_replayed"]
    );
}

/// Nonces live in the central's memory only: a restart forgets every nonce issued before
/// it, so an assertion over one is refused by the restarted central (single use holds across
/// restarts; the reader asks again).
#[tokio::test]
async fn a_nonce_issued_before_a_restart_is_refused_after_it() {
    let mut app = spawn().await;
    let before = app.honest(&FACE).await;
    let old_base = app.base.clone();
    app.restart().await;
    assert_ne!(app.base, old_base);
    refused_as(&app.confirm("tok-old", &before).await, "assertion_replayed");
    let after = app.honest(&FACE).await;
    assert_eq!(
        app.confirm("tok-old", &after).await["segment_of_result"],
        "1"
    );
    refused_as(&app.confirm("tok-old", &after).await, "assertion_replayed");
    assert_eq!(
        app.refusal_reasons(),
        ["assertion_replayed", "assertion_replayed"]
    );
}

impl<S: Store> App<S> {
    /// What a compromised clinic reader could do: sign anything with the real key.
    fn clinic_reader_sign(&self, a: &mut CardAssertion) {
        self.clinic_reader.sign_assertion(CLINIC, a);
    }
}

#[tokio::test]
async fn an_expired_nonce_is_refused() {
    let app = spawn_with(Duration::from_millis(200)).await;
    let a = app.honest(&FACE).await;
    tokio::time::sleep(Duration::from_millis(400)).await;
    refused_as(&app.confirm("tok-old", &a).await, "assertion_expired");
    assert_eq!(app.refusal_reasons(), ["assertion_expired"]);
}

#[tokio::test]
async fn other_facility_nonces_readers_and_assertions_are_refused() {
    let app = spawn().await;
    // the pharmacy's nonce, in an assertion the clinic's reader signed for the clinic
    let pharmacy_nonce = app.nonce("tok-pharmacy").await;
    let a = app
        .clinic_reader
        .assert(
            CLINIC,
            &pharmacy_nonce,
            app.serial("valid"),
            day(),
            false,
            &FACE,
        )
        .unwrap();
    refused_as(&app.confirm("tok-old", &a).await, "assertion_foreign_nonce");
    // the pharmacy's reader's honest assertion, sent with the clinic's token
    let nonce = app.nonce("tok-old").await;
    let a = app
        .pharmacy_reader
        .assert(PHARMACY, &nonce, app.serial("valid"), day(), false, &FACE)
        .unwrap();
    refused_as(&app.confirm("tok-old", &a).await, "reader_foreign");
    // the clinic's assertion sent by the pharmacy
    let a = app.honest(&FACE).await;
    refused_as(&app.confirm("tok-pharmacy", &a).await, "reader_foreign");
    // an unknown reader id
    let mut a = app.honest(&FACE).await;
    a.reader_id = "nobody".into();
    refused_as(&app.confirm("tok-old", &a).await, "reader_unknown");
    let refusals = app.store.refusals(10).unwrap();
    assert_eq!(refusals.len(), 4);
    assert!(refusals.iter().any(|r| r.facility == PHARMACY));
}

on_both_backends!(
    a_revoked_reader_is_refused_from_the_next_assertion_on,
    a_revoked_reader_is_refused_from_the_next_assertion_on_postgresql,
    a_revoked_reader_is_refused
);

async fn a_revoked_reader_is_refused<S: Store>(app: &App<S>) {
    let before = app.honest(&FACE).await;
    let (s, v) = app
        .post(
            "tok-pharmacy",
            &format!("/v1/readers/{}/revoke", app.clinic_reader.id()),
            &json!({}),
        )
        .await;
    assert_eq!(s, 404, "another facility cannot revoke it: {v}");
    let (s, v) = app
        .post(
            "tok-old",
            &format!("/v1/readers/{}/revoke", app.clinic_reader.id()),
            &json!({}),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    refused_as(&app.confirm("tok-old", &before).await, "reader_revoked");
    let after = app.honest(&FACE).await;
    refused_as(&app.confirm("tok-old", &after).await, "reader_revoked");
}

#[tokio::test]
async fn r1_a_pin_success_needs_the_chips_own_signature() {
    pin_needs_the_chips_own_signature(&spawn().await).await;
}

/// On PostgreSQL the card's key and the card with its history are one read
/// (`card_key_and_history_async`): the card's data is read before the chip's signature is
/// checked, and must not reach the answer when the check fails.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn r1_a_pin_success_needs_the_chips_own_signature_on_postgresql() {
    let (app, _db) = spawn_on_postgres().await;
    pin_needs_the_chips_own_signature(&app).await;
    // an honest PIN confirmation reads three times: the facility by its token, the reader,
    // and the card's key with the card and its history
    let a = app
        .honest(&IdentityAttempt::Pin(Pin::parse("1234").unwrap()))
        .await;
    let before = app.store.runtime_driven_reads();
    assert_eq!(app.confirm("tok-old", &a).await["segment_of_result"], "1");
    assert_eq!(app.store.runtime_driven_reads(), before + 3);
}

async fn pin_needs_the_chips_own_signature<S: Store>(app: &App<S>) {
    // the honest way: the chip accepted the PIN and signed
    let a = app
        .honest(&IdentityAttempt::Pin(Pin::parse("1234").unwrap()))
        .await;
    assert!(a.card_signature.is_some());
    let v = app.confirm("tok-old", &a).await;
    assert_eq!(v["segment_of_result"], "1", "{v}");
    assert_eq!(v["identity_method"], "pin");
    // a compromised reader claims a PIN success without the card
    let mut claim = app.honest(&FACE).await;
    claim.identity = IdentityOutcome::Verified {
        method: IdentityMethod::Pin,
        staff_id: None,
    };
    app.clinic_reader_sign(&mut claim);
    refused_as(
        &app.confirm("tok-old", &claim).await,
        "card_signature_missing",
    );
    // … or with the chip signature of another card
    let other = app.serial("lost");
    let mut stolen = app
        .honest(&IdentityAttempt::Pin(Pin::parse("1234").unwrap()))
        .await;
    let nonce = app.nonce("tok-old").await;
    let real = app
        .clinic_reader
        .assert(
            CLINIC,
            &nonce,
            other,
            day(),
            false,
            &IdentityAttempt::Pin(Pin::parse("2222").unwrap()),
        )
        .unwrap();
    assert!(real.card_signature.is_some());
    stolen.card_signature = real.card_signature;
    app.clinic_reader_sign(&mut stolen);
    refused_as(
        &app.confirm("tok-old", &stolen).await,
        "card_signature_invalid",
    );
    assert_eq!(
        app.refusal_reasons(),
        ["card_signature_missing", "card_signature_invalid"]
    );
}

#[tokio::test]
async fn old_token_is_refused_right_after_re_keying_and_a_removed_token_at_once() {
    let app = spawn().await;
    // used once, so a cache (if there were one) would hold it
    assert_eq!(app.whoami("tok-old").await, 200);
    app.store
        .upsert_facility(&facility(CLINIC), &onshi_web::token_hash("tok-new"))
        .unwrap();
    assert_eq!(
        app.whoami("tok-old").await,
        401,
        "old token after re-keying"
    );
    assert_eq!(app.whoami("tok-new").await, 200);
    app.store
        .revoke_facility_token(&facility(CLINIC).code)
        .unwrap();
    assert_eq!(app.whoami("tok-new").await, 401, "removed token");
    assert_eq!(app.whoami("").await, 401);
}
