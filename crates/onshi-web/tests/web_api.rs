//! The OQS Web API (cloud receipt software) against the real server on its own listener:
//! credentials → idToken, a 資格確認 by the numbers as JSON XmlMsg (照会区分 2, R7), read back as
//! generic JSON the way receipt software does; refusals for a missing or foreign token, another
//! facility's code and malformed messages.

use std::sync::Arc;

use onshi_card::PinHasher;
use onshi_central::fixture;
use onshi_central::import::{self, Input};
use onshi_central::{Central, SystemClock};
use onshi_domain::numbers::{MedicalInstitutionCode, MyNumberHasher};
use onshi_store::{Facility, FacilityStore, SqliteStore};
use onshi_web::oqs_api::{AUTH_PATH, SEARCH_PATH};
use serde_json::{Value, json};

const CLINIC: &str = "1311234567";
const OTHER: &str = "1341234567";

struct Api {
    base: String,
    http: reqwest::Client,
    fx: fixture::Fixture,
    _dir: tempfile::TempDir,
}

async fn spawn() -> Api {
    spawn_with(None).await
}

/// As [`spawn`], over TLS asking for client certificates of `ca` when given (the client of the
/// returned `Api` has no certificate; see [`Api::with_identity`]).
async fn spawn_with(ca: Option<&onshi_tls::LocalCa>) -> Api {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(SqliteStore::open(dir.path().join("c.sqlite")).unwrap());
    let hasher = MyNumberHasher::new(b"test-key-0123456789").unwrap();
    let pins = PinHasher::new(b"test-pin-key-0123456789").unwrap();
    let cards = Arc::new(
        onshi_card::CardStore::open(dir.path().join("cards.sqlite"), pins.clone()).unwrap(),
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
    .unwrap();
    assert!(report.committed, "{:?}", report.errors);
    for (code, token) in [(CLINIC, "key-clinic"), (OTHER, "key-other")] {
        store
            .upsert_facility(
                &Facility {
                    code: MedicalInstitutionCode::parse(code).unwrap(),
                    name: code.into(),
                },
                &onshi_web::token_hash(token),
            )
            .unwrap();
    }
    let central = Central::new(store.clone(), store.clone(), Arc::new(SystemClock));
    let state = onshi_web::AppState::new(central, store.clone(), cards);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let base = match ca {
        None => {
            let app = onshi_web::oqs_api::router(state);
            tokio::spawn(async move {
                let _ = axum::serve(listener, app).await;
            });
            format!("http://{addr}")
        }
        Some(ca) => {
            let tls = onshi_tls::ServerTls::from_pem_requiring_clients(
                ca.cert_pem.as_bytes(),
                ca.key_pem.as_bytes(),
                ca.ca_pem.as_bytes(),
            )
            .unwrap();
            let app = onshi_web::oqs_api::router_requiring_client_certificates(state);
            tokio::spawn(onshi_tls::serve(listener, app, tls, std::future::pending()));
            format!("https://{addr}")
        }
    };
    Api {
        base,
        http: reqwest::Client::new(),
        fx,
        _dir: dir,
    }
}

impl Api {
    /// The same API through a client trusting `ca`, presenting `identity` when given.
    fn with_identity(
        &self,
        ca: &onshi_tls::LocalCa,
        identity: Option<&onshi_tls::ClientCert>,
    ) -> Api {
        let mut b = reqwest::Client::builder()
            .use_rustls_tls()
            .add_root_certificate(reqwest::Certificate::from_pem(ca.ca_pem.as_bytes()).unwrap());
        if let Some(c) = identity {
            b = b.identity(reqwest::Identity::from_pem(c.identity_pem().as_bytes()).unwrap());
        }
        Api {
            base: self.base.clone(),
            http: b.build().unwrap(),
            fx: fixture::build(),
            _dir: tempfile::tempdir().unwrap(),
        }
    }

    async fn token(&self, code: &str, key: &str) -> (u16, Value) {
        let r = self
            .http
            .post(format!("{}{AUTH_PATH}", self.base))
            .json(&json!({"medicalInstitutionCode": code, "apiKey": key}))
            .send()
            .await
            .unwrap();
        (r.status().as_u16(), r.json().await.unwrap_or(Value::Null))
    }

    async fn search(&self, token: Option<&str>, body: &Value) -> (u16, Value) {
        let mut r = self
            .http
            .post(format!("{}{SEARCH_PATH}", self.base))
            .json(body);
        if let Some(t) = token {
            r = r.header("Authorization", t);
        }
        let r = r.send().await.unwrap();
        (r.status().as_u16(), r.json().await.unwrap_or(Value::Null))
    }
}

fn request(code: &str, insurer: &str, symbol: &str, number: &str, birth: &str) -> Value {
    json!({"XmlMsg": {
        "MessageHeader": {
            "QualificationConfirmationDate": "20261125",
            "MedicalInstitutionCode": code,
            "ArbitraryFileIdentifier": "cloud-0001"
        },
        "MessageBody": {"QualificationConfirmSearchInfo": {
            "InsurerNumber": insurer,
            "InsuredCardSymbol": symbol,
            "InsuredIdentificationNumber": number,
            "InsuredBranchNumber": "00",
            "Birthdate": birth,
            "LimitApplicationCertificateRelatedConsFlg": "0"
        }}
    }})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn r7_web_api_confirms_by_numbers_and_answers_the_xmlmsg_as_json() {
    let api = spawn().await;
    let (status, auth) = api.token(CLINIC, "key-clinic").await;
    assert_eq!(status, 200, "{auth}");
    let token = auth["result"]["idToken"]
        .as_str()
        .expect("idToken")
        .to_string();
    assert_eq!(auth["result"]["expiresIn"], 3600);
    let kyokai = api.fx.kyokai.as_str().to_string();
    let (status, v) = api
        .search(
            Some(&token),
            &request(CLINIC, &kyokai, "1001", "2001", "19800402"),
        )
        .await;
    assert_eq!(status, 200, "{v}");
    // read as receipt software does: a generic tree, ResultList as a list
    let header = &v["XmlMsg"]["MessageHeader"];
    assert_eq!(header["SegmentOfResult"], "1", "{v}");
    assert_eq!(header["ReferenceClassification"], "2");
    assert_eq!(header["ArbitraryFileIdentifier"], "cloud-0001");
    let body = &v["XmlMsg"]["MessageBody"];
    assert_eq!(body["ProcessingResultStatus"], "1");
    assert_eq!(body["QualificationValidity"], "1");
    let list = body["ResultList"]
        .as_array()
        .expect("ResultList is an array");
    assert_eq!(list.len(), 1);
    let r = &list[0]["ResultOfQualificationConfirmation"];
    assert_eq!(r["InsurerNumber"], kyokai.as_str());
    assert!(
        r["InsurerNumber"]
            .as_str()
            .unwrap()
            .chars()
            .all(|c| c.is_ascii_digit())
    );
    assert_eq!(r["InsuredIdentificationNumber"], "2001");
    assert_eq!(r["Birthdate"], "19800402");
    assert!(
        r["PersonalFamilyClassification"].is_string()
            || r["InsuredPartialContributionRatio"].is_string(),
        "{r}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn web_api_refuses_without_a_valid_id_token_and_for_another_facility() {
    let api = spawn().await;
    let kyokai = api.fx.kyokai.as_str().to_string();
    let body = request(CLINIC, &kyokai, "1001", "2001", "19800402");
    // no token, an unknown token
    let (status, v) = api.search(None, &body).await;
    assert_eq!(status, 401, "{v}");
    let (status, _) = api.search(Some("0123"), &body).await;
    assert_eq!(status, 401);
    // wrong key, or a key of another facility: one answer
    let (s1, a1) = api.token(CLINIC, "nope").await;
    let (s2, a2) = api.token(CLINIC, "key-other").await;
    assert_eq!((s1, s2), (401, 401));
    assert_eq!(a1, a2, "no oracle between unknown and foreign keys");
    // a token of the other facility cannot ask for the clinic (the code comes from the token)
    let (_, other) = api.token(OTHER, "key-other").await;
    let t = other["result"]["idToken"].as_str().unwrap().to_string();
    let (status, v) = api.search(Some(&t), &body).await;
    assert_eq!(status, 200);
    assert_eq!(v["XmlMsg"]["MessageHeader"]["SegmentOfResult"], "9", "{v}");
    assert_eq!(v["XmlMsg"]["MessageHeader"]["ErrorCode"], "1005", "{v}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn web_api_answers_a_malformed_message_with_an_abnormal_end_naming_the_element() {
    let api = spawn().await;
    let (_, auth) = api.token(CLINIC, "key-clinic").await;
    let token = auth["result"]["idToken"].as_str().unwrap().to_string();
    let mut body = request(CLINIC, "01130012", "1001", "2001", "19800402");
    body["XmlMsg"]["MessageBody"]["QualificationConfirmSearchInfo"]
        .as_object_mut()
        .unwrap()
        .remove("Birthdate");
    let (status, v) = api.search(Some(&token), &body).await;
    assert_eq!(status, 200);
    let h = &v["XmlMsg"]["MessageHeader"];
    assert_eq!(h["SegmentOfResult"], "9", "{v}");
    assert_eq!(h["ErrorCode"], "1003");
    assert!(
        h["ErrorMessage"].as_str().unwrap().contains("Birthdate"),
        "{v}"
    );
    // not JSON at all
    let r = api
        .http
        .post(format!("{}{SEARCH_PATH}", api.base))
        .header("Authorization", &token)
        .body("<XmlMsg/>")
        .send()
        .await
        .unwrap();
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["XmlMsg"]["MessageHeader"]["SegmentOfResult"], "9", "{v}");
}

/// As the real service, the Web API over TLS asks for the facility's client certificate: none,
/// one of another CA, or plain HTTP get no connection; another facility's certificate is
/// refused at auth and at search; the facility's own is served.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn web_api_requires_the_facilitys_client_certificate() {
    let ca = onshi_tls::make_local_ca_with_clients(&["127.0.0.1"], &[CLINIC, OTHER]).unwrap();
    let foreign = onshi_tls::make_local_ca_with_clients(&["127.0.0.1"], &[CLINIC]).unwrap();
    let server = spawn_with(Some(&ca)).await;
    let url = format!("{}{AUTH_PATH}", server.base);
    let creds = json!({"medicalInstitutionCode": CLINIC, "apiKey": "key-clinic"});
    // no certificate, a foreign CA's certificate: the handshake fails, no answer
    for (what, api) in [
        ("without", server.with_identity(&ca, None)),
        (
            "foreign",
            server.with_identity(&ca, Some(&foreign.clients[0])),
        ),
    ] {
        let r = api.http.post(&url).json(&creds).send().await;
        let answered = match r {
            Ok(r) => r.text().await.is_ok(),
            Err(_) => false,
        };
        assert!(
            !answered,
            "a client {what} a certificate of the CA was served"
        );
    }
    let plain = url.replace("https://", "http://");
    assert!(
        reqwest::Client::new()
            .post(&plain)
            .json(&creds)
            .send()
            .await
            .is_err(),
        "no plain HTTP on the TLS port"
    );
    // the other facility's certificate with the clinic's credentials
    let other = server.with_identity(&ca, Some(&ca.clients[1]));
    let (s, v) = other.token(CLINIC, "key-clinic").await;
    assert_eq!(s, 403, "{v}");
    assert_eq!(v["error"]["code"], "client_certificate", "{v}");
    // the clinic's own
    let clinic = server.with_identity(&ca, Some(&ca.clients[0]));
    let (s, v) = clinic.token(CLINIC, "key-clinic").await;
    assert_eq!(s, 200, "{v}");
    let token = v["result"]["idToken"].as_str().unwrap().to_string();
    let fx = &server.fx;
    let body = request(CLINIC, fx.kyokai.as_str(), "1001", "2001", "19800402");
    let (s, v) = clinic.search(Some(&token), &body).await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["XmlMsg"]["MessageHeader"]["SegmentOfResult"], "1", "{v}");
    // the clinic's idToken through the other facility's certificate
    let (s, v) = other.search(Some(&token), &body).await;
    assert_eq!(s, 403, "{v}");
}
