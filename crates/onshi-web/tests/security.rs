//! The security suite over the real central: a real HTTP server on a random port, a real
//! SQLite file. Each test is an attack tried as an outsider would, and must fail.

use std::sync::Arc;

use onshi_card::PinHasher;
use onshi_central::{Central, SystemClock};
use onshi_domain::numbers::MedicalInstitutionCode;
use onshi_store::{Facility, FacilityStore, SqliteStore};

struct App {
    base: String,
    store: Arc<SqliteStore>,
    http: reqwest::Client,
    _dir: tempfile::TempDir,
}

const CLINIC: &str = "1311234567";

fn clinic() -> Facility {
    Facility {
        code: MedicalInstitutionCode::parse(CLINIC).unwrap(),
        name: "clinic".into(),
    }
}

async fn spawn() -> App {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(SqliteStore::open(dir.path().join("c.sqlite")).unwrap());
    let pins = PinHasher::new(b"test-pin-key-0123456789").unwrap();
    store
        .upsert_facility(&clinic(), &onshi_web::token_hash("tok-old"))
        .unwrap();
    let central = Central::new(store.clone(), store.clone(), Arc::new(SystemClock));
    let state = onshi_web::AppState::new(central, store.clone(), store.clone(), pins);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(onshi_web::serve(listener, state, std::future::pending()));
    App {
        base: format!("http://{addr}"),
        store,
        http: reqwest::Client::new(),
        _dir: dir,
    }
}

impl App {
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
}

#[tokio::test]
async fn old_token_is_refused_right_after_re_keying_and_a_removed_token_at_once() {
    let app = spawn().await;
    // used once, so a cache (if there were one) would hold it
    assert_eq!(app.whoami("tok-old").await, 200);
    app.store
        .upsert_facility(&clinic(), &onshi_web::token_hash("tok-new"))
        .unwrap();
    assert_eq!(
        app.whoami("tok-old").await,
        401,
        "old token after re-keying"
    );
    assert_eq!(app.whoami("tok-new").await, 200);
    app.store.revoke_facility_token(&clinic().code).unwrap();
    assert_eq!(app.whoami("tok-new").await, 401, "removed token");
    assert_eq!(app.whoami("").await, 401);
}
