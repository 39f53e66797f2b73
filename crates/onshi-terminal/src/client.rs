//! How the terminal reaches the central: the [`CentralClient`] trait and its three
//! implementations — [`HttpCentral`] (a real `onshi central` over HTTP, with the facility's
//! bearer token), [`InProcessCentral`] (the central's services and the emulated chip in this
//! process, for `onshi demo`) and [`FaultyCentral`] (wraps another and injects slowness,
//! outages and errors, for tests). The caller bounds every call with a timeout, so a dead or
//! slow central never hangs the terminal.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::NaiveDate;
use onshi_card::{CardStore, CertifiedReader, IdentityAttempt, ReaderKey};
use onshi_central::medinfo::{MedicalInfoAnswer, MedicalInfoQuery};
use onshi_central::outage::{
    Actor, AuditView, FacilityStatus, OutageError, OutageService, ReportInput, RequestInput,
    RequestView, SearchInput, SearchResponse, SelectResponse,
};
use onshi_central::{
    CardConfirmation, Central, ConfirmationResponse, NonceGrant, NumbersConfirmation,
};
use onshi_domain::medinfo::MedicalView;
use onshi_domain::numbers::MedicalInstitutionCode;
use onshi_store::outage::AuditFilter;
use serde::Serialize;

/// A boxed future, so the trait can be used as `dyn CentralClient`.
pub type BoxFut<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Why the central gave no confirmation answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ClientError {
    /// No connection, or no answer in time.
    #[error("central unreachable: {0}")]
    Unreachable(String),
    /// The central answered, but refused the call (bad token, bad request, server error).
    #[error("central refused the request (HTTP {status}): {message}")]
    Refused { status: u16, message: String },
}

/// A 4-digit PIN on its way to the (emulated) chip. `Debug` hides it.
#[derive(Clone, PartialEq, Eq)]
pub struct PinDigits(String);

impl std::fmt::Debug for PinDigits {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PinDigits(****)")
    }
}

impl PinDigits {
    pub fn parse(s: &str) -> Result<Self, String> {
        if s.len() == 4 && s.bytes().all(|b| b.is_ascii_digit()) {
            Ok(PinDigits(s.to_string()))
        } else {
            Err("pin: must be exactly 4 digits".into())
        }
    }
}

/// One identity attempt at the reader (R1): face, PIN, or staff's visual check (R3).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Identity {
    Face { matched: bool },
    Pin(PinDigits),
    Visual { staff_id: String },
}

impl Identity {
    /// What the reader does with the card for this attempt.
    fn attempt(&self) -> Result<IdentityAttempt, ClientError> {
        Ok(match self {
            Identity::Face { matched } => IdentityAttempt::Face { matched: *matched },
            Identity::Pin(p) => {
                IdentityAttempt::Pin(onshi_card::Pin::parse(&p.0).map_err(internal)?)
            }
            Identity::Visual { staff_id } => IdentityAttempt::Visual {
                staff_id: staff_id.clone(),
            },
        })
    }

    pub fn method(&self) -> &'static str {
        match self {
            Identity::Face { .. } => "face",
            Identity::Pin(_) => "pin",
            Identity::Visual { .. } => "visual",
        }
    }
}

/// A card read at the face-auth reader, sent for confirmation (照会区分 1).
#[derive(Debug, Clone)]
pub struct CardRead {
    pub card_serial: String,
    pub confirmation_date: NaiveDate,
    pub identity: Identity,
    pub limit_consent: bool,
    /// the medical-information consents given on the reader's screens (R2)
    pub medical_consent: onshi_domain::medinfo::MedicalConsents,
}

/// One step of the facility's side of the outage-mode procedure (R13), as the facility's
/// desk takes it through the terminal: the facility is the terminal's own (its token), never
/// named in the message.
#[derive(Debug, Clone)]
pub enum OutageStep {
    /// where the facility's requests stand, and whether it may search now
    Status,
    /// 1. 利用申請: ask the call centre for the outage mode
    Request(RequestInput),
    /// withdraw a request before it is enabled; `staff_id` is who withdraws it
    Cancel { id: i64, staff_id: Option<String> },
    /// 4. 利用報告書: the usage report after the mode was used
    Report { id: i64, input: ReportInput },
    /// the facility's own search audit, newest first
    Audit { limit: u32 },
}

/// The central's answer to an [`OutageStep`].
#[derive(Debug, Clone)]
pub enum OutageAnswer {
    Status(FacilityStatus),
    /// the request after a `Request`, `Cancel` or `Report`
    Request(Box<RequestView>),
    Audit(Vec<AuditView>),
}

