//! System-outage mode (システム障害時モード; 緊急時医療情報・資格確認機能 → 資格情報照会（システム
//! 障害時）), R12–R14 and R17.
//!
//! Two halves:
//! - **activation** (R13), a recorded procedure per facility: request → call-back on the number
//!   registered for the facility (another number is refused) → usage-report form issued →
//!   enabled for a window (default: until the end of the day in Japan) → searches → usage report
//!   titled [`REPORT_TITLE`]. States and transitions: [`onshi_store::outage`]. Every step is
//!   stored with its time (from the [`Clock`]) and its actor; refused steps are logged too.
//! - **the search** (R14), allowed only while the facility's window is open: birth date, sex and
//!   資格確認日 required; name or name kana matched exactly on the domain's keys
//!   ([`kana::name_key`], [`kana::kana_key`]); address or insurer name as a further condition.
//!   One hit shows the qualification at once; several give a numbered list and staff choose one.
//!   The answer is the qualification valid on the 資格確認日, or the lost one marked as such,
//!   with the numbers the claim needs (R17). Every search, choice and refusal is audited.
//!
//! "After the fact" (事後的, R12): the same search with a past 資格確認日 (the visit date), once
//! the facility is enabled again. The desk's worklist of unconfirmed visits calls
//! [`OutageService::search`] / [`OutageService::select`] and keeps the returned [`ClaimBasis`].

use std::sync::Arc;

use chrono::{DateTime, Duration, FixedOffset, NaiveDate, TimeZone};
use onshi_domain::codes::{LimitConsent, QualificationValidity};
use onshi_domain::kana;
use onshi_domain::numbers::{MedicalInstitutionCode, Sex};
use onshi_domain::qualification::{Outcome, Qualification, evaluate_by_card};
use onshi_store::outage::{
    AuditEntry, AuditFilter, AuditKind, FacilityContact, NewRequest, Operator, OutageEvent,
    OutageRequest, OutageState, OutageStore, PersonQuery, RequestFilter, Step,
};
use onshi_store::{PersonRecord, QualificationRecord, RegistryRead, StoreError};
use serde::{Deserialize, Serialize};

use crate::batcher::{Batcher, ids_or_error};
use crate::clock::{Clock, jst};
use crate::result::ResultOfQualificationConfirmation;

/// The title the usage report must carry (annex 2 of 保発0710第1号).
pub const REPORT_TITLE: &str = "システム障害時機能の利用報告";

/// At most this many candidates are listed; more ask staff to add conditions.
pub const MAX_HITS: usize = 30;

/// How many persons the indexed lookup may return before the address / insurer filter.
const MAX_SCAN: u32 = 500;

/// The longest window an operator may set.
pub const MAX_WINDOW_HOURS: i64 = 72;

/// Shortest address / insurer-name condition, in characters after normalisation.
const MIN_CONDITION_CHARS: usize = 2;

/// Why an outage-mode call was not carried out. Each names the rule and, for input, the field.
#[derive(Debug, thiserror::Error)]
pub enum OutageError {
    /// Bad or missing input (HTTP 400).
    #[error("{field}: {message}")]
    Invalid {
        field: &'static str,
        rule: &'static str,
        message: String,
    },
    /// Not allowed now: not enabled, window closed, call-back number not the registered one
    /// (HTTP 403). The attempt has been recorded.
    #[error("{message}")]
    Refused {
        field: Option<&'static str>,
        rule: &'static str,
        message: String,
    },
    /// No such request / search for this caller (HTTP 404).
    #[error("{message}")]
    NotFound {
        field: &'static str,
        message: String,
    },
    /// The step does not fit the request's state, or an open request exists (HTTP 409).
    #[error("{message}")]
    Conflict { rule: &'static str, message: String },
    #[error(transparent)]
    Store(StoreError),
}

impl From<StoreError> for OutageError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Conflict(m) => OutageError::Conflict {
                rule: "r13_state",
                message: m,
            },
            other => OutageError::Store(other),
        }
    }
}

fn invalid(field: &'static str, rule: &'static str, message: impl Into<String>) -> OutageError {
    let mut message = message.into();
    if !message.contains(field) {
        message = format!("{message}（{field}）");
    }
    OutageError::Invalid {
        field,
        rule,
        message,
    }
}

/// How long an enabled window lasts when the operator does not say.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WindowPolicy {
    /// until midnight at the end of the day (JST) on which it was enabled
    EndOfDay,
    /// this many hours from enabling
    Hours(u32),
}

#[derive(Debug, Clone, Copy)]
pub struct OutageConfig {
    pub default_window: WindowPolicy,
}

impl Default for OutageConfig {
    fn default() -> Self {
        OutageConfig {
            default_window: WindowPolicy::EndOfDay,
        }
    }
}

/// Who takes a step.
#[derive(Debug, Clone)]
pub enum Actor {
    Operator(Operator),
    Facility {
        code: MedicalInstitutionCode,
        staff_id: Option<String>,
    },
}

impl Actor {
    /// A facility acting, with the staff member it named (blank = none named).
    pub fn facility(code: &MedicalInstitutionCode, staff: Option<&str>) -> Self {
        Actor::Facility {
            code: code.clone(),
            staff_id: staff
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_string),
        }
    }

    /// As stored: `operator:<name>` or `facility:<code>[/<staff>]`.
    pub fn label(&self) -> String {
        match self {
            Actor::Operator(o) => format!("operator:{}", o.name),
            Actor::Facility { code, staff_id } => match staff_id {
                Some(s) => format!("facility:{}/{s}", code.as_str()),
                None => format!("facility:{}", code.as_str()),
            },
        }
    }
}

/// Body of a request (R13 step 1: 医療機関コード, 医療機関・薬局名, 担当者名, 利用希望の旨).
#[derive(Debug, Clone, Default, Serialize, Deserialize, utoipa::ToSchema)]
pub struct RequestInput {
    /// only when an operator files the call; a facility's own request uses its token's code
    #[serde(default)]
    pub facility_code: Option<String>,
    #[serde(default)]
    pub facility_name: Option<String>,
    #[serde(default)]
    pub contact_person: Option<String>,
    #[serde(default)]
    pub reason: Option<String>,
    /// who files it at the facility (the signed-in staff member of the facility's desk); the
    /// contact person when absent
    #[serde(default)]
    pub staff_id: Option<String>,
}

/// The usage report (利用報告書).
#[derive(Debug, Clone, Default, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ReportInput {
    /// must be exactly [`REPORT_TITLE`]
    #[serde(default)]
    pub title: Option<String>,
    /// 報告者 (who writes it)
    #[serde(default)]
    pub reporter: Option<String>,
    /// 障害の内容 (what failed and when)
    #[serde(default)]
    pub outage: Option<String>,
    /// number of patients whose qualification was confirmed with the function
    #[serde(default)]
    pub patients: Option<u32>,
    #[serde(default)]
    pub notes: Option<String>,
}

