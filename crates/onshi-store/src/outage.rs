//! Storage of the system-outage mode (システム障害時モード, R12–R14): the facilities' registered
//! call-back numbers, the call-centre operators, each activation request and its steps (R13),
//! the append-only event log of the procedure, the audit of every search, and the indexed
//! person lookup the search runs on.
//!
//! The states and their transitions are defined here, as data ([`Step::allowed_from`]), so
//! every backend and the service agree on them:
//!
//! | step | from | to | who |
//! | --- | --- | --- | --- |
//! | request | (none open for the facility) | `requested` | facility, or an operator taking the call |
//! | verify (call-back on the registered number) | `requested` | `verified` | operator |
//! | issue_form (usage-report form e-mailed) | `verified` | `form_issued` | operator |
//! | enable (window until …) | `form_issued` | `enabled` | operator |
//! | close (window ended early) | `enabled` | `closed` | operator |
//! | report (「システム障害時機能の利用報告」) | `enabled`, `closed` | `reported` | facility |
//! | cancel | `requested`, `verified`, `form_issued` | `cancelled` | facility or operator |
//!
//! Searches are allowed only in `enabled` and only while the window (`enabled_at` ..
//! `window_until`) is open; the window's end is a time, not a transition: a request whose
//! window has passed stays `enabled` until it is reported or closed, and refuses searches.
//!
//! Boundary rules as for the rest of the store: one transaction per write; a step is applied
//! only from the states it allows (checked in the same transaction, so two operators cannot
//! both enable one request); the event log and the audit are append-only.

use chrono::NaiveDate;
use onshi_domain::numbers::{MedicalInstitutionCode, Sex};
use rusqlite::{Connection, OptionalExtension, Row, params};
use serde::{Deserialize, Serialize};

use crate::sqlite::Filtered;
use crate::{PersonId, PersonRecord, QualificationRecord, Result, SqliteStore, StoreError};

/// Applied by [`SqliteStore::open`] after the main schema.
pub const SCHEMA: &str = include_str!("outage.sql");

/// State of an activation request (R13).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum OutageState {
    /// The facility asked for the function (by phone to the call centre, or over the API).
    Requested,
    /// An operator called back on the number registered for the facility and reached it.
    Verified,
    /// The usage-report form (利用報告書) was sent to the facility.
    FormIssued,
    /// The operator enabled the function for a window (利用設定).
    Enabled,
    /// The operator ended the window early.
    Closed,
    /// The facility submitted its usage report (「システム障害時機能の利用報告」).
    Reported,
    /// Withdrawn before it was enabled.
    Cancelled,
}

impl OutageState {
    pub const ALL: [OutageState; 7] = [
        OutageState::Requested,
        OutageState::Verified,
        OutageState::FormIssued,
        OutageState::Enabled,
        OutageState::Closed,
        OutageState::Reported,
        OutageState::Cancelled,
    ];

    pub fn code(self) -> &'static str {
        match self {
            OutageState::Requested => "requested",
            OutageState::Verified => "verified",
            OutageState::FormIssued => "form_issued",
            OutageState::Enabled => "enabled",
            OutageState::Closed => "closed",
            OutageState::Reported => "reported",
            OutageState::Cancelled => "cancelled",
        }
    }

    /// The label on the Japanese screens.
    pub fn label_ja(self) -> &'static str {
        match self {
            OutageState::Requested => "受付済み（折り返し電話待ち）",
            OutageState::Verified => "電話確認済み（利用報告書送付待ち）",
            OutageState::FormIssued => "利用報告書送付済み（利用設定待ち）",
            OutageState::Enabled => "利用設定済み",
            OutageState::Closed => "利用終了（利用報告待ち）",
            OutageState::Reported => "利用報告済み",
            OutageState::Cancelled => "取消",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|x| x.code() == s)
    }

    /// A request in one of these states blocks a new request for the same facility.
    pub fn is_open(self) -> bool {
        matches!(
            self,
            OutageState::Requested
                | OutageState::Verified
                | OutageState::FormIssued
                | OutageState::Enabled
        )
    }
}

