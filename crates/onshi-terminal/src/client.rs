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
use onshi_card::{IdentityAttempt, PinHasher, Reader};
use onshi_central::{CardConfirmation, Central, ConfirmationResponse, NumbersConfirmation};
use onshi_domain::card::{IdentityFailure, IdentityOutcome};
use onshi_domain::numbers::MedicalInstitutionCode;
use onshi_store::ChipStore;
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
}

/// A real central over HTTP (`onshi central`), authenticated as one facility.
pub struct HttpCentral {
    base: String,
    token: String,
    http: reqwest::Client,
}

#[derive(Serialize)]
struct ReaderBody<'a> {
    card_serial: &'a str,
    confirmation_date: NaiveDate,
    #[serde(skip_serializing_if = "Option::is_none")]
    face: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pin: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    visual_staff_id: Option<&'a str>,
    limit_consent: bool,
}

impl HttpCentral {
    /// `base` like `http://127.0.0.1:8470`; `token` the facility's bearer token.
    pub fn new(base: &str, token: &str) -> Result<Self, ClientError> {
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(5))
            .build()
            .map_err(|e| ClientError::Unreachable(e.to_string()))?;
        Ok(HttpCentral {
            base: base.trim_end_matches('/').to_string(),
            token: token.to_string(),
            http,
        })
    }

    async fn post<T: Serialize + ?Sized>(
        &self,
        path: &str,
        body: &T,
    ) -> Result<ConfirmationResponse, ClientError> {
        let r = self
            .http
            .post(format!("{}{path}", self.base))
            .bearer_auth(&self.token)
            .json(body)
            .send()
            .await
            .map_err(|e| ClientError::Unreachable(e.to_string()))?;
        let status = r.status().as_u16();
        let bytes = r
            .bytes()
            .await
            .map_err(|e| ClientError::Unreachable(e.to_string()))?;
        if status != 200 {
            return Err(ClientError::Refused {
                status,
                message: String::from_utf8_lossy(&bytes).chars().take(500).collect(),
            });
        }
        serde_json::from_slice(&bytes).map_err(|e| ClientError::Refused {
            status,
            message: format!("answer is not a confirmation response: {e}"),
        })
    }
}

impl CentralClient for HttpCentral {
    fn read_card<'a>(
        &'a self,
        req: &'a CardRead,
    ) -> BoxFut<'a, Result<ConfirmationResponse, ClientError>> {
        Box::pin(async move {
            let mut body = ReaderBody {
                card_serial: &req.card_serial,
                confirmation_date: req.confirmation_date,
                face: None,
                pin: None,
                visual_staff_id: None,
                limit_consent: req.limit_consent,
            };
            match &req.identity {
                Identity::Face { matched } => {
                    body.face = Some(if *matched { "ok" } else { "fail" })
                }
                Identity::Pin(p) => body.pin = Some(&p.0),
                Identity::Visual { staff_id } => body.visual_staff_id = Some(staff_id),
            }
            self.post("/v1/reader/confirm", &body).await
        })
    }

    fn confirm_numbers<'a>(
        &'a self,
        req: &'a NumbersConfirmation,
    ) -> BoxFut<'a, Result<ConfirmationResponse, ClientError>> {
        Box::pin(async move { self.post("/v1/confirmations/numbers", req).await })
    }
}

/// The central's services and the emulated chip in this process (for `onshi demo`).
pub struct InProcessCentral {
    central: Central,
    chips: Arc<dyn ChipStore>,
    pins: PinHasher,
    facility: MedicalInstitutionCode,
}

impl InProcessCentral {
    pub fn new(
        central: Central,
        chips: Arc<dyn ChipStore>,
        pins: PinHasher,
        facility: MedicalInstitutionCode,
    ) -> Self {
        InProcessCentral {
            central,
            chips,
            pins,
            facility,
        }
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
            let attempt = match &req.identity {
                Identity::Face { matched } => IdentityAttempt::Face { matched: *matched },
                Identity::Pin(p) => {
                    IdentityAttempt::Pin(onshi_card::Pin::parse(&p.0).map_err(internal)?)
                }
                Identity::Visual { staff_id } => IdentityAttempt::Visual {
                    staff_id: staff_id.clone(),
                },
            };
            let reader = Reader::new(self.chips.as_ref(), &self.pins);
            let identity = match reader.identify(&req.card_serial, &attempt) {
                Ok(o) => o,
                Err(onshi_card::CardError::UnknownCard(_)) => IdentityOutcome::Refused {
                    failure: IdentityFailure::ChipUnreadable,
                },
                Err(e) => return Err(internal(e)),
            };
            let c = CardConfirmation {
                confirmation_date: req.confirmation_date,
                card_serial: req.card_serial.clone(),
                identity,
                limit_consent: req.limit_consent,
            };
            self.central
                .confirm_by_card(&self.facility, &c)
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
}