/// Search conditions as typed on 資格情報照会（システム障害時）. Dates `YYYY-MM-DD` or
/// `YYYYMMDD`; sex `1` 男 / `2` 女 / `3` 未設定 (OQSCD007).
#[derive(Debug, Clone, Default, Serialize, Deserialize, utoipa::ToSchema)]
pub struct SearchInput {
    /// who searches (kept in the audit); required
    #[serde(default)]
    pub staff_id: Option<String>,
    /// 生年月日 (required)
    #[serde(default)]
    pub birthdate: Option<String>,
    /// 性別 (required)
    #[serde(default)]
    pub sex: Option<String>,
    /// 資格確認日 (required): the date the qualification is confirmed for, e.g. the visit date
    #[serde(default)]
    pub confirmation_date: Option<String>,
    /// 氏名 (this or name_kana)
    #[serde(default)]
    pub name: Option<String>,
    /// 氏名（カナ） (this or name)
    #[serde(default)]
    pub name_kana: Option<String>,
    /// 住所 (this or insurer_name)
    #[serde(default)]
    pub address: Option<String>,
    /// 保険者名 (this or address)
    #[serde(default)]
    pub insurer_name: Option<String>,
}

/// Validated search conditions.
#[derive(Debug, Clone)]
struct Criteria {
    birthdate: NaiveDate,
    sex: Sex,
    confirmation_date: NaiveDate,
    name_key: Option<String>,
    kana_key: Option<String>,
    address_key: Option<String>,
    insurer_key: Option<String>,
}

/// One line of a hit list: enough to tell people of the same name and birth date apart.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Candidate {
    /// 1-based; what staff choose with
    pub candidate: u32,
    pub name: String,
    pub name_kana: String,
    pub sex: String,
    pub birthdate: NaiveDate,
    pub post_number: Option<String>,
    pub address: Option<String>,
    /// insurer of the qualification valid on the 資格確認日, else of the latest one
    pub insurer_name: Option<String>,
}

/// What a claim needs from the confirmation (R17): the numbers, and where they came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[schema(as = OutageClaimBasis)]
pub struct ClaimBasis {
    /// always `outage_search` (システム障害時モード)
    pub source: String,
    /// the audit line of the search or choice that produced it
    pub audit_id: i64,
    pub confirmation_date: NaiveDate,
    pub insurer_number: String,
    /// right-justified, space-padded to 8 as claims carry it
    pub insurer_number_claim_form: String,
    pub insured_card_symbol: String,
    pub insured_identification_number: String,
    pub insured_branch_number: String,
    /// the qualification had been lost on the 資格確認日 (資格（無効）, R19)
    pub lost: bool,
}

/// One qualification as shown on 資格情報確認.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ShownQualification {
    #[serde(flatten)]
    pub result: ResultOfQualificationConfirmation,
    /// 資格（無効）: shown as the lost qualification
    pub lost: bool,
    pub claim: ClaimBasis,
}

/// 資格情報確認: the chosen person's qualification on the 資格確認日.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct QualificationView {
    /// 資格有効性 (OQSCD006)
    pub qualification_validity: String,
    pub qualification_validity_label: String,
    pub confirmation_date: NaiveDate,
    pub qualifications: Vec<ShownQualification>,
}

/// Answer of a search.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct SearchResponse {
    /// audit id of this search; choose with it
    pub search_id: i64,
    /// `hits`, `no_hits`, `too_many`
    pub outcome: String,
    pub hits: u32,
    pub message: String,
    pub candidates: Vec<Candidate>,
    /// present when exactly one person matched (the seed's "個人が特定できた場合")
    pub qualification: Option<QualificationView>,
}

/// A search whose audit line is with the audit writer ([`OutageService::search_handed_over`]):
/// its answer is given only once the line is committed, with the line's id (R14: every
/// search is recorded before it is answered).
pub struct PendingSearch {
    line: crate::batcher::Pending<Result<i64, String>>,
    /// the answer but for the audit id
    answer: SearchResponse,
}

impl PendingSearch {
    /// Waits for the audit line's commit; the answer, or the error that it was not committed.
    pub async fn finish(self) -> Result<SearchResponse, OutageError> {
        let committed = self.line.answer().await;
        Self::answer_with(self.answer, committed)
    }

    /// As [`PendingSearch::finish`], blocking the calling thread.
    pub fn finish_blocking(self) -> Result<SearchResponse, OutageError> {
        let committed = self.line.answer_blocking();
        Self::answer_with(self.answer, committed)
    }

    fn answer_with(
        mut answer: SearchResponse,
        committed: Option<Result<i64, String>>,
    ) -> Result<SearchResponse, OutageError> {
        let id = match committed {
            Some(Ok(id)) => id,
            Some(Err(m)) => return Err(audit_not_committed(&m).into()),
            None => return Err(audit_not_committed("its writer has stopped").into()),
        };
        answer.search_id = id;
        if let Some(view) = &mut answer.qualification {
            for q in &mut view.qualifications {
                q.claim.audit_id = id;
            }
        }
        Ok(answer)
    }
}

/// Answer of a choice.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct SelectResponse {
    pub select_id: i64,
    pub search_id: i64,
    pub candidate: Candidate,
    pub qualification: QualificationView,
}

/// A request with its log, as shown to its facility or an operator.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct RequestView {
    #[serde(flatten)]
    pub request: OutageRequest,
    pub state_label: String,
    /// searches are allowed right now
    pub window_open: bool,
    pub events: Vec<OutageEvent>,
}

/// One line of a request's procedure table, as the screens show it (R13: the four steps, who
/// took each and when).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StepRow {
    pub step: &'static str,
    pub at: String,
    pub by: String,
    pub detail: String,
}

fn or_dash(s: &Option<String>) -> String {
    s.clone().unwrap_or_else(|| "—".into())
}