/// One step of the procedure after the request itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "step", rename_all = "snake_case")]
pub enum Step {
    /// Call-back made on `phone` (already checked against the registered number).
    Verify { phone: String },
    /// Usage-report form sent to `email`.
    IssueForm { email: String },
    /// Enabled until `until` (RFC 3339).
    Enable { until: String },
    /// Window ended early by an operator.
    Close,
    /// Usage report received (JSON as submitted).
    Report { report: serde_json::Value },
    /// Withdrawn.
    Cancel,
}

impl Step {
    pub fn code(&self) -> &'static str {
        match self {
            Step::Verify { .. } => "verify",
            Step::IssueForm { .. } => "issue_form",
            Step::Enable { .. } => "enable",
            Step::Close => "close",
            Step::Report { .. } => "report",
            Step::Cancel => "cancel",
        }
    }

    /// The states this step may be taken from (the transition table above).
    pub fn allowed_from(&self) -> &'static [OutageState] {
        use OutageState::*;
        match self {
            Step::Verify { .. } => &[Requested],
            Step::IssueForm { .. } => &[Verified],
            Step::Enable { .. } => &[FormIssued],
            Step::Close => &[Enabled],
            Step::Report { .. } => &[Enabled, Closed],
            Step::Cancel => &[Requested, Verified, FormIssued],
        }
    }

    /// The state after the step.
    pub fn target(&self) -> OutageState {
        match self {
            Step::Verify { .. } => OutageState::Verified,
            Step::IssueForm { .. } => OutageState::FormIssued,
            Step::Enable { .. } => OutageState::Enabled,
            Step::Close => OutageState::Closed,
            Step::Report { .. } => OutageState::Reported,
            Step::Cancel => OutageState::Cancelled,
        }
    }
}

/// An activation request with the time and actor of every step taken so far. Actors are
/// `operator:<name>` or `facility:<code>` (with `/<staff>` when the facility named one).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct OutageRequest {
    pub id: i64,
    pub facility: String,
    /// the facility name as told on the phone / typed in the request
    pub facility_name: String,
    pub contact_person: String,
    pub reason: String,
    pub state: OutageState,
    pub requested_at: String,
    pub requested_by: String,
    pub verified_at: Option<String>,
    pub verified_by: Option<String>,
    pub callback_phone: Option<String>,
    pub form_issued_at: Option<String>,
    pub form_issued_by: Option<String>,
    pub form_email: Option<String>,
    pub enabled_at: Option<String>,
    pub enabled_by: Option<String>,
    pub window_until: Option<String>,
    pub closed_at: Option<String>,
    pub closed_by: Option<String>,
    pub reported_at: Option<String>,
    pub reported_by: Option<String>,
    pub report: Option<serde_json::Value>,
    pub cancelled_at: Option<String>,
    pub cancelled_by: Option<String>,
}

/// What a new request carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewRequest {
    pub facility: MedicalInstitutionCode,
    pub facility_name: String,
    pub contact_person: String,
    pub reason: String,
    pub at: String,
    pub by: String,
}

/// One line of the procedure's event log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct OutageEvent {
    /// assigned by the store
    pub id: i64,
    pub request_id: Option<i64>,
    pub facility: String,
    pub at: String,
    pub actor: String,
    /// `request`, a [`Step::code`], or a refusal such as `verify_refused`, `search_refused`
    pub action: String,
    pub detail: serde_json::Value,
}

/// A call-centre operator.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Operator {
    pub id: i64,
    pub name: String,
}

/// A facility's registered contact details, with its registered name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct FacilityContact {
    pub facility: String,
    pub registered_name: String,
    /// digits only, as normalised when registered
    pub phone: String,
    pub email: Option<String>,
    pub updated_at: String,
}

/// The indexed part of the outage search (R14): persons born on `birthdate`, of `sex`, whose
/// kana key and/or name key equal the given keys. At least one key must be given.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PersonQuery {
    pub birthdate: NaiveDate,
    pub sex: Sex,
    /// [`onshi_domain::kana::kana_key`] of the name kana
    pub kana_key: Option<String>,
    /// [`onshi_domain::kana::name_key`] of the name
    pub name_key: Option<String>,
    /// at most this many ids are returned (ascending)
    pub limit: u32,
}

/// A person with their full history: what the search shows of each match.
pub type PersonWithHistory = (PersonRecord, Vec<QualificationRecord>);

