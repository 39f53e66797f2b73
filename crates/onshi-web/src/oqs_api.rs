//! The OQS Web API that cloud receipt software uses instead of the terminal's folders, served by
//! the central on a listener of its own (docs/api/web-api.md):
//!
//! - `POST /oqs-api-pro/MSA12020/ILI12020SV01/auth` — the facility's credentials
//!   (`{"medicalInstitutionCode", "apiKey"}`, the key being the facility's API token) → an
//!   `idToken` valid for an hour (`{"result": {"idToken", "expiresIn"}}`);
//! - `POST /oqs-api-pro/MSA01030/ILI01030SV01/search` — header `Authorization: <idToken>` (no
//!   "Bearer"), body the 資格確認 request as JSON (`{"XmlMsg": {"MessageHeader": {…},
//!   "MessageBody": {"QualificationConfirmSearchInfo": {…}}}}`, 照会区分 2) → the same XmlMsg the
//!   terminal writes to `res/`, as JSON, `ResultList` an array of
//!   `{"ResultOfQualificationConfirmation": {…}}`.
//!
//! The answer is built by the terminal's own code (`onshi_terminal::answer`) and read back through
//! the message JSON mapping (`onshi_formats::terminal_xml::json`), so folder and Web API answers
//! cannot drift apart. A bad request is answered like a bad request file: 異常終了 with the
//! error code and a message naming the element. The facility comes from the idToken, never from
//! the body: a request for another 医療機関コード is refused.
//!
//! As the real service, the Web API requires a TLS client certificate
//! ([`router_requiring_client_certificates`], served by `onshi_tls` with a client CA): the
//! handshake refuses a client without one or with one of another CA, and `auth` and `search`
//! refuse a certificate that was not issued for the facility of the credentials or of the
//! idToken (its subject alternative name `<医療機関コード>.facility.onshi`). [`router`] without
//! client certificates is for plain HTTP on loopback only (tests, one machine).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use onshi_central::NumbersConfirmation;
use onshi_domain::codes::LimitConsent;
use onshi_domain::numbers::MedicalInstitutionCode;
use onshi_formats::terminal_xml::json::{json_to_xml_text, xml_text_to_json};
use onshi_formats::terminal_xml::siquc01::{QualificationResponse, SingleRequest};
use onshi_formats::terminal_xml::{CharacterCodes, Encoding, ResponseHeader};
use onshi_terminal::answer;
use serde::Deserialize;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::{AppState, token_hash};

pub const AUTH_PATH: &str = "/oqs-api-pro/MSA12020/ILI12020SV01/auth";
pub const SEARCH_PATH: &str = "/oqs-api-pro/MSA01030/ILI01030SV01/search";
/// How long an idToken is good for.
pub const TOKEN_LIFETIME: Duration = Duration::from_secs(3600);
/// Largest request body taken.
const MAX_BODY: usize = 64 * 1024;

#[derive(Clone)]
struct WebApi {
    state: AppState,
    /// sha256(idToken) → facility, expiry
    tokens: Arc<Mutex<HashMap<String, (MedicalInstitutionCode, Instant)>>>,
    codes: CharacterCodes,
    /// every call must come with the facility's TLS client certificate
    client_certificates: bool,
}

/// The Web API's router, for a listener of its own, without client certificates (plain HTTP
/// on loopback).
pub fn router(state: AppState) -> Router {
    build(state, false)
}

/// The Web API's router for a TLS listener that asks for client certificates
/// (`onshi_tls::ServerTls::from_pem_requiring_clients`): each call's certificate must be the
/// facility's.
pub fn router_requiring_client_certificates(state: AppState) -> Router {
    build(state, true)
}

fn build(state: AppState, client_certificates: bool) -> Router {
    Router::new()
        .route(AUTH_PATH, post(auth))
        .route(SEARCH_PATH, post(search))
        .layer(axum::extract::DefaultBodyLimit::max(MAX_BODY))
        .with_state(WebApi {
            state,
            tokens: Arc::new(Mutex::new(HashMap::new())),
            codes: CharacterCodes::default(),
            client_certificates,
        })
}

type ClientCert = Option<axum::Extension<onshi_tls::PeerCertificate>>;

/// Whether the call's client certificate (when they are required) is the facility's.
fn certificate_ok(w: &WebApi, cert: &ClientCert, facility: &str) -> bool {
    !w.client_certificates
        || cert
            .as_ref()
            .is_some_and(|axum::Extension(c)| c.is_for_facility(facility))
}

fn wrong_certificate() -> Response {
    refusal(
        StatusCode::FORBIDDEN,
        "client_certificate",
        "the TLS client certificate is not this facility's",
    )
}

fn digest(token: &str) -> String {
    hex::encode(Sha256::digest(
        format!("onshi-web-api-id-token:{token}").as_bytes(),
    ))
}

fn refusal(status: StatusCode, code: &str, message: &str) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "application/json; charset=utf-8")],
        json!({"result": null, "error": {"code": code, "message": message}}).to_string(),
    )
        .into_response()
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct Credentials {
    medical_institution_code: String,
    api_key: String,
}