impl RequestView {
    /// The steps of the activation procedure (R13) taken so far, with a dash for those to
    /// come: what both the call centre's screen and the facility's desk show.
    pub fn steps(&self) -> Vec<StepRow> {
        let r = &self.request;
        let row = |step, at: &Option<String>, by: &Option<String>, detail: String| StepRow {
            step,
            at: or_dash(at),
            by: or_dash(by),
            detail,
        };
        let mut rows = vec![
            row(
                "1. 利用申請（コールセンターへ連絡）",
                &Some(r.requested_at.clone()),
                &Some(r.requested_by.clone()),
                format!(
                    "{} / 担当者 {} / {}",
                    r.facility_name, r.contact_person, r.reason
                ),
            ),
            row(
                "2. 電話確認（届出の電話番号へ折り返し）",
                &r.verified_at,
                &r.verified_by,
                or_dash(&r.callback_phone),
            ),
            row(
                "2. 利用報告書送付",
                &r.form_issued_at,
                &r.form_issued_by,
                or_dash(&r.form_email),
            ),
            row(
                "3. 利用設定",
                &r.enabled_at,
                &r.enabled_by,
                format!("利用期限 {}", or_dash(&r.window_until)),
            ),
        ];
        if r.closed_at.is_some() {
            rows.push(row("利用終了", &r.closed_at, &r.closed_by, String::new()));
        }
        rows.push(row(
            "4. 利用報告書提出",
            &r.reported_at,
            &r.reported_by,
            r.report
                .as_ref()
                .and_then(|j| j.get("title"))
                .and_then(|t| t.as_str())
                .unwrap_or("—")
                .to_string(),
        ));
        if r.cancelled_at.is_some() {
            rows.push(row("取消", &r.cancelled_at, &r.cancelled_by, String::new()));
        }
        rows
    }

    /// The usage report can be sent once the mode was enabled (R13 step 4).
    pub fn reportable(&self) -> bool {
        matches!(
            self.request.state,
            OutageState::Enabled | OutageState::Closed
        )
    }

    /// The facility can still withdraw the request (before it is enabled).
    pub fn cancellable(&self) -> bool {
        matches!(
            self.request.state,
            OutageState::Requested | OutageState::Verified | OutageState::FormIssued
        )
    }
}

/// What a facility sees of its own outage mode.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct FacilityStatus {
    pub facility: String,
    pub search_allowed: bool,
    /// why not, when not
    pub reason: Option<String>,
    pub window_until: Option<String>,
    pub requests: Vec<RequestView>,
}

/// An audit line with the chosen person's name, for display.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct AuditView {
    #[serde(flatten)]
    pub entry: AuditEntry,
    pub chosen_name: Option<String>,
}

/// The service. Cheap to clone.
#[derive(Clone)]
pub struct OutageService {
    store: Arc<dyn OutageStore>,
    registry: Arc<dyn RegistryRead>,
    clock: Arc<dyn Clock>,
    config: OutageConfig,
    /// the searches' audit lines, committed in groups (one durable commit for the lines of
    /// the searches that came in together), each before its search is answered
    audits: Batcher<AuditEntry, Result<i64, String>>,
    /// what the audit writer has committed (or tried to), for the record
    audit_groups: Arc<AuditGroups>,
}

/// The audit lines handed to the audit writer and the groups it committed them in.
#[derive(Default)]
struct AuditGroups {
    lines: std::sync::atomic::AtomicU64,
    groups: std::sync::atomic::AtomicU64,
}

/// Audit lines committed together at most.
const AUDIT_BATCH: usize = 256;

/// A search whose audit line could not be committed is not answered.
fn audit_not_committed(why: &str) -> StoreError {
    StoreError::Io(std::io::Error::other(format!(
        "the search's audit line was not committed: {why}"
    )))
}

fn stamp(t: DateTime<FixedOffset>) -> String {
    crate::clock::stamp_millis(&t)
}

fn parse_stamp(s: &str) -> Result<DateTime<FixedOffset>, StoreError> {
    DateTime::parse_from_rfc3339(s).map_err(|e| StoreError::Corrupt(format!("time {s:?}: {e}")))
}

/// A required, trimmed, bounded text field.
fn text(
    v: &Option<String>,
    field: &'static str,
    label: &str,
    max: usize,
) -> Result<String, OutageError> {
    let s = v.as_deref().map(str::trim).unwrap_or("");
    if s.is_empty() {
        return Err(invalid(
            field,
            "required",
            format!("{label}（{field}）は必須です"),
        ));
    }
    if s.chars().count() > max {
        return Err(invalid(
            field,
            "length",
            format!("{label}（{field}）は{max}文字以内で入力してください"),
        ));
    }
    Ok(s.to_string())
}

fn optional(v: &Option<String>) -> Option<&str> {
    v.as_deref().map(str::trim).filter(|s| !s.is_empty())
}

/// `YYYY-MM-DD` or `YYYYMMDD`.
fn date(v: &Option<String>, field: &'static str, label: &str) -> Result<NaiveDate, OutageError> {
    let s = optional(v).ok_or_else(|| {
        invalid(
            field,
            "r14_required",
            format!("{label}（{field}）は必須です"),
        )
    })?;
    let narrow: String = s
        .chars()
        .map(|c| match c {
            '０'..='９' => char::from_u32(u32::from(c) - 0xFEE0).unwrap_or(c),
            '－' | '/' => '-',
            c => c,
        })
        .collect();
    NaiveDate::parse_from_str(&narrow, "%Y-%m-%d")
        .or_else(|_| NaiveDate::parse_from_str(&narrow, "%Y%m%d"))
        .map_err(|_| {
            invalid(
                field,
                "date",
                format!("{label}（{field}）は YYYY-MM-DD で入力してください（{s:?}）"),
            )
        })
}

/// The key an address is compared on: [`kana::name_key`] (width and whitespace folded), dash
/// variants → `-`, 丁目 / 番地 / 番 / 号 after a digit → `-` (trailing `-` dropped), ヶ ヵ → ケ カ.
/// Kanji numerals are not converted (一丁目 ≠ 1-).
pub fn address_key(s: &str) -> String {
    let k = kana::name_key(s);
    let mut out = String::with_capacity(k.len());
    let mut rest = k.as_str();
    while let Some(c) = rest.chars().next() {
        let after_digit = out.chars().next_back().is_some_and(|p| p.is_ascii_digit());
        if after_digit
            && let Some(len) = ["丁目", "番地", "番", "号"]
                .iter()
                .find(|w| rest.starts_with(**w))
                .map(|w| w.len())
        {
            out.push('-');
            rest = &rest[len..];
            continue;
        }
        out.push(match c {
            '－' | '‐' | '‑' | '‒' | '–' | '—' | '―' | '−' | 'ｰ' => '-',
            'ー' if after_digit => '-',
            'ヶ' => 'ケ',
            'ヵ' => 'カ',
            c => c,
        });
        rest = &rest[c.len_utf8()..];
    }
    while out.ends_with('-') {
        out.pop();
    }
    out
}

/// The key an insurer name is compared on (width and whitespace folded).
pub fn insurer_key(s: &str) -> String {
    kana::name_key(s)
}