/// Kind of an audit line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum AuditKind {
    /// a search that ran
    Search,
    /// staff chose one of a search's candidates
    Select,
    /// a search or choice refused (not enabled, window closed, bad input)
    Refused,
}

impl AuditKind {
    pub fn code(self) -> &'static str {
        match self {
            AuditKind::Search => "search",
            AuditKind::Select => "select",
            AuditKind::Refused => "refused",
        }
    }
    /// As the screens name it.
    pub fn label(self) -> &'static str {
        match self {
            AuditKind::Search => "検索",
            AuditKind::Select => "選択",
            AuditKind::Refused => "拒否",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        [AuditKind::Search, AuditKind::Select, AuditKind::Refused]
            .into_iter()
            .find(|k| k.code() == s)
    }
}

/// One line of the search audit (R14; issue: criteria, hits, chosen person, staff, time).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct AuditEntry {
    /// assigned by the store
    pub id: i64,
    pub facility: String,
    pub request_id: Option<i64>,
    pub at: String,
    pub staff_id: Option<String>,
    pub kind: AuditKind,
    /// the criteria as entered (search, refused) or `{search_id, candidate}` (select)
    pub criteria: serde_json::Value,
    pub hits: Option<u32>,
    /// the candidates shown, in order (candidate 1 is the first)
    #[schema(value_type = Vec<i64>)]
    pub hit_person_ids: Vec<PersonId>,
    pub search_id: Option<i64>,
    #[schema(value_type = Option<i64>)]
    pub chosen_person_id: Option<PersonId>,
    /// `hits`, `no_hits`, `too_many`; a 資格有効性 code for a choice; the rule of a refusal
    pub outcome: String,
    pub message: Option<String>,
}

/// Filter for listing requests. `facility: None` lists all (operators only).
#[derive(Debug, Clone, Default)]
pub struct RequestFilter {
    pub facility: Option<String>,
    pub state: Option<OutageState>,
    pub limit: Option<u32>,
    pub before_id: Option<i64>,
}

/// Filter for listing the audit. `facility: None` lists all (operators only).
#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    pub facility: Option<String>,
    pub kind: Option<AuditKind>,
    pub limit: Option<u32>,
    pub before_id: Option<i64>,
}

/// The storage interface of the outage mode.
pub trait OutageStore: Send + Sync {
    /// Registers an operator, or re-keys one of the same name.
    fn upsert_operator(&self, name: &str, token_hash: &str, at: &str) -> Result<Operator>;
    fn operator_by_token_hash(&self, token_hash: &str) -> Result<Option<Operator>>;

    /// Sets the registered call-back number (digits) and e-mail of a known facility;
    /// `Conflict` when the facility is not registered.
    fn set_facility_contact(
        &self,
        facility: &MedicalInstitutionCode,
        phone: &str,
        email: Option<&str>,
        at: &str,
    ) -> Result<()>;
    /// The registered contact, or `None` when the facility has none (or is unknown).
    fn facility_contact(&self, facility: &str) -> Result<Option<FacilityContact>>;
    /// The registered name of a facility, `None` when unknown.
    fn facility_name(&self, facility: &str) -> Result<Option<String>>;

    /// Creates a request in state `requested` and logs it; `Conflict` when the facility
    /// already has an open one ([`OutageState::is_open`]).
    fn create_request(&self, r: &NewRequest) -> Result<OutageRequest>;
    fn request(&self, id: i64) -> Result<Option<OutageRequest>>;
    /// Newest first.
    fn list_requests(&self, f: &RequestFilter) -> Result<Vec<OutageRequest>>;
    /// Applies `step` when the request is in one of [`Step::allowed_from`], records who and
    /// when, and logs the event — all in one transaction. `Conflict` naming the current state
    /// otherwise.
    fn apply_step(&self, id: i64, step: &Step, at: &str, by: &str) -> Result<OutageRequest>;
    /// The facility's newest request in state `enabled`, if any (window not checked here).
    fn enabled_request(&self, facility: &str) -> Result<Option<OutageRequest>>;