#[derive(serde::Deserialize)]
struct AuditBody {
    audit: Vec<AuditView>,
}

/// The central, as the terminal sees it.
pub trait CentralClient: Send + Sync {
    /// The reader's identity step on the card and the card confirmation (R1–R3, R5, R6).
    fn read_card<'a>(
        &'a self,
        req: &'a CardRead,
    ) -> BoxFut<'a, Result<ConfirmationResponse, ClientError>>;

    /// Confirmation by insurance numbers (照会区分 2, R7).
    fn confirm_numbers<'a>(
        &'a self,
        req: &'a NumbersConfirmation,
    ) -> BoxFut<'a, Result<ConfirmationResponse, ClientError>>;

    /// The outage-mode search (資格情報照会（システム障害時）, R12, R14). A refusal of the
    /// central (not enabled, window closed, a missing field) is [`ClientError::Refused`] with
    /// the central's reason.
    fn outage_search<'a>(
        &'a self,
        req: &'a SearchInput,
    ) -> BoxFut<'a, Result<SearchResponse, ClientError>>;

    /// Staff choose candidate `candidate` (1-based) of search `search_id` (R14).
    fn outage_select<'a>(
        &'a self,
        search_id: i64,
        candidate: u32,
        staff_id: Option<&'a str>,
    ) -> BoxFut<'a, Result<SelectResponse, ClientError>>;

    /// The facility's side of the outage-mode procedure (R13): status, request, cancel,
    /// usage report, audit.
    fn outage_step<'a>(
        &'a self,
        step: &'a OutageStep,
    ) -> BoxFut<'a, Result<OutageAnswer, ClientError>>;

    /// Medical information under consent (R2).
    fn medical_info<'a>(
        &'a self,
        q: &'a MedicalInfoQuery,
    ) -> BoxFut<'a, Result<MedicalInfoAnswer, ClientError>>;

    /// The facility's views of medical information, newest first.
    fn medical_views<'a>(&'a self, limit: u32)
    -> BoxFut<'a, Result<Vec<MedicalView>, ClientError>>;
}

#[derive(serde::Deserialize)]
struct ViewsBody {
    views: Vec<MedicalView>,
}

#[derive(Serialize)]
struct SelectBody<'a> {
    candidate: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    staff_id: Option<&'a str>,
}

/// The reason in a central's JSON error (`{"error": {"message"}}`), else the body's start.
fn refusal_message(bytes: &[u8]) -> String {
    serde_json::from_slice::<serde_json::Value>(bytes)
        .ok()
        .and_then(|v| v["error"]["message"].as_str().map(str::to_string))
        .unwrap_or_else(|| String::from_utf8_lossy(bytes).chars().take(500).collect())
}

/// The facility's certified reader, as a client uses it: the reader and the facility it is
/// registered for.
#[derive(Clone)]
pub struct ReaderLink {
    pub reader: Arc<CertifiedReader>,
    pub facility: MedicalInstitutionCode,
}

impl ReaderLink {
    /// The identity step at the reader, signed over the central's nonce. The PIN goes to the
    /// card emulation only; what leaves is the signed outcome.
    async fn assert(&self, nonce: &str, req: &CardRead) -> Result<CardConfirmation, ClientError> {
        let attempt = req.identity.attempt()?;
        let reader = self.reader.clone();
        let facility = self.facility.as_str().to_string();
        let nonce = nonce.to_string();
        let serial = req.card_serial.clone();
        let (date, consent, medical) = (
            req.confirmation_date,
            req.limit_consent,
            req.medical_consent,
        );
        tokio::task::spawn_blocking(move || {
            reader
                .assert_with_consents(&facility, &nonce, &serial, date, consent, medical, &attempt)
        })
        .await
        .map_err(internal)?
        .map_err(internal)
    }
}

/// A real central over HTTP (`onshi central`), authenticated as one facility.
pub struct HttpCentral {
    base: String,
    token: secrecy::SecretString,
    http: reqwest::Client,
    reader: Option<ReaderLink>,
}

impl HttpCentral {
    /// `base` like `http://127.0.0.1:8470`; `token` the facility's bearer token.
    pub fn new(base: &str, token: &str) -> Result<Self, ClientError> {
        Self::with_ca(base, token, None)
    }