/// Phone numbers are compared on their digits: full-width digits folded, `+81` read as `0`,
/// separators (`-`, spaces, parentheses) ignored. Japanese numbers have 10 or 11 digits.
pub fn phone_key(s: &str) -> Result<String, OutageError> {
    let mut digits: String = s
        .chars()
        .filter_map(|c| match c {
            '0'..='9' => Some(c),
            '０'..='９' => char::from_u32(u32::from(c) - 0xFEE0),
            _ => None,
        })
        .collect();
    if s.trim_start().starts_with('+') {
        match digits.strip_prefix("81") {
            Some(rest) => digits = format!("0{rest}"),
            None => {
                return Err(invalid(
                    "phone",
                    "format",
                    "国外の電話番号は登録できません（+81 のみ）",
                ));
            }
        }
    }
    let bad_char = s.chars().any(|c| {
        !(c.is_ascii_digit()
            || ('０'..='９').contains(&c)
            || matches!(c, '-' | '－' | ' ' | '　' | '(' | ')' | '（' | '）' | '+'))
    });
    if bad_char || !digits.starts_with('0') || !(10..=11).contains(&digits.len()) {
        return Err(invalid(
            "phone",
            "format",
            format!("電話番号は 0 から始まる10桁または11桁で入力してください（{s:?}）"),
        ));
    }
    Ok(digits)
}

fn email_ok(s: &str) -> bool {
    let Some((local, domain)) = s.split_once('@') else {
        return false;
    };
    !local.is_empty()
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !s.chars().any(|c| c.is_whitespace() || c == '<' || c == '>')
}

impl OutageService {
    pub fn new(
        store: Arc<dyn OutageStore>,
        registry: Arc<dyn RegistryRead>,
        clock: Arc<dyn Clock>,
        config: OutageConfig,
    ) -> Self {
        let writer = store.clone();
        let audit_groups = Arc::new(AuditGroups::default());
        let counted = audit_groups.clone();
        let audits = Batcher::start("outage-audit", AUDIT_BATCH, 4096, move |lines| {
            use std::sync::atomic::Ordering::Relaxed;
            counted.lines.fetch_add(lines.len() as u64, Relaxed);
            counted.groups.fetch_add(1, Relaxed);
            let written = writer.append_audits(&lines);
            ids_or_error("outage audit batch", lines.len(), written)
        });
        OutageService {
            store,
            registry,
            clock,
            config,
            audits,
            audit_groups,
        }
    }

    /// The audit lines handed to the audit writer so far and the groups they were committed
    /// in (one durable commit each): `(lines, groups)`.
    pub fn audit_groups(&self) -> (u64, u64) {
        use std::sync::atomic::Ordering::Relaxed;
        (
            self.audit_groups.lines.load(Relaxed),
            self.audit_groups.groups.load(Relaxed),
        )
    }

    pub fn store(&self) -> &dyn OutageStore {
        self.store.as_ref()
    }

    fn now(&self) -> DateTime<FixedOffset> {
        self.clock.now_jst()
    }

    /// Whether searches are allowed now under `r`: enabled and `enabled_at ≤ now < until`.
    pub fn window_open(&self, r: &OutageRequest) -> Result<bool, StoreError> {
        if r.state != OutageState::Enabled {
            return Ok(false);
        }
        let (Some(from), Some(until)) = (&r.enabled_at, &r.window_until) else {
            return Ok(false);
        };
        let now = self.now();
        Ok(parse_stamp(from)? <= now && now < parse_stamp(until)?)
    }

    fn view(&self, r: OutageRequest) -> Result<RequestView, OutageError> {
        let events = self.store.events(r.id)?;
        Ok(RequestView {
            state_label: r.state.label_ja().to_string(),
            window_open: self.window_open(&r)?,
            request: r,
            events,
        })
    }

    fn owned_request(
        &self,
        id: i64,
        facility: Option<&MedicalInstitutionCode>,
    ) -> Result<OutageRequest, OutageError> {
        let r = self.store.request(id)?;
        match r {
            Some(r) if facility.is_none_or(|f| f.as_str() == r.facility) => Ok(r),
            _ => Err(OutageError::NotFound {
                field: "id",
                message: format!("outage request {id} not found"),
            }),
        }
    }

    // --- activation (R13) ---------------------------------------------------------------

    /// R13 step 1. A facility files for itself (`facility_code` in the input is ignored); an
    /// operator files the call for the facility named by `facility_code`.
    pub fn request(&self, actor: &Actor, input: &RequestInput) -> Result<RequestView, OutageError> {
        let facility = match actor {
            Actor::Facility { code, .. } => code.clone(),
            Actor::Operator(_) => {
                let c = text(&input.facility_code, "facility_code", "医療機関コード", 10)?;
                let code = MedicalInstitutionCode::parse(&c)
                    .map_err(|e| invalid("facility_code", "format", e.to_string()))?;
                if self.store.facility_name(code.as_str())?.is_none() {
                    return Err(OutageError::NotFound {
                        field: "facility_code",
                        message: format!("医療機関コード {c} は登録されていません"),
                    });
                }
                code
            }
        };
        let n = NewRequest {
            facility,
            facility_name: text(
                &input.facility_name,
                "facility_name",
                "医療機関・薬局名",
                100,
            )?,
            contact_person: text(&input.contact_person, "contact_person", "担当者名", 50)?,
            reason: text(&input.reason, "reason", "利用希望の理由", 500)?,
            at: stamp(self.now()),
            by: actor.label(),
        };
        let r = self.store.create_request(&n).map_err(|e| match e {
            StoreError::Conflict(m) => OutageError::Conflict {
                rule: "r13_one_open_request",
                message: m,
            },
            e => e.into(),
        })?;
        self.view(r)
    }

    /// R13 step 2: the operator called back on `phone`. Refused — and logged — unless it is the
    /// number registered for the facility.
    pub fn verify(&self, op: &Operator, id: i64, phone: &str) -> Result<RequestView, OutageError> {
        let r = self.owned_request(id, None)?;
        let dialled = phone_key(phone)?;
        let contact = self.store.facility_contact(&r.facility)?;
        let refusal = match &contact {
            None => Some((
                "r13_no_registered_phone",
                "この医療機関には届出の電話番号が登録されていません。管理者が登録してから折り返してください。"
                    .to_string(),
            )),
            Some(c) if c.phone != dialled => Some((
                "r13_callback_number",
                "折り返し先が届出の電話番号と一致しません。届出の電話番号に折り返してください。".to_string(),
            )),
            Some(_) => None,
        };
        if let Some((rule, message)) = refusal {
            self.store.append_event(&OutageEvent {
                id: 0,
                request_id: Some(id),
                facility: r.facility.clone(),
                at: stamp(self.now()),
                actor: Actor::Operator(op.clone()).label(),
                action: "verify_refused".into(),
                detail: serde_json::json!({ "dialled": dialled, "rule": rule }),
            })?;
            return Err(OutageError::Refused {
                field: Some("phone"),
                rule,
                message,
            });
        }
        self.step(
            id,
            &Step::Verify { phone: dialled },
            &Actor::Operator(op.clone()),
        )
    }