async fn auth(State(w): State<WebApi>, cert: ClientCert, body: Bytes) -> Response {
    let creds: Credentials = match serde_json::from_slice(&body) {
        Ok(c) => c,
        Err(e) => {
            return refusal(
                StatusCode::BAD_REQUEST,
                "credentials",
                &format!("credentials: {{\"medicalInstitutionCode\", \"apiKey\"}} expected: {e}"),
            );
        }
    };
    if !certificate_ok(&w, &cert, &creds.medical_institution_code) {
        return wrong_certificate();
    }
    let store = w.state.facilities.clone();
    let hash = token_hash(&creds.api_key);
    let found = tokio::task::spawn_blocking(move || store.facility_by_token_hash(&hash))
        .await
        .ok()
        .and_then(Result::ok)
        .flatten();
    // one answer for an unknown key and a key of another facility
    let Some(f) = found.filter(|f| f.code.as_str() == creds.medical_institution_code) else {
        return refusal(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "medicalInstitutionCode / apiKey: not a registered facility's credentials",
        );
    };
    let mut raw = [0u8; 32];
    if getrandom::fill(&mut raw).is_err() {
        return refusal(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "no randomness",
        );
    }
    let token = hex::encode(raw);
    let now = Instant::now();
    if let Ok(mut t) = w.tokens.lock() {
        t.retain(|_, (_, until)| *until > now);
        t.insert(digest(&token), (f.code.clone(), now + TOKEN_LIFETIME));
    }
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/json; charset=utf-8")],
        json!({"result": {"idToken": token, "expiresIn": TOKEN_LIFETIME.as_secs()}}).to_string(),
    )
        .into_response()
}

fn facility_of(w: &WebApi, headers: &HeaderMap) -> Option<MedicalInstitutionCode> {
    let token = headers.get(header::AUTHORIZATION)?.to_str().ok()?.trim();
    let t = w.tokens.lock().ok()?;
    let (code, until) = t.get(&digest(token))?;
    (*until > Instant::now()).then(|| code.clone())
}

fn answer_json(resp: &QualificationResponse) -> Response {
    let text = resp
        .write(Encoding::Utf8)
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
        .and_then(|t| xml_text_to_json(&t).ok());
    match text {
        Some(v) => (
            StatusCode::OK,
            [(header::CONTENT_TYPE, "application/json; charset=utf-8")],
            v.to_string(),
        )
            .into_response(),
        None => refusal(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "the answer could not be written",
        ),
    }
}

async fn search(
    State(w): State<WebApi>,
    cert: ClientCert,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let Some(facility) = facility_of(&w, &headers) else {
        return refusal(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "Authorization: an idToken from the auth call is required (expired after an hour)",
        );
    };
    if !certificate_ok(&w, &cert, facility.as_str()) {
        return wrong_certificate();
    }
    let clock = w.state.central.clock();
    let now = clock.now_jst();
    let header = ResponseHeader {
        process_execution_time: now.format("%Y%m%d%H%M%S").to_string(),
        qualification_confirmation_date: Some(now.format("%Y%m%d").to_string()),
        medical_institution_code: facility.as_str().to_string(),
        arbitrary_file_identifier: None,
        reference_classification: Some("2".into()),
        segment_of_result: "1".into(),
        error_code: None,
        error_message: None,
        character_code_identifier: w.codes.code(Encoding::Utf8).to_string(),
    };
    let bad = |code: &str, msg: &str| {
        let (h, b) = answer::abnormal(header.clone(), code, msg);
        answer_json(&QualificationResponse { header: h, body: b })
    };
    let value: Value = match serde_json::from_slice(&body) {
        Ok(v) => v,
        Err(e) => return bad(answer::codes::NOT_XML, &format!("JSON: {e}")),
    };
    let parsed = json_to_xml_text(&value).and_then(|t| SingleRequest::read(t.as_bytes()));
    let req = match parsed {
        Ok((_, r)) => r,
        Err(e) => {
            let (code, msg) = answer::request_error(&e);
            return bad(code, &msg);
        }
    };
    if req.header.medical_institution_code != facility {
        return bad(
            answer::codes::OTHER_FACILITY,
            &format!(
                "MessageHeader/MedicalInstitutionCode: {} is not the facility of this idToken",
                req.header.medical_institution_code
            ),
        );
    }
    let confirmation = NumbersConfirmation {
        confirmation_date: req.header.qualification_confirmation_date,
        query: req.search.query(),
        staff_id: None,
        limit_consent: req.search.limit_consent == LimitConsent::Consented,
    };
    let header = ResponseHeader {
        arbitrary_file_identifier: req.header.arbitrary_file_identifier.clone(),
        ..header.clone()
    };
    match w
        .state
        .central
        .confirm_by_numbers(&facility, &confirmation)
        .await
    {
        Ok(c) => {
            let (h, b) = answer::from_central(
                &c,
                header.arbitrary_file_identifier.clone(),
                &header.character_code_identifier,
                Some(req.search.echo()),
            );
            answer_json(&QualificationResponse { header: h, body: b })
        }
        Err(e) => {
            tracing::error!(error = %e, "web api: confirmation failed");
            bad(
                answer::codes::CENTRAL_REFUSED,
                "資格確認を実行できませんでした",
            )
        }
    }
}