    /// As [`HttpCentral::new`], trusting the CA certificate `ca_pem` (PEM) for an `https://`
    /// central (TLS by rustls). An `http://` central is refused unless it is on loopback.
    pub fn with_ca(base: &str, token: &str, ca_pem: Option<&[u8]>) -> Result<Self, ClientError> {
        Self::with_tls(base, token, ca_pem, None)
    }

    /// As [`HttpCentral::with_ca`], presenting the facility's TLS client certificate
    /// (`identity_pem`: certificate and private key, PEM) when given.
    pub fn with_tls(
        base: &str,
        token: &str,
        ca_pem: Option<&[u8]>,
        identity_pem: Option<&[u8]>,
    ) -> Result<Self, ClientError> {
        let bad = |m: String| ClientError::Refused {
            status: 0,
            message: m,
        };
        if let Some(rest) = base.strip_prefix("http://") {
            let host = rest.split(['/', ':']).next().unwrap_or("");
            let loopback = host == "localhost"
                || host
                    .parse::<std::net::IpAddr>()
                    .is_ok_and(|ip| ip.is_loopback())
                || rest.starts_with("[::1]");
            if !loopback {
                return Err(bad(format!(
                    "{base}: plain HTTP to the central only on loopback; use https://"
                )));
            }
        }
        let mut b = reqwest::Client::builder()
            .use_rustls_tls()
            .connect_timeout(Duration::from_secs(5));
        if let Some(pem) = ca_pem {
            let cert = reqwest::Certificate::from_pem(pem)
                .map_err(|e| bad(format!("the central's CA certificate: {e}")))?;
            b = b.add_root_certificate(cert);
        }
        if let Some(pem) = identity_pem {
            let id = reqwest::Identity::from_pem(pem)
                .map_err(|e| bad(format!("the facility's client certificate: {e}")))?;
            b = b.identity(id);
        }
        let http = b
            .build()
            .map_err(|e| ClientError::Unreachable(e.to_string()))?;
        Ok(HttpCentral {
            base: base.trim_end_matches('/').to_string(),
            token: secrecy::SecretString::from(token.to_string()),
            http,
            reader: None,
        })
    }

    /// With the facility's certified reader (without one, card reads are refused).
    pub fn with_reader(mut self, reader: ReaderLink) -> Self {
        self.reader = Some(reader);
        self
    }

    async fn post<T: Serialize + ?Sized, R: serde::de::DeserializeOwned>(
        &self,
        path: &str,
        body: &T,
    ) -> Result<R, ClientError> {
        self.post_as(path, body, 200).await
    }

    /// A POST whose success is `ok` (201 for what the central creates).
    async fn post_as<T: Serialize + ?Sized, R: serde::de::DeserializeOwned>(
        &self,
        path: &str,
        body: &T,
        ok: u16,
    ) -> Result<R, ClientError> {
        let r = self
            .http
            .post(format!("{}{path}", self.base))
            .bearer_auth(secrecy::ExposeSecret::expose_secret(&self.token))
            .json(body)
            .send()
            .await;
        answer(r, ok).await
    }
}

/// The central's answer to one call: the decoded body of a 200, else the refusal with its
/// message; a transport failure is `Unreachable`.
async fn answer<R: serde::de::DeserializeOwned>(
    sent: Result<reqwest::Response, reqwest::Error>,
    ok: u16,
) -> Result<R, ClientError> {
    let r = sent.map_err(|e| ClientError::Unreachable(e.to_string()))?;
    let status = r.status().as_u16();
    let bytes = r
        .bytes()
        .await
        .map_err(|e| ClientError::Unreachable(e.to_string()))?;
    if status != ok {
        return Err(ClientError::Refused {
            status,
            message: refusal_message(&bytes),
        });
    }
    serde_json::from_slice(&bytes).map_err(|e| ClientError::Refused {
        status,
        message: format!("answer is not the expected response: {e}"),
    })
}

impl HttpCentral {
    async fn get<R: serde::de::DeserializeOwned>(&self, path: &str) -> Result<R, ClientError> {
        let r = self
            .http
            .get(format!("{}{path}", self.base))
            .bearer_auth(secrecy::ExposeSecret::expose_secret(&self.token))
            .send()
            .await;
        answer(r, 200).await
    }
}