    /// R13 step 2: the usage-report form e-mailed (to `email`, default the registered one).
    pub fn issue_form(
        &self,
        op: &Operator,
        id: i64,
        email: Option<&str>,
    ) -> Result<RequestView, OutageError> {
        let r = self.owned_request(id, None)?;
        let email = match email.map(str::trim).filter(|s| !s.is_empty()) {
            Some(e) => e.to_string(),
            None => self
                .store
                .facility_contact(&r.facility)?
                .and_then(|c: FacilityContact| c.email)
                .ok_or_else(|| {
                    invalid(
                        "email",
                        "required",
                        "利用報告書の送付先（email）を入力してください（届出のメールアドレスがありません）",
                    )
                })?,
        };
        if !email_ok(&email) {
            return Err(invalid(
                "email",
                "format",
                format!("メールアドレスの形式が正しくありません（{email:?}）"),
            ));
        }
        self.step(id, &Step::IssueForm { email }, &Actor::Operator(op.clone()))
    }

    /// The end of a window starting `now` under `policy`.
    pub fn window_end(now: DateTime<FixedOffset>, policy: WindowPolicy) -> DateTime<FixedOffset> {
        match policy {
            WindowPolicy::EndOfDay => {
                let next = now.date_naive() + Duration::days(1);
                let midnight = next.and_hms_opt(0, 0, 0).unwrap_or_default();
                jst()
                    .from_local_datetime(&midnight)
                    .single()
                    .unwrap_or(now + Duration::hours(24))
            }
            WindowPolicy::Hours(h) => now + Duration::hours(i64::from(h)),
        }
    }

    /// R13 step 3: enable the function for the facility until `until` (RFC 3339), by default
    /// per [`OutageConfig::default_window`]. At most [`MAX_WINDOW_HOURS`] ahead.
    pub fn enable(
        &self,
        op: &Operator,
        id: i64,
        until: Option<&str>,
    ) -> Result<RequestView, OutageError> {
        self.owned_request(id, None)?;
        let now = self.now();
        let end = match until.map(str::trim).filter(|s| !s.is_empty()) {
            None => Self::window_end(now, self.config.default_window),
            Some(s) => {
                let t = DateTime::parse_from_rfc3339(s).map_err(|_| {
                    invalid(
                        "until",
                        "format",
                        format!("until は RFC 3339 の日時で入力してください（{s:?}）"),
                    )
                })?;
                if t <= now {
                    return Err(invalid(
                        "until",
                        "future",
                        "until は現在より後にしてください",
                    ));
                }
                if t > now + Duration::hours(MAX_WINDOW_HOURS) {
                    return Err(invalid(
                        "until",
                        "r13_window_limit",
                        format!("利用期間は最長{MAX_WINDOW_HOURS}時間です"),
                    ));
                }
                t.with_timezone(&jst())
            }
        };
        self.step(
            id,
            &Step::Enable { until: stamp(end) },
            &Actor::Operator(op.clone()),
        )
    }

    /// Ends an enabled window early.
    pub fn close(&self, op: &Operator, id: i64) -> Result<RequestView, OutageError> {
        self.owned_request(id, None)?;
        self.step(id, &Step::Close, &Actor::Operator(op.clone()))
    }

    /// Withdraws a request before it is enabled (the facility its own, or an operator).
    pub fn cancel(&self, actor: &Actor, id: i64) -> Result<RequestView, OutageError> {
        let fac = match actor {
            Actor::Facility { code, .. } => Some(code),
            Actor::Operator(_) => None,
        };
        self.owned_request(id, fac)?;
        self.step(id, &Step::Cancel, actor)
    }

    /// R13 step 4: the facility's usage report, titled exactly [`REPORT_TITLE`]. Allowed once
    /// the function was enabled (during or after the window); it ends the window. The counts of
    /// searches and choices made under the request are added from the audit.
    pub fn report(
        &self,
        code: &MedicalInstitutionCode,
        id: i64,
        input: &ReportInput,
    ) -> Result<RequestView, OutageError> {
        self.owned_request(id, Some(code))?;
        let title = text(&input.title, "title", "件名", 100)?;
        if title != REPORT_TITLE {
            return Err(invalid(
                "title",
                "r13_report_title",
                format!("件名は「{REPORT_TITLE}」としてください（{title:?}）"),
            ));
        }
        let reporter = text(&input.reporter, "reporter", "報告者", 50)?;
        let outage = text(&input.outage, "outage", "障害の内容", 1000)?;
        let notes = optional(&input.notes).map(str::to_string);
        if notes.as_ref().is_some_and(|n| n.chars().count() > 2000) {
            return Err(invalid("notes", "length", "備考は2000文字以内です"));
        }
        let audit = self.store.list_audit(&AuditFilter {
            facility: Some(code.as_str().to_string()),
            kind: None,
            limit: Some(1000),
            before_id: None,
        })?;
        let mine = |k: AuditKind| {
            audit
                .iter()
                .filter(|a| a.request_id == Some(id) && a.kind == k)
                .count()
        };
        let report = serde_json::json!({
            "title": title,
            "reporter": reporter,
            "outage": outage,
            "patients": input.patients,
            "notes": notes,
            "searches_recorded": mine(AuditKind::Search),
            "choices_recorded": mine(AuditKind::Select),
        });
        self.step(
            id,
            &Step::Report { report },
            &Actor::Facility {
                code: code.clone(),
                staff_id: Some(reporter),
            },
        )
    }

    fn step(&self, id: i64, step: &Step, actor: &Actor) -> Result<RequestView, OutageError> {
        let r = self
            .store
            .apply_step(id, step, &stamp(self.now()), &actor.label())?;
        self.view(r)
    }

    /// One request with its log (operators: any; facilities: their own).
    pub fn request_view(
        &self,
        id: i64,
        facility: Option<&MedicalInstitutionCode>,
    ) -> Result<RequestView, OutageError> {
        let r = self.owned_request(id, facility)?;
        self.view(r)
    }

    /// Requests, newest first (operators; `filter.facility` to narrow).
    pub fn list_requests(&self, filter: &RequestFilter) -> Result<Vec<RequestView>, OutageError> {
        self.store
            .list_requests(filter)?
            .into_iter()
            .map(|r| self.view(r))
            .collect()
    }

