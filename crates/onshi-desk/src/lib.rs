//! The reception desk at a facility's terminal: visits (one record per reception, in the desk's
//! own SQLite file beside the terminal's data), the 被保険者資格申立書 (R24–R27), and the clerk's
//! Japanese web screens — the reader panel, the result, the confirmation history (R6), the
//! guided fallback, the 申立書 entry and print, the share to charge.
//!
//! Every decision comes from the one engine, `onshi_domain::desk::assess`: a visit stores its
//! situation, each screen records one more fact, and the engine says what to do next. The
//! situation of any visit can be read as JSON (`/desk/visits/{id}/situation.json`) and given
//! to `onshi assess`, which answers the same.
//!
//! Boundary: the desk reaches the card reader and the history only through
//! [`onshi_terminal::Terminal`]; it never sees a PIN except to pass it to the reader session
//! (the chip checks it, `onshi-card`).

pub mod claims;
pub mod moushitatesho;
pub mod openapi;
pub mod print;
pub mod staff;
pub mod visits;
pub mod web;

use std::path::Path;

use axum::Router;
use onshi_domain::desk::FacilityType;
use onshi_terminal::Terminal;
use onshi_terminal::api::ApiToken;

pub use visits::{AfterFact, Visit, VisitError, VisitStore, purge};

/// The file of the desk's visits inside the terminal's data folder.
pub const VISITS_FILE: &str = "desk.sqlite";

/// What the desk's screens need.
#[derive(Clone)]
pub struct Desk {
    pub terminal: Terminal,
    pub visits: VisitStore,
    pub facility: FacilityType,
    /// The month's claims from these visits (`claims.sqlite` beside `desk.sqlite`).
    pub claims: claims::Claims,
    /// The facility's staff accounts (`staff.sqlite` beside `desk.sqlite`).
    pub staff: staff::StaffStore,
    /// A desk session ends after this long without activity.
    pub session_idle: std::time::Duration,
    /// The terminal's API token: the receipt computer's credential for the claims API under
    /// `/desk/api/` (`Authorization: Bearer`, read from `<data>/api.token`). Without one, the
    /// claims API takes only a signed-in staff session.
    pub api_token: Option<ApiToken>,
}

/// A desk session's default idle limit: 30 minutes.
pub const SESSION_IDLE: std::time::Duration = std::time::Duration::from_secs(30 * 60);

/// Clinic or pharmacy from the 医療機関コード's 点数表 digit (4 = 調剤).
pub fn facility_type(code: &str) -> FacilityType {
    if code.as_bytes().get(2) == Some(&b'4') {
        FacilityType::Pharmacy
    } else {
        FacilityType::Clinic
    }
}

impl Desk {
    /// Today in Japan, from the terminal's clock (the only place the desk reads time).
    pub fn today(&self) -> chrono::NaiveDate {
        self.terminal.clock().today()
    }

    /// Opens the desk of a terminal; its visits live in `desk.sqlite` in the terminal's data
    /// folder.
    pub fn open(terminal: Terminal) -> Result<Self, VisitError> {
        let path = terminal.exchange().data.join(VISITS_FILE);
        Self::open_at(terminal, &path)
    }

    pub fn open_at(terminal: Terminal, path: &Path) -> Result<Self, VisitError> {
        let visits = VisitStore::open_with_clock(path, terminal.clock().clone())?;
        let code = terminal.config().facility.as_str().to_string();
        let facility = facility_type(&code);
        let claims_path = path.with_file_name(claims::CLAIMS_FILE);
        let claims =
            claims::Claims::open(&claims_path, visits.clone(), &code).map_err(|e| match e {
                claims::ClaimsError::Sql(e) => VisitError::Sql(e),
                other => VisitError::Other(other.to_string()),
            })?;
        let staff = staff::StaffStore::open(&path.with_file_name(staff::STAFF_FILE))
            .map_err(|e| VisitError::Other(e.to_string()))?;
        Ok(Desk {
            terminal,
            visits,
            facility,
            claims,
            staff,
            session_idle: SESSION_IDLE,
            api_token: None,
        })
    }

    /// The same desk, taking `token` (the terminal's API token) on its claims API.
    pub fn with_api_token(mut self, token: ApiToken) -> Self {
        self.api_token = Some(token);
        self
    }
}

/// The desk's screens under `/desk/`.
pub fn router(desk: Desk) -> Router {
    web::router(desk)
}

/// The desk's screens for a terminal, for the terminal's API to merge (`/desk/`); its claims
/// API takes the terminal's API `token`. When the visit file cannot be opened, `/desk/` says
/// so instead.
pub fn routes(terminal: Terminal, token: ApiToken) -> Router {
    match Desk::open(terminal) {
        Ok(desk) => router(desk.with_api_token(token)),
        Err(e) => {
            tracing::error!(error = %e, "desk not available");
            let message = format!("受付画面を開けません: {e}");
            Router::new().route(
                "/desk/",
                axum::routing::get(move || {
                    let m = message.clone();
                    async move {
                        onshi_ui::page_with(
                            axum::http::StatusCode::SERVICE_UNAVAILABLE,
                            &onshi_ui::MessagePage::error(onshi_ui::Layout::new("受付"), m),
                        )
                    }
                }),
            )
        }
    }
}