impl CentralClient for HttpCentral {
    fn read_card<'a>(
        &'a self,
        req: &'a CardRead,
    ) -> BoxFut<'a, Result<ConfirmationResponse, ClientError>> {
        Box::pin(async move {
            let Some(link) = &self.reader else {
                return Err(no_reader());
            };
            let grant: NonceGrant = self
                .post("/v1/confirmations/card/nonce", &serde_json::json!({}))
                .await?;
            let assertion = link.assert(&grant.nonce, req).await?;
            self.post("/v1/confirmations/card", &assertion).await
        })
    }

    fn confirm_numbers<'a>(
        &'a self,
        req: &'a NumbersConfirmation,
    ) -> BoxFut<'a, Result<ConfirmationResponse, ClientError>> {
        Box::pin(async move { self.post("/v1/confirmations/numbers", req).await })
    }

    fn outage_search<'a>(
        &'a self,
        req: &'a SearchInput,
    ) -> BoxFut<'a, Result<SearchResponse, ClientError>> {
        Box::pin(async move { self.post("/v1/outage/search", req).await })
    }

    fn outage_select<'a>(
        &'a self,
        search_id: i64,
        candidate: u32,
        staff_id: Option<&'a str>,
    ) -> BoxFut<'a, Result<SelectResponse, ClientError>> {
        Box::pin(async move {
            let body = SelectBody {
                candidate,
                staff_id,
            };
            self.post(&format!("/v1/outage/search/{search_id}/select"), &body)
                .await
        })
    }

    fn outage_step<'a>(
        &'a self,
        step: &'a OutageStep,
    ) -> BoxFut<'a, Result<OutageAnswer, ClientError>> {
        Box::pin(async move {
            Ok(match step {
                OutageStep::Status => OutageAnswer::Status(self.get("/v1/outage").await?),
                OutageStep::Request(input) => OutageAnswer::Request(Box::new(
                    self.post_as("/v1/outage/requests", input, 201).await?,
                )),
                OutageStep::Cancel { id, staff_id } => OutageAnswer::Request(Box::new(
                    self.post(
                        &format!("/v1/outage/requests/{id}/cancel"),
                        &serde_json::json!({ "staff_id": staff_id }),
                    )
                    .await?,
                )),
                OutageStep::Report { id, input } => OutageAnswer::Request(Box::new(
                    self.post(&format!("/v1/outage/requests/{id}/report"), input)
                        .await?,
                )),
                OutageStep::Audit { limit } => {
                    let b: AuditBody = self.get(&format!("/v1/outage/audit?limit={limit}")).await?;
                    OutageAnswer::Audit(b.audit)
                }
            })
        })
    }
    fn medical_info<'a>(
        &'a self,
        q: &'a MedicalInfoQuery,
    ) -> BoxFut<'a, Result<MedicalInfoAnswer, ClientError>> {
        Box::pin(async move { self.post("/v1/medical-info", q).await })
    }

    fn medical_views<'a>(
        &'a self,
        limit: u32,
    ) -> BoxFut<'a, Result<Vec<MedicalView>, ClientError>> {
        Box::pin(async move {
            let b: ViewsBody = self
                .get(&format!("/v1/medical-info/views?limit={limit}"))
                .await?;
            Ok(b.views)
        })
    }
}

/// The central's services and a certified reader over the card emulation, in this process
/// (for `onshi demo`). The reader's device key is made at start and registered at the central
/// for the facility, as a reader is certified at installation.
pub struct InProcessCentral {
    central: Central,
    reader: Option<ReaderLink>,
    facility: MedicalInstitutionCode,
    outage: Option<OutageService>,
}

impl InProcessCentral {
    pub fn new(central: Central, cards: Arc<CardStore>, facility: MedicalInstitutionCode) -> Self {
        let reader = Self::install_reader(&central, cards, &facility)
            .map_err(|e| tracing::error!(error = %e, "the in-process reader was not registered"))
            .ok();
        InProcessCentral {
            central,
            reader,
            facility,
            outage: None,
        }
    }

    fn install_reader(
        central: &Central,
        cards: Arc<CardStore>,
        facility: &MedicalInstitutionCode,
    ) -> Result<ReaderLink, String> {
        let mut b = [0u8; 6];
        getrandom::fill(&mut b).map_err(|e| e.to_string())?;
        let key = ReaderKey::generate(&format!("local-{}-{}", facility.as_str(), hex::encode(b)))
            .map_err(|e| e.to_string())?;
        central
            .register_reader(facility, &key.id, &key.public_key_hex())
            .map_err(|e| e.to_string())?;
        Ok(ReaderLink {
            reader: Arc::new(CertifiedReader::new(key, cards)),
            facility: facility.clone(),
        })
    }