    /// The facility's view: can it search now, and where its requests stand.
    pub fn facility_status(
        &self,
        code: &MedicalInstitutionCode,
    ) -> Result<FacilityStatus, OutageError> {
        let requests = self.list_requests(&RequestFilter {
            facility: Some(code.as_str().to_string()),
            limit: Some(20),
            ..Default::default()
        })?;
        let (allowed, reason, until) = match self.gate(code)? {
            Ok(r) => (true, None, r.window_until),
            Err((_, m, _)) => (false, Some(m), None),
        };
        Ok(FacilityStatus {
            facility: code.as_str().to_string(),
            search_allowed: allowed,
            reason,
            window_until: until,
            requests,
        })
    }

    // --- the search (R14) ---------------------------------------------------------------

    /// The enabled request whose window is open now, or the rule and message of the refusal
    /// (with the request that was closed, if any).
    #[allow(clippy::type_complexity)]
    fn gate(
        &self,
        code: &MedicalInstitutionCode,
    ) -> Result<Result<OutageRequest, (&'static str, String, Option<i64>)>, OutageError> {
        let Some(r) = self.store.enabled_request(code.as_str())? else {
            let last = self
                .store
                .list_requests(&RequestFilter {
                    facility: Some(code.as_str().to_string()),
                    limit: Some(1),
                    ..Default::default()
                })?
                .into_iter()
                .next();
            return Ok(Err(match last {
                Some(l) if matches!(l.state, OutageState::Closed | OutageState::Reported) => (
                    "r13_window_closed",
                    "システム障害時モードの利用期間は終了しています。再度利用する場合はコールセンターに連絡してください。"
                        .to_string(),
                    Some(l.id),
                ),
                _ => (
                    "r13_not_enabled",
                    "システム障害時モードは利用設定されていません。コールセンターに連絡し、利用設定を受けてください。"
                        .to_string(),
                    last.map(|l| l.id),
                ),
            }));
        };
        if self.window_open(&r)? {
            return Ok(Ok(r));
        }
        Ok(Err((
            "r13_window_closed",
            format!(
                "システム障害時モードの利用期間（{}まで）は終了しています。再度利用する場合はコールセンターに連絡してください。",
                r.window_until.as_deref().unwrap_or("-")
            ),
            Some(r.id),
        )))
    }

    fn refuse(
        &self,
        code: &MedicalInstitutionCode,
        staff_id: Option<String>,
        request_id: Option<i64>,
        criteria: serde_json::Value,
        err: OutageError,
    ) -> OutageError {
        let (rule, message) = match &err {
            OutageError::Invalid {
                field,
                rule,
                message,
            } => (format!("{rule}:{field}"), message.clone()),
            OutageError::Refused { rule, message, .. } => (rule.to_string(), message.clone()),
            OutageError::NotFound { field, message } => {
                (format!("not_found:{field}"), message.clone())
            }
            other => return OutageError::Store(StoreError::Conflict(other.to_string())),
        };
        let at = stamp(self.now());
        let audit = AuditEntry {
            id: 0,
            facility: code.as_str().to_string(),
            request_id,
            at: at.clone(),
            staff_id: staff_id.clone(),
            kind: AuditKind::Refused,
            criteria: criteria.clone(),
            hits: None,
            hit_person_ids: Vec::new(),
            search_id: None,
            chosen_person_id: None,
            outcome: rule.clone(),
            message: Some(message),
        };
        if let Err(e) = self.store.append_audit(&audit) {
            return e.into();
        }
        if matches!(err, OutageError::Refused { .. }) {
            let ev = OutageEvent {
                id: 0,
                request_id,
                facility: code.as_str().to_string(),
                at,
                actor: Actor::Facility {
                    code: code.clone(),
                    staff_id,
                }
                .label(),
                action: "search_refused".into(),
                detail: serde_json::json!({ "rule": rule }),
            };
            if let Err(e) = self.store.append_event(&ev) {
                return e.into();
            }
        }
        err
    }

    fn criteria(&self, input: &SearchInput) -> Result<Criteria, OutageError> {
        let birthdate = date(&input.birthdate, "birthdate", "生年月日")?;
        let sex_s = optional(&input.sex)
            .ok_or_else(|| invalid("sex", "r14_required", "性別（sex）は必須です"))?;
        let sex = Sex::parse(sex_s).map_err(|e| invalid("sex", "code", e.to_string()))?;
        let confirmation_date = date(&input.confirmation_date, "confirmation_date", "資格確認日")?;
        let today = self.clock.today();
        if birthdate > today {
            return Err(invalid(
                "birthdate",
                "not_future",
                "生年月日が未来の日付です",
            ));
        }
        if confirmation_date > today {
            return Err(invalid(
                "confirmation_date",
                "not_future",
                "資格確認日に未来の日付は指定できません",
            ));
        }
        if confirmation_date < birthdate {
            return Err(invalid(
                "confirmation_date",
                "after_birth",
                "資格確認日が生年月日より前です（生年月日と資格確認日が矛盾しています）",
            ));
        }
        let name = optional(&input.name);
        let name_kana = optional(&input.name_kana);
        if name.is_none() && name_kana.is_none() {
            return Err(invalid(
                "name",
                "r14_name_or_kana",
                "氏名（name）または氏名カナ（name_kana）のどちらかを入力してください",
            ));
        }
        let name_key = name.map(kana::name_key).filter(|k| !k.is_empty());
        if name.is_some() && name_key.is_none() {
            return Err(invalid("name", "empty", "氏名が空です"));
        }
        let kana_key = match name_kana {
            Some(k) if !kana::is_kana_name(k) => {
                return Err(invalid(
                    "name_kana",
                    "kana",
                    format!(
                        "氏名カナ（name_kana）はカタカナまたはひらがなで入力してください（{k:?}）"
                    ),
                ));
            }
            Some(k) => Some(kana::kana_key(k)),
            None => None,
        };
        let address = optional(&input.address);
        let insurer = optional(&input.insurer_name);
        if address.is_none() && insurer.is_none() {
            return Err(invalid(
                "address",
                "r14_address_or_insurer",
                "住所（address）または保険者名（insurer_name）のどちらかを入力してください",
            ));
        }
        let address_key = address.map(address_key);
        if address_key
            .as_ref()
            .is_some_and(|k| k.chars().count() < MIN_CONDITION_CHARS)
        {
            return Err(invalid(
                "address",
                "length",
                format!("住所は{MIN_CONDITION_CHARS}文字以上入力してください"),
            ));
        }
        let insurer_key = insurer.map(insurer_key);
        if insurer_key
            .as_ref()
            .is_some_and(|k| k.chars().count() < MIN_CONDITION_CHARS)
        {
            return Err(invalid(
                "insurer_name",
                "length",
                format!("保険者名は{MIN_CONDITION_CHARS}文字以上入力してください"),
            ));
        }
        Ok(Criteria {
            birthdate,
            sex,
            confirmation_date,
            name_key,
            kana_key,
            address_key,
            insurer_key,
        })
    }