    /// Appends to the event log (refused steps and searches); returns the id.
    fn append_event(&self, e: &OutageEvent) -> Result<i64>;
    /// Events of a request, oldest first.
    fn events(&self, request_id: i64) -> Result<Vec<OutageEvent>>;
    /// Events of a facility (including those attached to no request), newest first.
    fn facility_events(&self, facility: &str, limit: u32) -> Result<Vec<OutageEvent>>;

    /// The indexed lookup of the search (R14): ids of matching persons, ascending.
    fn search_person_ids(&self, q: &PersonQuery) -> Result<Vec<PersonId>>;
    /// [`OutageStore::search_person_ids`] with each match's person and full history (in id
    /// order, each history in qualification-date order), from one snapshot: for a backend
    /// where each read is a round trip to a server (PostgreSQL: one statement instead of one
    /// plus two per match). `None`: the backend has no such read, and the caller reads each
    /// match's history itself (SQLite, whose reads are local).
    fn search_persons_with_history(
        &self,
        _q: &PersonQuery,
    ) -> Option<Result<Vec<PersonWithHistory>>> {
        None
    }

    /// Appends to the audit durably; returns the id.
    fn append_audit(&self, a: &AuditEntry) -> Result<i64>;
    /// Several audit lines in one transaction (one durable commit), ids in the same order:
    /// the outage search's group commit.
    fn append_audits(&self, entries: &[AuditEntry]) -> Result<Vec<i64>> {
        entries.iter().map(|a| self.append_audit(a)).collect()
    }
    fn audit_entry(&self, id: i64) -> Result<Option<AuditEntry>>;
    /// Newest first.
    fn list_audit(&self, f: &AuditFilter) -> Result<Vec<AuditEntry>>;
}

// ---------------------------------------------------------------------------------------------
// SQLite

impl SqliteStore {
    /// Reads through the store's reader pool (the outage tables live in the registry file).
    fn outage_read<T>(&self, f: impl FnOnce(&Connection) -> Result<T>) -> Result<T> {
        self.with_reader(f)
    }