    /// With the central's outage-mode service (without it the outage calls are refused, as a
    /// central without the outage mode configured answers 503).
    pub fn with_outage(mut self, outage: OutageService) -> Self {
        self.outage = Some(outage);
        self
    }

    /// Runs one outage-mode call on the blocking pool.
    async fn outage_call<T: Send + 'static>(
        &self,
        f: impl FnOnce(&OutageService, &MedicalInstitutionCode) -> Result<T, OutageError>
        + Send
        + 'static,
    ) -> Result<T, ClientError> {
        let Some(svc) = self.outage.clone() else {
            return Err(ClientError::Refused {
                status: 503,
                message: "system-outage mode is not configured on this server".into(),
            });
        };
        let code = self.facility.clone();
        tokio::task::spawn_blocking(move || f(&svc, &code))
            .await
            .map_err(internal)?
            .map_err(outage_refusal)
    }
}

/// An outage-mode refusal as the HTTP API would answer it (same status, same message).
fn outage_refusal(e: OutageError) -> ClientError {
    let status = match &e {
        OutageError::Invalid { .. } => 400,
        OutageError::Refused { .. } => 403,
        OutageError::NotFound { .. } => 404,
        OutageError::Conflict { .. } => 409,
        OutageError::Store(_) => 500,
    };
    ClientError::Refused {
        status,
        message: e.to_string(),
    }
}

fn no_reader() -> ClientError {
    ClientError::Refused {
        status: 503,
        message: "no certified card reader is configured for this terminal".into(),
    }
}

fn internal(e: impl std::fmt::Display) -> ClientError {
    ClientError::Refused {
        status: 500,
        message: e.to_string(),
    }
}

impl CentralClient for InProcessCentral {
    fn read_card<'a>(
        &'a self,
        req: &'a CardRead,
    ) -> BoxFut<'a, Result<ConfirmationResponse, ClientError>> {
        Box::pin(async move {
            let Some(link) = &self.reader else {
                return Err(no_reader());
            };
            let grant = self.central.issue_nonce(&self.facility).map_err(internal)?;
            let assertion = link.assert(&grant.nonce, req).await?;
            self.central
                .confirm_by_card(&self.facility, &assertion)
                .await
                .map_err(internal)
        })
    }

    fn confirm_numbers<'a>(
        &'a self,
        req: &'a NumbersConfirmation,
    ) -> BoxFut<'a, Result<ConfirmationResponse, ClientError>> {
        Box::pin(async move {
            self.central
                .confirm_by_numbers(&self.facility, req)
                .await
                .map_err(internal)
        })
    }

    fn outage_search<'a>(
        &'a self,
        req: &'a SearchInput,
    ) -> BoxFut<'a, Result<SearchResponse, ClientError>> {
        let input = req.clone();
        Box::pin(async move {
            self.outage_call(move |svc, code| svc.search(code, &input))
                .await
        })
    }

    fn outage_select<'a>(
        &'a self,
        search_id: i64,
        candidate: u32,
        staff_id: Option<&'a str>,
    ) -> BoxFut<'a, Result<SelectResponse, ClientError>> {
        let staff = staff_id.map(str::to_string);
        Box::pin(async move {
            self.outage_call(move |svc, code| {
                svc.select(code, search_id, candidate, staff.as_deref())
            })
            .await
        })
    }

    fn outage_step<'a>(
        &'a self,
        step: &'a OutageStep,
    ) -> BoxFut<'a, Result<OutageAnswer, ClientError>> {
        let step = step.clone();
        Box::pin(async move {
            self.outage_call(move |svc, code| {
                let actor = |staff: Option<&str>| Actor::facility(code, staff);
                Ok(match step {
                    OutageStep::Status => OutageAnswer::Status(svc.facility_status(code)?),
                    OutageStep::Request(input) => {
                        let by = input
                            .staff_id
                            .as_deref()
                            .or(input.contact_person.as_deref());
                        OutageAnswer::Request(Box::new(svc.request(&actor(by), &input)?))
                    }
                    OutageStep::Cancel { id, staff_id } => OutageAnswer::Request(Box::new(
                        svc.cancel(&actor(staff_id.as_deref()), id)?,
                    )),
                    OutageStep::Report { id, input } => {
                        OutageAnswer::Request(Box::new(svc.report(code, id, &input)?))
                    }
                    OutageStep::Audit { limit } => {
                        OutageAnswer::Audit(svc.audit(&AuditFilter {
                            facility: Some(code.as_str().to_string()),
                            limit: Some(limit),
                            ..Default::default()
                        })?)
                    }
                })
            })
            .await
        })
    }
    fn medical_info<'a>(
        &'a self,
        q: &'a MedicalInfoQuery,
    ) -> BoxFut<'a, Result<MedicalInfoAnswer, ClientError>> {
        let (central, code, q) = (self.central.clone(), self.facility.clone(), q.clone());
        Box::pin(async move {
            tokio::task::spawn_blocking(move || central.medical_info(&code, &q))
                .await
                .map_err(internal)?
                .map_err(internal)
        })
    }

    fn medical_views<'a>(
        &'a self,
        limit: u32,
    ) -> BoxFut<'a, Result<Vec<MedicalView>, ClientError>> {
        let (central, code) = (self.central.clone(), self.facility.clone());
        Box::pin(async move {
            tokio::task::spawn_blocking(move || central.medical_views_of_facility(&code, limit))
                .await
                .map_err(internal)?
                .map_err(internal)
        })
    }
}