    /// The matching persons with their histories, in id order (no audit, no gate): the part of
    /// the search the index serves. Public for the benchmark.
    pub fn lookup(
        &self,
        input: &SearchInput,
    ) -> Result<Vec<(PersonRecord, Vec<QualificationRecord>)>, OutageError> {
        let c = self.criteria(input)?;
        self.lookup_criteria(&c)
    }

    fn lookup_criteria(
        &self,
        c: &Criteria,
    ) -> Result<Vec<(PersonRecord, Vec<QualificationRecord>)>, OutageError> {
        let query = PersonQuery {
            birthdate: c.birthdate,
            sex: c.sex,
            kana_key: c.kana_key.clone(),
            name_key: c.name_key.clone(),
            limit: MAX_SCAN,
        };
        let matches = match self.store.search_persons_with_history(&query) {
            Some(found) => found?,
            None => {
                let mut found = Vec::new();
                for id in self.store.search_person_ids(&query)? {
                    found.extend(self.registry.person_with_history(id)?);
                }
                found
            }
        };
        let mut out = Vec::new();
        for (p, quals) in matches {
            if let Some(a) = &c.address_key {
                let own = p.person.address.as_deref().map(address_key);
                if !own.is_some_and(|o| o.contains(a.as_str())) {
                    continue;
                }
            }
            if let Some(i) = &c.insurer_key
                && !quals
                    .iter()
                    .any(|q| insurer_key(&q.qualification.insurer_name).contains(i.as_str()))
            {
                continue;
            }
            out.push((p, quals));
        }
        Ok(out)
    }

    /// R14: the search. Refused (and recorded) unless the facility's window is open; invalid
    /// input is refused naming the field (and recorded). One hit → the qualification; several →
    /// the list; more than [`MAX_HITS`] → asked to add conditions.
    pub fn search(
        &self,
        code: &MedicalInstitutionCode,
        input: &SearchInput,
    ) -> Result<SearchResponse, OutageError> {
        self.search_handed_over(code, input)?.finish_blocking()
    }

    /// [`OutageService::search`] up to its audit line handed to the audit writer: the caller
    /// may then give up its turn and await [`PendingSearch::finish`], which answers only once
    /// the line is committed (lines waiting so make the writer's groups larger).
    pub fn search_handed_over(
        &self,
        code: &MedicalInstitutionCode,
        input: &SearchInput,
    ) -> Result<PendingSearch, OutageError> {
        let criteria_json = serde_json::to_value(input).unwrap_or(serde_json::Value::Null);
        let staff = optional(&input.staff_id).map(str::to_string);
        let req = match self.gate(code)? {
            Ok(r) => r,
            Err((rule, message, rid)) => {
                let e = OutageError::Refused {
                    field: None,
                    rule,
                    message,
                };
                return Err(self.refuse(code, staff, rid, criteria_json, e));
            }
        };
        let checked = text(&input.staff_id, "staff_id", "検索する職員（staff_id）", 50)
            .and_then(|_| self.criteria(input));
        let c = match checked {
            Ok(c) => c,
            Err(e) => return Err(self.refuse(code, staff, Some(req.id), criteria_json, e)),
        };
        let found = self.lookup_criteria(&c)?;
        let hits = found.len();
        let (outcome, message) = match hits {
            0 => ("no_hits", "該当する資格情報はありません。".to_string()),
            n if n > MAX_HITS => (
                "too_many",
                format!(
                    "該当者が{MAX_HITS}名を超えました。住所・保険者名などの条件を追加してください。"
                ),
            ),
            1 => ("hits", "該当者が特定できました。".to_string()),
            n => (
                "hits",
                format!("該当者が{n}名います。該当者を選択してください。"),
            ),
        };
        let shown: Vec<&(PersonRecord, Vec<QualificationRecord>)> = if hits > MAX_HITS {
            Vec::new()
        } else {
            found.iter().collect()
        };
        let single = (hits == 1).then(|| found[0].0.id);
        let audit = AuditEntry {
            id: 0,
            facility: code.as_str().to_string(),
            request_id: Some(req.id),
            at: stamp(self.now()),
            staff_id: staff,
            kind: AuditKind::Search,
            criteria: criteria_json,
            hits: Some(u32::try_from(hits).unwrap_or(u32::MAX)),
            hit_person_ids: shown.iter().map(|(p, _)| p.id).collect(),
            search_id: None,
            chosen_person_id: single,
            outcome: outcome.to_string(),
            message: Some(message.clone()),
        };
        let Some(line) = self.audits.hand_over(audit) else {
            return Err(audit_not_committed("its writer has stopped").into());
        };
        let candidates = shown
            .iter()
            .enumerate()
            .map(|(i, (p, q))| candidate(i + 1, p, q, c.confirmation_date))
            .collect();
        let qualification = match found.first() {
            Some((p, q)) if hits == 1 => Some(view_of(p, q, c.confirmation_date, 0)),
            _ => None,
        };
        Ok(PendingSearch {
            line,
            answer: SearchResponse {
                search_id: 0,
                outcome: outcome.to_string(),
                hits: u32::try_from(hits).unwrap_or(u32::MAX),
                message,
                candidates,
                qualification,
            },
        })
    }