    /// Writes audit lines in one immediate transaction of the history file, where the search
    /// audit lives (`logs.sql`): a commit there leaves the registry readers' caches warm.
    fn audit_write<T>(&self, f: impl FnOnce(&rusqlite::Transaction<'_>) -> Result<T>) -> Result<T> {
        self.with_history_writer(|w| immediate(w, f))
    }

    /// Writes in one immediate transaction on the store's writer connection.
    fn outage_write<T>(
        &self,
        f: impl FnOnce(&rusqlite::Transaction<'_>) -> Result<T>,
    ) -> Result<T> {
        self.with_writer(|w| immediate(w, f))
    }
}

/// Runs `f` in one immediate transaction of `w` and commits it (rolled back on an error).
fn immediate<T>(
    w: &mut rusqlite::Connection,
    f: impl FnOnce(&rusqlite::Transaction<'_>) -> Result<T>,
) -> Result<T> {
    let tx = rusqlite::Transaction::new(w, rusqlite::TransactionBehavior::Immediate)?;
    let v = f(&tx)?;
    tx.commit()?;
    Ok(v)
}

fn corrupt(what: &str, e: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(format!("{what}: {e}"))
}

const REQ_COLS: &str = "id, facility, facility_name, contact_person, reason, state, \
    requested_at, requested_by, verified_at, verified_by, callback_phone, form_issued_at, \
    form_issued_by, form_email, enabled_at, enabled_by, window_until, closed_at, closed_by, \
    reported_at, reported_by, report, cancelled_at, cancelled_by";

fn request_from_row(r: &Row<'_>) -> Result<OutageRequest> {
    let state: String = r.get(5)?;
    let report: Option<String> = r.get(21)?;
    Ok(OutageRequest {
        id: r.get(0)?,
        facility: r.get(1)?,
        facility_name: r.get(2)?,
        contact_person: r.get(3)?,
        reason: r.get(4)?,
        state: OutageState::parse(&state).ok_or_else(|| corrupt("outage_request.state", &state))?,
        requested_at: r.get(6)?,
        requested_by: r.get(7)?,
        verified_at: r.get(8)?,
        verified_by: r.get(9)?,
        callback_phone: r.get(10)?,
        form_issued_at: r.get(11)?,
        form_issued_by: r.get(12)?,
        form_email: r.get(13)?,
        enabled_at: r.get(14)?,
        enabled_by: r.get(15)?,
        window_until: r.get(16)?,
        closed_at: r.get(17)?,
        closed_by: r.get(18)?,
        reported_at: r.get(19)?,
        reported_by: r.get(20)?,
        report: report
            .map(|s| serde_json::from_str(&s))
            .transpose()
            .map_err(|e| corrupt("outage_request.report", e))?,
        cancelled_at: r.get(22)?,
        cancelled_by: r.get(23)?,
    })
}

fn request_by_id(c: &Connection, id: i64) -> Result<Option<OutageRequest>> {
    let mut st = c.prepare_cached(&format!(
        "SELECT {REQ_COLS} FROM outage_request WHERE id = ?1"
    ))?;
    let mut rows = st.query([id])?;
    match rows.next()? {
        Some(r) => Ok(Some(request_from_row(r)?)),
        None => Ok(None),
    }
}

fn insert_event(c: &Connection, e: &OutageEvent) -> Result<i64> {
    c.prepare_cached(
        "INSERT INTO outage_event (request_id, facility, at, actor, action, detail) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )?
    .execute(params![
        e.request_id,
        e.facility,
        e.at,
        e.actor,
        e.action,
        e.detail.to_string()
    ])?;
    Ok(c.last_insert_rowid())
}

fn event_from_row(r: &Row<'_>) -> Result<OutageEvent> {
    let detail: String = r.get(6)?;
    Ok(OutageEvent {
        id: r.get(0)?,
        request_id: r.get(1)?,
        facility: r.get(2)?,
        at: r.get(3)?,
        actor: r.get(4)?,
        action: r.get(5)?,
        detail: serde_json::from_str(&detail).map_err(|e| corrupt("outage_event.detail", e))?,
    })
}

const AUDIT_COLS: &str = "id, facility, request_id, at, staff_id, kind, criteria, hits, \
    hit_person_ids, search_id, chosen_person_id, outcome, message";

fn audit_from_row(r: &Row<'_>) -> Result<AuditEntry> {
    let kind: String = r.get(5)?;
    let criteria: String = r.get(6)?;
    let hit_ids: String = r.get(8)?;
    Ok(AuditEntry {
        id: r.get(0)?,
        facility: r.get(1)?,
        request_id: r.get(2)?,
        at: r.get(3)?,
        staff_id: r.get(4)?,
        kind: AuditKind::parse(&kind).ok_or_else(|| corrupt("outage_audit.kind", &kind))?,
        criteria: serde_json::from_str(&criteria)
            .map_err(|e| corrupt("outage_audit.criteria", e))?,
        hits: r.get(7)?,
        hit_person_ids: serde_json::from_str(&hit_ids)
            .map_err(|e| corrupt("outage_audit.hit_person_ids", e))?,
        search_id: r.get(9)?,
        chosen_person_id: r.get(10)?,
        outcome: r.get(11)?,
        message: r.get(12)?,
    })
}

fn limit_of(l: Option<u32>) -> i64 {
    i64::from(l.unwrap_or(100).clamp(1, 1000))
}

impl OutageStore for SqliteStore {
    fn upsert_operator(&self, name: &str, token_hash: &str, at: &str) -> Result<Operator> {
        self.outage_write(|tx| {
            let id: i64 = tx
                .prepare_cached(
                    "INSERT INTO outage_operator (name, token_hash, created_at) VALUES (?1, ?2, ?3) \
                     ON CONFLICT(name) DO UPDATE SET token_hash = excluded.token_hash \
                     RETURNING id",
                )?
                .query_row(params![name, token_hash, at], |r| r.get(0))?;
            Ok(Operator {
                id,
                name: name.to_string(),
            })
        })
    }

    fn operator_by_token_hash(&self, token_hash: &str) -> Result<Option<Operator>> {
        self.outage_read(|c| {
            Ok(
                c.prepare_cached("SELECT id, name FROM outage_operator WHERE token_hash = ?1")?
                    .query_row([token_hash], |r| {
                        Ok(Operator {
                            id: r.get(0)?,
                            name: r.get(1)?,
                        })
                    })
                    .optional()?,
            )
        })
    }

    fn set_facility_contact(
        &self,
        facility: &MedicalInstitutionCode,
        phone: &str,
        email: Option<&str>,
        at: &str,
    ) -> Result<()> {
        self.outage_write(|tx| {
            let known: Option<String> = tx
                .prepare_cached("SELECT code FROM facility WHERE code = ?1")?
                .query_row([facility.as_str()], |r| r.get(0))
                .optional()?;
            if known.is_none() {
                return Err(StoreError::Conflict(format!(
                    "facility {} is not registered (add it first)",
                    facility.as_str()
                )));
            }
            tx.prepare_cached(
                "INSERT INTO outage_facility_contact (facility, phone, email, updated_at) \
                 VALUES (?1, ?2, ?3, ?4) ON CONFLICT(facility) DO UPDATE SET \
                 phone = excluded.phone, email = excluded.email, updated_at = excluded.updated_at",
            )?
            .execute(params![facility.as_str(), phone, email, at])?;
            Ok(())
        })
    }

    fn facility_contact(&self, facility: &str) -> Result<Option<FacilityContact>> {
        self.outage_read(|c| {
            Ok(c.prepare_cached(
                "SELECT c.facility, f.name, c.phone, c.email, c.updated_at \
                 FROM outage_facility_contact c JOIN facility f ON f.code = c.facility \
                 WHERE c.facility = ?1",
            )?
            .query_row([facility], |r| {
                Ok(FacilityContact {
                    facility: r.get(0)?,
                    registered_name: r.get(1)?,
                    phone: r.get(2)?,
                    email: r.get(3)?,
                    updated_at: r.get(4)?,
                })
            })
            .optional()?)
        })
    }

    fn facility_name(&self, facility: &str) -> Result<Option<String>> {
        self.outage_read(|c| {
            Ok(
                c.prepare_cached("SELECT name FROM facility WHERE code = ?1")?
                    .query_row([facility], |r| r.get(0))
                    .optional()?,
            )
        })
    }

    fn create_request(&self, n: &NewRequest) -> Result<OutageRequest> {
        self.outage_write(|tx| {
            let open: Option<(i64, String)> = tx
                .prepare_cached(
                    "SELECT id, state FROM outage_request WHERE facility = ?1 \
                     AND state IN ('requested', 'verified', 'form_issued', 'enabled') \
                     ORDER BY id DESC LIMIT 1",
                )?
                .query_row([n.facility.as_str()], |r| Ok((r.get(0)?, r.get(1)?)))
                .optional()?;
            if let Some((id, state)) = open {
                return Err(StoreError::Conflict(format!(
                    "facility {} already has request {id} in state {state}",
                    n.facility.as_str()
                )));
            }
            tx.prepare_cached(
                "INSERT INTO outage_request (facility, facility_name, contact_person, reason, \
                 state, requested_at, requested_by) VALUES (?1, ?2, ?3, ?4, 'requested', ?5, ?6)",
            )?
            .execute(params![
                n.facility.as_str(),
                n.facility_name,
                n.contact_person,
                n.reason,
                n.at,
                n.by
            ])?;
            let id = tx.last_insert_rowid();
            insert_event(
                tx,
                &OutageEvent {
                    id: 0,
                    request_id: Some(id),
                    facility: n.facility.as_str().to_string(),
                    at: n.at.clone(),
                    actor: n.by.clone(),
                    action: "request".into(),
                    detail: serde_json::json!({
                        "facility_name": n.facility_name,
                        "contact_person": n.contact_person,
                        "reason": n.reason,
                    }),
                },
            )?;
            request_by_id(tx, id)?
                .ok_or_else(|| StoreError::Corrupt(format!("request {id} vanished")))
        })
    }

    fn request(&self, id: i64) -> Result<Option<OutageRequest>> {
        self.outage_read(|c| request_by_id(c, id))
    }

    fn list_requests(&self, f: &RequestFilter) -> Result<Vec<OutageRequest>> {
        let mut q = Filtered::new(
            &format!("SELECT {REQ_COLS} FROM outage_request WHERE 1 = 1"),
            None,
        );
        q.and("facility = ?", f.facility.clone());
        q.and("state = ?", f.state.map(|s| s.code().to_string()));
        q.and("id < ?", f.before_id);
        self.outage_read(|c| q.newest_first(c, limit_of(f.limit), request_from_row))
    }

    fn apply_step(&self, id: i64, step: &Step, at: &str, by: &str) -> Result<OutageRequest> {
        self.outage_write(|tx| {
            let current = request_by_id(tx, id)?
                .ok_or_else(|| StoreError::Conflict(format!("no outage request {id}")))?;
            if !step.allowed_from().contains(&current.state) {
                return Err(StoreError::Conflict(format!(
                    "request {id} is {}; {} is allowed only from {}",
                    current.state.code(),
                    step.code(),
                    step.allowed_from()
                        .iter()
                        .map(|s| s.code())
                        .collect::<Vec<_>>()
                        .join(", ")
                )));
            }
            let target = step.target().code();
            let (sql, extra): (&str, Option<String>) = match step {
                Step::Verify { phone } => (
                    "UPDATE outage_request SET state = ?2, verified_at = ?3, verified_by = ?4, \
                     callback_phone = ?5 WHERE id = ?1",
                    Some(phone.clone()),
                ),
                Step::IssueForm { email } => (
                    "UPDATE outage_request SET state = ?2, form_issued_at = ?3, \
                     form_issued_by = ?4, form_email = ?5 WHERE id = ?1",
                    Some(email.clone()),
                ),
                Step::Enable { until } => (
                    "UPDATE outage_request SET state = ?2, enabled_at = ?3, enabled_by = ?4, \
                     window_until = ?5 WHERE id = ?1",
                    Some(until.clone()),
                ),
                Step::Close => (
                    "UPDATE outage_request SET state = ?2, closed_at = ?3, closed_by = ?4 \
                     WHERE id = ?1",
                    None,
                ),
                Step::Report { report } => (
                    "UPDATE outage_request SET state = ?2, reported_at = ?3, reported_by = ?4, \
                     report = ?5 WHERE id = ?1",
                    Some(report.to_string()),
                ),
                Step::Cancel => (
                    "UPDATE outage_request SET state = ?2, cancelled_at = ?3, cancelled_by = ?4 \
                     WHERE id = ?1",
                    None,
                ),
            };
            let mut st = tx.prepare_cached(sql)?;
            match extra {
                Some(x) => st.execute(params![id, target, at, by, x])?,
                None => st.execute(params![id, target, at, by])?,
            };
            let detail = serde_json::to_value(step).unwrap_or(serde_json::Value::Null);
            insert_event(
                tx,
                &OutageEvent {
                    id: 0,
                    request_id: Some(id),
                    facility: current.facility.clone(),
                    at: at.to_string(),
                    actor: by.to_string(),
                    action: step.code().to_string(),
                    detail,
                },
            )?;
            request_by_id(tx, id)?
                .ok_or_else(|| StoreError::Corrupt(format!("request {id} vanished")))
        })
    }

    fn enabled_request(&self, facility: &str) -> Result<Option<OutageRequest>> {
        self.outage_read(|c| {
            let mut st = c.prepare_cached(&format!(
                "SELECT {REQ_COLS} FROM outage_request WHERE facility = ?1 AND state = 'enabled' \
                 ORDER BY id DESC LIMIT 1"
            ))?;
            let mut rows = st.query([facility])?;
            match rows.next()? {
                Some(r) => Ok(Some(request_from_row(r)?)),
                None => Ok(None),
            }
        })
    }

    fn append_event(&self, e: &OutageEvent) -> Result<i64> {
        self.outage_write(|tx| insert_event(tx, e))
    }

    fn events(&self, request_id: i64) -> Result<Vec<OutageEvent>> {
        self.outage_read(|c| {
            let mut st = c.prepare_cached(
                "SELECT id, request_id, facility, at, actor, action, detail FROM outage_event \
                 WHERE request_id = ?1 ORDER BY id",
            )?;
            let mut rows = st.query([request_id])?;
            let mut out = Vec::new();
            while let Some(r) = rows.next()? {
                out.push(event_from_row(r)?);
            }
            Ok(out)
        })
    }

    fn facility_events(&self, facility: &str, limit: u32) -> Result<Vec<OutageEvent>> {
        self.outage_read(|c| {
            let mut st = c.prepare_cached(
                "SELECT id, request_id, facility, at, actor, action, detail FROM outage_event \
                 WHERE facility = ?1 ORDER BY id DESC LIMIT ?2",
            )?;
            let mut rows = st.query(params![facility, limit_of(Some(limit))])?;
            let mut out = Vec::new();
            while let Some(r) = rows.next()? {
                out.push(event_from_row(r)?);
            }
            Ok(out)
        })
    }

    fn search_person_ids(&self, q: &PersonQuery) -> Result<Vec<PersonId>> {
        let birth = q.birthdate.format("%Y-%m-%d").to_string();
        let limit = i64::from(q.limit.max(1));
        self.outage_read(|c| {
            let mut out = Vec::new();
            match (&q.kana_key, &q.name_key) {
                (Some(k), name) => {
                    // person_by_kana_birth (kana_key, birthdate)
                    let mut st = c.prepare_cached(
                        "SELECT id FROM person WHERE kana_key = ?1 AND birthdate = ?2 \
                         AND sex = ?3 AND (?4 IS NULL OR name_key = ?4) ORDER BY id LIMIT ?5",
                    )?;
                    let mut rows = st.query(params![k, birth, q.sex.code(), name, limit])?;
                    while let Some(r) = rows.next()? {
                        out.push(r.get(0)?);
                    }
                }
                (None, Some(n)) => {
                    // outage_person_by_name_birth (name_key, birthdate)
                    let mut st = c.prepare_cached(
                        "SELECT id FROM person WHERE name_key = ?1 AND birthdate = ?2 \
                         AND sex = ?3 ORDER BY id LIMIT ?4",
                    )?;
                    let mut rows = st.query(params![n, birth, q.sex.code(), limit])?;
                    while let Some(r) = rows.next()? {
                        out.push(r.get(0)?);
                    }
                }
                (None, None) => {
                    return Err(StoreError::Conflict(
                        "a person search needs a kana key or a name key".into(),
                    ));
                }
            }
            Ok(out)
        })
    }

    fn append_audit(&self, a: &AuditEntry) -> Result<i64> {
        self.audit_write(|tx| insert_audit(tx, a))
    }

    fn append_audits(&self, entries: &[AuditEntry]) -> Result<Vec<i64>> {
        self.audit_write(|tx| entries.iter().map(|a| insert_audit(tx, a)).collect())
    }

    fn audit_entry(&self, id: i64) -> Result<Option<AuditEntry>> {
        self.with_history_reader(|c| {
            let mut st = c.prepare_cached(&format!(
                "SELECT {AUDIT_COLS} FROM outage_audit WHERE id = ?1"
            ))?;
            let mut rows = st.query([id])?;
            match rows.next()? {
                Some(r) => Ok(Some(audit_from_row(r)?)),
                None => Ok(None),
            }
        })
    }

    fn list_audit(&self, f: &AuditFilter) -> Result<Vec<AuditEntry>> {
        let mut q = Filtered::new(
            &format!("SELECT {AUDIT_COLS} FROM outage_audit WHERE 1 = 1"),
            None,
        );
        q.and("facility = ?", f.facility.clone());
        q.and("kind = ?", f.kind.map(|k| k.code().to_string()));
        q.and("id < ?", f.before_id);
        self.with_history_reader(|c| q.newest_first(c, limit_of(f.limit), audit_from_row))
    }
}

fn insert_audit(tx: &rusqlite::Transaction<'_>, a: &AuditEntry) -> Result<i64> {
    let hit_ids = serde_json::to_string(&a.hit_person_ids)
        .map_err(|e| corrupt("outage_audit.hit_person_ids", e))?;
    tx.prepare_cached(
        "INSERT INTO outage_audit (facility, request_id, at, staff_id, kind, criteria, \
         hits, hit_person_ids, search_id, chosen_person_id, outcome, message) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
    )?
    .execute(params![
        a.facility,
        a.request_id,
        a.at,
        a.staff_id,
        a.kind.code(),
        a.criteria.to_string(),
        a.hits,
        hit_ids,
        a.search_id,
        a.chosen_person_id,
        a.outcome,
        a.message
    ])?;
    Ok(tx.last_insert_rowid())
}