/// What [`FaultyCentral`] does to each call.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Fault {
    /// pass through
    #[default]
    None,
    /// the central cannot be reached
    Down,
    /// answer after this delay (longer than the terminal's bound = unreachable)
    Slow(Duration),
    /// the central refuses with this HTTP status
    Error(u16),
}

/// Wraps a client and injects faults, switchable while running.
pub struct FaultyCentral {
    inner: Arc<dyn CentralClient>,
    fault: Mutex<Fault>,
}

impl FaultyCentral {
    pub fn new(inner: Arc<dyn CentralClient>) -> Self {
        FaultyCentral {
            inner,
            fault: Mutex::new(Fault::None),
        }
    }

    pub fn set(&self, f: Fault) {
        if let Ok(mut g) = self.fault.lock() {
            *g = f;
        }
    }

    fn current(&self) -> Fault {
        self.fault.lock().map(|g| g.clone()).unwrap_or_default()
    }

    async fn apply(&self) -> Result<(), ClientError> {
        match self.current() {
            Fault::None => Ok(()),
            Fault::Down => Err(ClientError::Unreachable(
                "connection refused (injected)".into(),
            )),
            Fault::Slow(d) => {
                tokio::time::sleep(d).await;
                Ok(())
            }
            Fault::Error(status) => Err(ClientError::Refused {
                status,
                message: "injected error".into(),
            }),
        }
    }
}

impl CentralClient for FaultyCentral {
    fn read_card<'a>(
        &'a self,
        req: &'a CardRead,
    ) -> BoxFut<'a, Result<ConfirmationResponse, ClientError>> {
        Box::pin(async move {
            self.apply().await?;
            self.inner.read_card(req).await
        })
    }

    fn confirm_numbers<'a>(
        &'a self,
        req: &'a NumbersConfirmation,
    ) -> BoxFut<'a, Result<ConfirmationResponse, ClientError>> {
        Box::pin(async move {
            self.apply().await?;
            self.inner.confirm_numbers(req).await
        })
    }

    fn outage_search<'a>(
        &'a self,
        req: &'a SearchInput,
    ) -> BoxFut<'a, Result<SearchResponse, ClientError>> {
        Box::pin(async move {
            self.apply().await?;
            self.inner.outage_search(req).await
        })
    }

    fn outage_select<'a>(
        &'a self,
        search_id: i64,
        candidate: u32,
        staff_id: Option<&'a str>,
    ) -> BoxFut<'a, Result<SelectResponse, ClientError>> {
        Box::pin(async move {
            self.apply().await?;
            self.inner
                .outage_select(search_id, candidate, staff_id)
                .await
        })
    }

    fn outage_step<'a>(
        &'a self,
        step: &'a OutageStep,
    ) -> BoxFut<'a, Result<OutageAnswer, ClientError>> {
        Box::pin(async move {
            self.apply().await?;
            self.inner.outage_step(step).await
        })
    }
    fn medical_info<'a>(
        &'a self,
        q: &'a MedicalInfoQuery,
    ) -> BoxFut<'a, Result<MedicalInfoAnswer, ClientError>> {
        Box::pin(async move {
            self.apply().await?;
            self.inner.medical_info(q).await
        })
    }

    fn medical_views<'a>(
        &'a self,
        limit: u32,
    ) -> BoxFut<'a, Result<Vec<MedicalView>, ClientError>> {
        Box::pin(async move {
            self.apply().await?;
            self.inner.medical_views(limit).await
        })
    }
}