    /// R14: staff choose candidate `candidate` (1-based) of search `search_id` → the
    /// qualification on that search's 資格確認日. Only the facility's own searches; only while
    /// the window is open.
    pub fn select(
        &self,
        code: &MedicalInstitutionCode,
        search_id: i64,
        candidate_no: u32,
        staff_id: Option<&str>,
    ) -> Result<SelectResponse, OutageError> {
        let staff = staff_id
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_string);
        let criteria_json =
            serde_json::json!({ "search_id": search_id, "candidate": candidate_no });
        let req = match self.gate(code)? {
            Ok(r) => r,
            Err((rule, message, rid)) => {
                let e = OutageError::Refused {
                    field: None,
                    rule,
                    message,
                };
                return Err(self.refuse(code, staff, rid, criteria_json, e));
            }
        };
        let search = match self.store.audit_entry(search_id)? {
            Some(a) if a.facility == code.as_str() && a.kind == AuditKind::Search => a,
            _ => {
                let e = OutageError::NotFound {
                    field: "search_id",
                    message: format!("検索 {search_id} はありません"),
                };
                return Err(self.refuse(code, staff, Some(req.id), criteria_json, e));
            }
        };
        let Some(&person_id) = usize::try_from(candidate_no)
            .ok()
            .and_then(|n| n.checked_sub(1))
            .and_then(|i| search.hit_person_ids.get(i))
        else {
            let e = invalid(
                "candidate",
                "range",
                format!(
                    "candidate は 1 から {} の番号です",
                    search.hit_person_ids.len()
                ),
            );
            return Err(self.refuse(code, staff, Some(req.id), criteria_json, e));
        };
        let date = search
            .criteria
            .get("confirmation_date")
            .and_then(|v| v.as_str())
            .map(|s| date(&Some(s.to_string()), "confirmation_date", "資格確認日"))
            .transpose()?
            .ok_or_else(|| StoreError::Corrupt(format!("search {search_id} has no date")))?;
        let (p, q) = self
            .registry
            .person_with_history(person_id)?
            .ok_or_else(|| StoreError::Corrupt(format!("person {person_id} vanished")))?;
        let select_id = self.store.append_audit(&AuditEntry {
            id: 0,
            facility: code.as_str().to_string(),
            request_id: Some(req.id),
            at: stamp(self.now()),
            staff_id: staff,
            kind: AuditKind::Select,
            criteria: criteria_json,
            hits: None,
            hit_person_ids: Vec::new(),
            search_id: Some(search_id),
            chosen_person_id: Some(person_id),
            outcome: validity_of(&q, date).code().to_string(),
            message: None,
        })?;
        Ok(SelectResponse {
            select_id,
            search_id,
            candidate: candidate(candidate_no as usize, &p, &q, date),
            qualification: view_of(&p, &q, date, select_id),
        })
    }

    // --- audit ----------------------------------------------------------------------------

    /// The audit, newest first. Facilities pass their own code; operators any filter.
    pub fn audit(&self, filter: &AuditFilter) -> Result<Vec<AuditView>, OutageError> {
        let rows = self.store.list_audit(filter)?;
        let mut out = Vec::with_capacity(rows.len());
        for entry in rows {
            let chosen_name = match entry.chosen_person_id {
                Some(id) => self.registry.person(id)?.map(|p| p.person.name),
                None => None,
            };
            out.push(AuditView { entry, chosen_name });
        }
        Ok(out)
    }
}

fn plain(q: &[QualificationRecord]) -> Vec<Qualification> {
    q.iter().map(|r| r.qualification.clone()).collect()
}

fn validity_of(q: &[QualificationRecord], on: NaiveDate) -> QualificationValidity {
    evaluate_by_card(&plain(q), on).validity()
}

fn candidate(n: usize, p: &PersonRecord, q: &[QualificationRecord], on: NaiveDate) -> Candidate {
    let insurer = q
        .iter()
        .find(|r| r.qualification.is_valid_on(on))
        .or_else(|| q.iter().max_by_key(|r| r.qualification.qualification_date))
        .map(|r| r.qualification.insurer_name.clone());
    Candidate {
        candidate: u32::try_from(n).unwrap_or(u32::MAX),
        name: p.person.name.clone(),
        name_kana: p.person.name_kana.clone(),
        sex: p.person.sex.label().to_string(),
        birthdate: p.person.birthdate,
        post_number: p.person.post_number.clone(),
        address: p.person.address.clone(),
        insurer_name: insurer,
    }
}

/// 資格情報確認 for one person on `on`: as a card confirmation sees the history (R5/R6) —
/// valid qualification(s), else the one lost last, marked `lost`.
fn view_of(
    p: &PersonRecord,
    quals: &[QualificationRecord],
    on: NaiveDate,
    audit_id: i64,
) -> QualificationView {
    let all = plain(quals);
    let outcome = evaluate_by_card(&all, on);
    let pick = |x: &Qualification| all.iter().position(|y| std::ptr::eq(x, y));
    let (chosen, lost): (Vec<usize>, bool) = match &outcome {
        Outcome::Valid(x) => (pick(x).into_iter().collect(), false),
        Outcome::Multiple(xs) => (xs.iter().filter_map(|x| pick(x)).collect(), false),
        Outcome::Invalid(x) | Outcome::InvalidNewerExists(x) => {
            (pick(x).into_iter().collect(), true)
        }
        Outcome::NotFound => (Vec::new(), false),
    };
    let validity = outcome.validity();
    QualificationView {
        qualification_validity: validity.code().to_string(),
        qualification_validity_label: validity.label().to_string(),
        confirmation_date: on,
        qualifications: chosen
            .into_iter()
            .map(|i| {
                let rec = &quals[i];
                let q = &rec.qualification;
                ShownQualification {
                    result: ResultOfQualificationConfirmation::build(
                        p,
                        rec,
                        on,
                        LimitConsent::NotConsented,
                    ),
                    lost,
                    claim: ClaimBasis {
                        source: "outage_search".into(),
                        audit_id,
                        confirmation_date: on,
                        insurer_number: q.insurer_number.as_str().to_string(),
                        insurer_number_claim_form: q.insurer_number.claim_form(),
                        insured_card_symbol: q.symbol.as_str().to_string(),
                        insured_identification_number: q.number.as_str().to_string(),
                        insured_branch_number: q.branch.as_str().to_string(),
                        lost,
                    },
                }
            })
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn r14_address_key_folds_width_dashes_and_block_words() {
        assert_eq!(
            address_key("東京都千代田区千代田１－１"),
            "東京都千代田区千代田1-1"
        );
        assert_eq!(
            address_key("東京都 千代田区千代田1丁目1番"),
            "東京都千代田区千代田1-1"
        );
        assert_eq!(address_key("千代田1ー1"), "千代田1-1");
        assert_eq!(address_key("霞ヶ関"), address_key("霞ケ関"));
        assert_ne!(address_key("千代田一丁目"), address_key("千代田1丁目"));
    }

    #[test]
    fn r13_phone_numbers_compare_on_digits() {
        assert_eq!(phone_key("03-1234-5678").unwrap(), "0312345678");
        assert_eq!(
            phone_key("（０３）１２３４－５６７８").unwrap(),
            "0312345678"
        );
        assert_eq!(phone_key("+81 3 1234 5678").unwrap(), "0312345678");
        assert!(phone_key("1234").is_err());
        assert!(phone_key("03-1234-567x").is_err());
        assert!(phone_key("+1 212 555 0100").is_err());
    }

    #[test]
    fn r13_default_window_ends_at_midnight_jst() {
        let now = jst().with_ymd_and_hms(2026, 11, 25, 23, 10, 0).unwrap();
        let end = OutageService::window_end(now, WindowPolicy::EndOfDay);
        assert_eq!(stamp(end), "2026-11-26T00:00:00.000+09:00");
        let end = OutageService::window_end(now, WindowPolicy::Hours(2));
        assert_eq!(stamp(end), "2026-11-26T01:10:00.000+09:00");
    }
}
