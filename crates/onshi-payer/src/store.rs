//! The payer's own database, behind [`PayerStore`]: SQLite ([`SqlitePayerStore`], one file)
//! or PostgreSQL ([`crate::store_pg::PostgresPayerStore`], `postgres://…`); both pass
//! `tests/store_conformance.rs`.
//!
//! Boundary rules: every read and write names the payer, and a payer only ever reaches its
//! own rows; each method is one transaction (a submission with all its claims is stored whole
//! or not at all); no SQL leaks out.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use rusqlite::{Connection, OptionalExtension, Transaction, params};
use serde::{Deserialize, Serialize};

use crate::apportion::{Share, Weight};
use crate::identify::{Evidence, TekiyouFacts};
use crate::model::{
    BillTo, Claim, ClaimPart, ClaimedInsurer, ClaimedNumbers, KakuninKubun, PayerCode, PublicFund,
    YearMonth,
};

const SCHEMA: &str = include_str!("schema.sql");
/// The payer store's schema (`PRAGMA user_version`): 2 marks settled files, 3 bills parts to
/// public funds, 4 keeps a claim's facts in typed columns instead of one JSON text.
pub const SCHEMA_VERSION: i32 = 4;

#[derive(Debug, thiserror::Error)]
pub enum PayerStoreError {
    #[error("database error: {0}")]
    Db(rusqlite::Error),
    #[error("PostgreSQL error: {0}")]
    Pg(tokio_postgres::Error),
    #[error("PostgreSQL connection: {0}")]
    Pool(String),
    #[error("schema migration failed: {0}")]
    Migration(String),
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
    #[error("{0}")]
    Conflict(String),
    #[error("not found: {0}")]
    NotFound(String),
    #[error("I/O error: {0}")]
    Io(#[from] std::io::Error),
    /// the folder of the keys that seal the 申立書 details (PostgreSQL, R27)
    #[error("form keys: {0}")]
    Keys(String),
}

/// A unique or primary key already taken is a [`PayerStoreError::Conflict`] on either
/// backend (a token hash, a receipt number twice in one file, a settlement row); other
/// database errors stay what they are.
impl From<rusqlite::Error> for PayerStoreError {
    fn from(e: rusqlite::Error) -> Self {
        if let rusqlite::Error::SqliteFailure(f, msg) = &e
            && matches!(
                f.extended_code,
                rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE
                    | rusqlite::ffi::SQLITE_CONSTRAINT_PRIMARYKEY
            )
        {
            return PayerStoreError::Conflict(format!(
                "already stored: {}",
                msg.as_deref().unwrap_or("a unique key")
            ));
        }
        PayerStoreError::Db(e)
    }
}

impl From<tokio_postgres::Error> for PayerStoreError {
    fn from(e: tokio_postgres::Error) -> Self {
        if e.code() == Some(&tokio_postgres::error::SqlState::UNIQUE_VIOLATION) {
            let what = e
                .as_db_error()
                .and_then(|d| d.constraint())
                .unwrap_or("a unique key");
            return PayerStoreError::Conflict(format!("already stored: {what}"));
        }
        PayerStoreError::Pg(e)
    }
}

pub type Result<T> = std::result::Result<T, PayerStoreError>;

pub(crate) fn corrupt(what: &str, e: impl std::fmt::Display) -> PayerStoreError {
    PayerStoreError::Corrupt(format!("{what}: {e}"))
}

/// Role of a caller of the payer's API.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Staff,
    Facility,
    Insurer,
}

impl Role {
    pub fn code(self) -> &'static str {
        match self {
            Role::Staff => "staff",
            Role::Facility => "facility",
            Role::Insurer => "insurer",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        [Role::Staff, Role::Facility, Role::Insurer]
            .into_iter()
            .find(|r| r.code() == s)
    }
}

/// An authenticated caller.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Principal {
    pub role: Role,
    pub payer: PayerCode,
    /// staff name, 医療機関コード or 保険者番号
    pub subject: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FacilityRow {
    pub payer: PayerCode,
    pub code: String,
    pub name: String,
    pub hook_url: Option<String>,
}

/// A file about to be recorded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewSubmission {
    pub payer: PayerCode,
    pub facility: String,
    pub billing_month: YearMonth,
    pub file_sha256: String,
    pub file_name: String,
    pub received_at: String,
    /// `api` or `folder`
    pub source: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SubmissionRow {
    pub id: i64,
    pub payer: PayerCode,
    pub facility: String,
    pub billing_month: YearMonth,
    pub file_sha256: String,
    pub file_name: String,
    pub received_at: String,
    pub source: String,
    pub claims: u64,
    pub total_points: u64,
}

/// Where a claim stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ClaimStatus {
    /// billed to its parts, waiting for settlement
    Assigned,
    /// identification found several candidates: staff decide
    Worklist,
    /// no insurer could be identified: 按分 at settlement
    Pool,
    Settled,
    /// settled through 按分
    Apportioned,
    /// in the pool, but the payer's insurers paid the facility nothing in the reference
    /// period: no basis to share on
    Unapportioned,
}

impl ClaimStatus {
    pub fn code(self) -> &'static str {
        match self {
            ClaimStatus::Assigned => "assigned",
            ClaimStatus::Worklist => "worklist",
            ClaimStatus::Pool => "pool",
            ClaimStatus::Settled => "settled",
            ClaimStatus::Apportioned => "apportioned",
            ClaimStatus::Unapportioned => "unapportioned",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        [
            ClaimStatus::Assigned,
            ClaimStatus::Worklist,
            ClaimStatus::Pool,
            ClaimStatus::Settled,
            ClaimStatus::Apportioned,
            ClaimStatus::Unapportioned,
        ]
        .into_iter()
        .find(|c| c.code() == s)
    }
    pub fn label(self) -> &'static str {
        match self {
            ClaimStatus::Assigned => "請求先確定",
            ClaimStatus::Worklist => "特定作業中（職員判断）",
            ClaimStatus::Pool => "按分対象",
            ClaimStatus::Settled => "支払済",
            ClaimStatus::Apportioned => "按分により支払済",
            ClaimStatus::Unapportioned => "按分不能（支払実績なし）",
        }
    }
}

/// A claim after review and identification, ready to store.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReviewedClaim {
    pub claim: Claim,
    pub status: ClaimStatus,
    pub kubun: KakuninKubun,
    /// assigned by identification (R22) rather than by 振替 review alone
    pub identified: bool,
    pub person_id: Option<i64>,
    pub reason: String,
    pub parts: Vec<ClaimPart>,
    /// identification evidence (assigned) — kept with the claim
    pub evidence: Option<Evidence>,
    /// candidates for staff when `status` is `Worklist`
    pub worklist: Option<(Vec<Evidence>, TekiyouFacts)>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredClaim {
    pub id: i64,
    pub submission_id: i64,
    pub facility: String,
    pub billing_month: YearMonth,
    #[serde(flatten)]
    pub reviewed: ReviewedClaim,
}

/// What settling reads of a claim: its status and amounts with its parts, and its 摘要 (the
/// details to scrub after payment, R27).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SettleClaim {
    pub id: i64,
    pub submission_id: i64,
    pub receipt_number: u32,
    pub service_month: YearMonth,
    pub status: ClaimStatus,
    pub kubun: KakuninKubun,
    pub identified: bool,
    pub points: u64,
    /// what the insurer pays for the whole claim
    pub amount_yen: u64,
    pub parts: Vec<ClaimPart>,
    /// the 摘要 comments as stored (empty when none)
    pub tekiyou: Vec<String>,
}

/// What recording a file did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Recorded {
    New(SubmissionRow),
    /// the same file (same SHA-256) was recorded before: nothing written
    Duplicate(SubmissionRow),
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WorklistItem {
    pub claim: StoredClaim,
    pub candidates: Vec<Evidence>,
    pub facts: TekiyouFacts,
    pub created_at: String,
    pub decided_at: Option<String>,
    pub decided_by: Option<String>,
    /// the person chosen, or `none` (to the pool)
    pub decision: Option<String>,
}

/// A staff decision on a worklist item.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// this candidate is the patient: bill its parts
    Assign(Evidence),
    /// none of them: the claim goes to the pool
    NoneOfThem,
}

/// One 按分 share as stored (with its inputs).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PoolShareRow {
    pub payer: PayerCode,
    pub facility: String,
    pub billing_month: YearMonth,
    pub service_month: YearMonth,
    pub share: Share,
    /// the reference period and the pooled claims' receipt numbers
    pub inputs: serde_json::Value,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PaymentRow {
    pub payer: PayerCode,
    pub insurer_number: String,
    pub facility: String,
    pub service_month: YearMonth,
    pub source: String,
    pub amount_yen: u64,
    pub claims: u64,
}

/// Everything a settlement writes, in one transaction.
#[derive(Debug, Clone, PartialEq)]
pub struct SettlementWrite {
    pub payer: PayerCode,
    pub facility: String,
    pub billing_month: YearMonth,
    pub settled_at: String,
    /// claims settled to their parts
    pub settled: Vec<i64>,
    /// claims settled through 按分
    pub apportioned: Vec<i64>,
    /// pooled claims with no basis to share on
    pub unapportioned: Vec<i64>,
    pub shares: Vec<PoolShareRow>,
    /// added to the payment record
    pub payments: Vec<PaymentRow>,
    /// the statements of the facility's files, as stored (JSON)
    pub statement: String,
    /// R27: the claims' 摘要 with the 申立書 details (address, 事業所名, phone …) removed,
    /// written over the stored 摘要; their worklist facts are cleared too
    pub scrubbed: Vec<(i64, Vec<String>)>,
}

/// The payer's storage interface.
pub trait PayerStore: Send + Sync {
    fn add_principal(&self, token_hash: &str, p: &Principal, at: &str) -> Result<()>;
    fn principal_by_token_hash(&self, token_hash: &str) -> Result<Option<Principal>>;

    fn upsert_facility(&self, f: &FacilityRow) -> Result<()>;
    fn facility(&self, payer: PayerCode, code: &str) -> Result<Option<FacilityRow>>;

    /// Records a file with all its claims, or recognises it as already recorded.
    fn record_submission(&self, s: &NewSubmission, claims: &[ReviewedClaim]) -> Result<Recorded> {
        let mut r = self.record_submissions(&[(s, claims)])?;
        r.pop()
            .ok_or_else(|| PayerStoreError::Corrupt("no outcome for a submission".into()))
    }
    /// Records several files in one transaction (one durable commit for the batch); each is
    /// new or recognised as a duplicate (also of an earlier file of the same batch).
    fn record_submissions(
        &self,
        batch: &[(&NewSubmission, &[ReviewedClaim])],
    ) -> Result<Vec<Recorded>>;
    fn submission(&self, payer: PayerCode, id: i64) -> Result<Option<SubmissionRow>>;
    fn list_submissions(
        &self,
        payer: PayerCode,
        facility: Option<&str>,
    ) -> Result<Vec<SubmissionRow>>;
    fn claims_of_submission(&self, payer: PayerCode, id: i64) -> Result<Vec<StoredClaim>>;
    fn claim(&self, payer: PayerCode, id: i64) -> Result<Option<StoredClaim>>;
    fn claims_of_month(
        &self,
        payer: PayerCode,
        facility: &str,
        billing_month: YearMonth,
    ) -> Result<Vec<StoredClaim>>;
    /// The claims of a facility's billing month as settlement reads them (no facts but those
    /// to scrub), in id order.
    fn settlement_claims(
        &self,
        payer: PayerCode,
        facility: &str,
        billing_month: YearMonth,
    ) -> Result<Vec<SettleClaim>> {
        Ok(self
            .claims_of_month(payer, facility, billing_month)?
            .into_iter()
            .map(|c| SettleClaim {
                id: c.id,
                submission_id: c.submission_id,
                receipt_number: c.reviewed.claim.receipt_number,
                service_month: c.reviewed.claim.service_month,
                status: c.reviewed.status,
                kubun: c.reviewed.kubun,
                identified: c.reviewed.identified,
                points: c.reviewed.claim.points,
                amount_yen: c.reviewed.claim.amount_yen(),
                parts: c.reviewed.parts,
                tekiyou: c.reviewed.claim.tekiyou,
            })
            .collect())
    }
    /// Facilities with claims in the billing month.
    fn facilities_of_month(
        &self,
        payer: PayerCode,
        billing_month: YearMonth,
    ) -> Result<Vec<String>>;

    fn worklist(&self, payer: PayerCode, open_only: bool) -> Result<Vec<WorklistItem>>;
    fn worklist_item(&self, payer: PayerCode, claim_id: i64) -> Result<Option<WorklistItem>>;
    /// Decides an open worklist item; refuses one already decided.
    fn decide(
        &self,
        payer: PayerCode,
        claim_id: i64,
        d: &Decision,
        by: &str,
        at: &str,
    ) -> Result<StoredClaim>;

    /// Each of the payer's insurers' payments to `facility` over the months `from..=to`
    /// (public funds' payments are not among them: 按分 is shared among insurers only).
    fn payments_to(
        &self,
        payer: PayerCode,
        facility: &str,
        from: YearMonth,
        to: YearMonth,
    ) -> Result<Vec<Weight>>;
    fn add_payments(&self, rows: &[PaymentRow]) -> Result<()>;

    fn settle(&self, w: &SettlementWrite) -> Result<()> {
        self.settle_all(std::slice::from_ref(w))
    }
    /// Several settlements in one transaction: all or none.
    fn settle_all(&self, ws: &[SettlementWrite]) -> Result<()>;
    fn statement(
        &self,
        payer: PayerCode,
        facility: &str,
        billing_month: YearMonth,
    ) -> Result<Option<serde_json::Value>>;
    fn set_hook_status(
        &self,
        payer: PayerCode,
        facility: &str,
        billing_month: YearMonth,
        status: &str,
    ) -> Result<()>;

    /// Claims with a part billed to `insurer` (the insurer's view).
    fn claims_for_insurer(&self, payer: PayerCode, insurer: &str) -> Result<Vec<StoredClaim>>;
    fn shares_for_insurer(&self, payer: PayerCode, insurer: &str) -> Result<Vec<PoolShareRow>>;
}

/// The writer's page cache, in KiB (negative: SQLite's unit for a size in KiB).
const WRITER_CACHE_KIB: i64 = -65_536;
/// How much of the file a reader maps.
const READER_MMAP_BYTES: i64 = 1 << 32;

/// The SQLite payer store (`payer.sqlite`): WAL, `synchronous=FULL`, one writer connection
/// and a pool of read-only connections (WAL readers never wait for the writer).
pub struct SqlitePayerStore {
    conn: Mutex<Connection>,
    path: PathBuf,
    readers: Mutex<Vec<Connection>>,
}

impl SqlitePayerStore {
    pub fn open(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        if let Some(dir) = path.parent()
            && !dir.as_os_str().is_empty()
        {
            std::fs::create_dir_all(dir)?;
        }
        let mut c = Connection::open(path)?;
        c.pragma_update(None, "journal_mode", "WAL")?;
        c.pragma_update(None, "synchronous", "FULL")?;
        c.pragma_update(None, "foreign_keys", "ON")?;
        // R27: deleted and overwritten content is zeroed, not left in free pages
        c.pragma_update(None, "secure_delete", "ON")?;
        c.busy_timeout(std::time::Duration::from_secs(10))?;
        // a month of claims touches the claim table's indexes all over: keep them in memory
        c.pragma_update(None, "cache_size", WRITER_CACHE_KIB)?;
        c.execute_batch(SCHEMA)?;
        // settled files are marked (schema 2); in an older database the column is added, and
        // its claims settled before carry their own status
        let has_mark: bool = c
            .prepare("SELECT 1 FROM pragma_table_info('submission') WHERE name = 'settled_at'")?
            .exists([])?;
        if !has_mark {
            c.execute_batch("ALTER TABLE submission ADD COLUMN settled_at TEXT;")?;
        }
        // parts billed to a public fund (schema 3)
        let has_fund: bool = c
            .prepare("SELECT 1 FROM pragma_table_info('claim_part') WHERE name = 'public_fund'")?
            .exists([])?;
        if !has_fund {
            c.execute_batch(
                "ALTER TABLE claim_part ADD COLUMN public_fund INTEGER NOT NULL DEFAULT 0;",
            )?;
        }
        // the claim's facts in typed columns (schema 4): an older database has them as one
        // JSON text, moved into the columns here (one transaction: all or nothing)
        let facts_as_json: bool = c
            .prepare("SELECT 1 FROM pragma_table_info('claim') WHERE name = 'facts'")?
            .exists([])?;
        if facts_as_json {
            upgrade_facts_to_columns(&mut c)?;
        }
        c.pragma_update(None, "user_version", SCHEMA_VERSION)?;
        Ok(SqlitePayerStore {
            conn: Mutex::new(c),
            path: path.to_path_buf(),
            readers: Mutex::new(Vec::new()),
        })
    }

    /// Runs `f` on a read-only connection from the pool (opened on first need).
    fn read<T>(&self, f: impl FnOnce(&Connection) -> Result<T>) -> Result<T> {
        let pooled = self
            .readers
            .lock()
            .map_err(|_| PayerStoreError::Conflict("payer store lock poisoned".into()))?
            .pop();
        let c = match pooled {
            Some(c) => c,
            None => {
                let c = Connection::open_with_flags(
                    &self.path,
                    rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY
                        | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX,
                )?;
                c.busy_timeout(std::time::Duration::from_secs(10))?;
                // reads map the file instead of copying pages
                c.pragma_update(None, "mmap_size", READER_MMAP_BYTES)?;
                c
            }
        };
        let out = f(&c);
        if let Ok(mut pool) = self.readers.lock() {
            pool.push(c);
        }
        out
    }

    fn with<T>(&self, f: impl FnOnce(&mut Connection) -> Result<T>) -> Result<T> {
        let mut c = self
            .conn
            .lock()
            .map_err(|_| PayerStoreError::Conflict("payer store lock poisoned".into()))?;
        f(&mut c)
    }
}

pub(crate) fn payer_of(s: &str) -> Result<PayerCode> {
    PayerCode::parse(s).ok_or_else(|| corrupt("payer", s))
}

pub(crate) fn month_of(s: &str) -> Result<YearMonth> {
    YearMonth::parse(s).ok_or_else(|| corrupt("month", s))
}

pub(crate) fn to_json<T: Serialize>(what: &str, v: &T) -> Result<String> {
    serde_json::to_string(v).map_err(|e| corrupt(what, e))
}

pub(crate) fn from_json<T: for<'de> Deserialize<'de>>(what: &str, s: &str) -> Result<T> {
    serde_json::from_str(s).map_err(|e| corrupt(what, e))
}

const SUBMISSION_COLS: &str = "id, payer, facility, billing_month, file_sha256, file_name, \
     received_at, source, claims, total_points";

fn submission_row(r: &rusqlite::Row<'_>) -> Result<SubmissionRow> {
    Ok(SubmissionRow {
        id: r.get(0)?,
        payer: payer_of(&r.get::<_, String>(1)?)?,
        facility: r.get(2)?,
        billing_month: month_of(&r.get::<_, String>(3)?)?,
        file_sha256: r.get(4)?,
        file_name: r.get(5)?,
        received_at: r.get(6)?,
        source: r.get(7)?,
        claims: r.get::<_, i64>(8)? as u64,
        total_points: r.get::<_, i64>(9)? as u64,
    })
}

/// A claim's facts as columns of `claim c` (schema 4), read back by [`facts_of`].
macro_rules! fact_cols {
    () => {
        "c.receipt_number, c.line, c.receipt_kind, c.service_month, c.name, c.kana_name, \
         c.sex, c.birthdate, c.fusho, c.claimed_number, c.claimed_insurer, c.symbol, c.number, \
         c.branch, c.service_days, c.actual_days, c.points, c.copay_yen, c.public_funds, \
         c.funds, c.tekiyou"
    };
}

/// The claim columns read; the status as read: an assigned claim of a settled file is settled
/// (the settlement marks the file, in the same transaction, rather than rewriting each claim
/// row).
const CLAIM_COLS: &str = concat!(
    "c.id, c.submission_id, c.facility, c.billing_month, ",
    "CASE WHEN c.status = 'assigned' AND (SELECT s.settled_at FROM submission s ",
    "WHERE s.id = c.submission_id) IS NOT NULL THEN 'settled' ELSE c.status END, ",
    "c.kakunin_kubun, c.identified, c.person_id, c.reason, c.evidence, ",
    fact_cols!()
);

/// The facts columns a claim is written with, beside those it shares with the review
/// (receipt number, service month, the 保険者番号 as written, points, copay).
struct FactCols<'a> {
    line: u32,
    receipt_kind: &'a str,
    name: &'a str,
    kana_name: &'a str,
    sex: &'static str,
    birthdate: String,
    claimed_number: Option<&'a str>,
    symbol: &'a str,
    number: &'a str,
    branch: Option<&'a str>,
    service_days: String,
    actual_days: u32,
    public_funds: u8,
    funds: Option<String>,
    tekiyou: Option<String>,
}

impl FactCols<'_> {
    /// The columns' values in their order in the claim table (`line` … `tekiyou`), after
    /// `head`'s values: one list for the insert and the schema-4 upgrade.
    fn after<'p>(&'p self, head: &[&'p dyn rusqlite::ToSql]) -> Vec<&'p dyn rusqlite::ToSql> {
        let mut v = head.to_vec();
        v.extend_from_slice(&[
            &self.line as &dyn rusqlite::ToSql,
            &self.receipt_kind,
            &self.name,
            &self.kana_name,
            &self.sex,
            &self.birthdate,
            &self.claimed_number,
            &self.symbol,
            &self.number,
            &self.branch,
            &self.service_days,
            &self.actual_days,
            &self.public_funds,
            &self.funds,
            &self.tekiyou,
        ]);
        v
    }
}

fn fact_cols(cl: &Claim) -> Result<FactCols<'_>> {
    let mut days = String::with_capacity(cl.service_days.len() * 3);
    for (i, d) in cl.service_days.iter().enumerate() {
        if i > 0 {
            days.push(',');
        }
        days.push_str(&d.to_string());
    }
    Ok(FactCols {
        line: cl.line,
        receipt_kind: &cl.receipt_kind,
        name: &cl.name,
        kana_name: &cl.kana_name,
        sex: cl.sex.code(),
        birthdate: cl.birthdate.to_string(),
        claimed_number: match &cl.numbers.insurer {
            ClaimedInsurer::Known(n) => Some(n.as_str()),
            ClaimedInsurer::Fusho | ClaimedInsurer::PublicFundOnly => None,
        },
        symbol: &cl.numbers.symbol,
        number: &cl.numbers.number,
        branch: cl.numbers.branch.as_deref(),
        service_days: days,
        actual_days: cl.actual_days,
        public_funds: cl.public_funds,
        funds: (!cl.funds.is_empty())
            .then(|| to_json("claim.funds", &cl.funds))
            .transpose()?,
        tekiyou: tekiyou_json(&cl.tekiyou)?,
    })
}

/// The 摘要 as stored: a JSON array, NULL when there is none.
fn tekiyou_json(t: &[String]) -> Result<Option<String>> {
    (!t.is_empty())
        .then(|| to_json("claim.tekiyou", &t))
        .transpose()
}

/// A claim's facts from the [`fact_cols!`] columns starting at `at`.
fn facts_of(r: &rusqlite::Row<'_>, at: usize) -> Result<Claim> {
    let text = |i: usize| -> Result<String> { Ok(r.get::<_, String>(at + i)?) };
    let fusho = r.get::<_, i64>(at + 8)? != 0;
    let insurer = match (r.get::<_, Option<String>>(at + 9)?, fusho) {
        (Some(n), _) => ClaimedInsurer::Known(
            onshi_domain::numbers::InsurerNumber::parse(&n)
                .map_err(|e| corrupt("claim.claimed_number", e))?,
        ),
        (None, true) => ClaimedInsurer::Fusho,
        (None, false) => ClaimedInsurer::PublicFundOnly,
    };
    let sex = text(6)?;
    let birth = text(7)?;
    let days = text(14)?;
    let service_days = if days.is_empty() {
        Vec::new()
    } else {
        days.split(',')
            .map(|d| d.parse().map_err(|e| corrupt("claim.service_days", e)))
            .collect::<Result<Vec<u32>>>()?
    };
    Ok(Claim {
        receipt_number: r.get::<_, i64>(at)? as u32,
        line: r.get::<_, i64>(at + 1)? as u32,
        receipt_kind: text(2)?,
        service_month: month_of(&text(3)?)?,
        name: text(4)?,
        kana_name: text(5)?,
        sex: onshi_domain::numbers::Sex::parse(&sex).map_err(|e| corrupt("claim.sex", e))?,
        birthdate: birth.parse().map_err(|e| corrupt("claim.birthdate", e))?,
        numbers: ClaimedNumbers {
            insurer,
            insurer_raw: text(10)?,
            symbol: text(11)?,
            number: text(12)?,
            branch: r.get(at + 13)?,
        },
        service_days,
        actual_days: r.get::<_, i64>(at + 15)? as u32,
        points: r.get::<_, i64>(at + 16)? as u64,
        copay_yen: r.get::<_, i64>(at + 17)? as u64,
        public_funds: r.get::<_, i64>(at + 18)? as u8,
        funds: r
            .get::<_, Option<String>>(at + 19)?
            .map(|f| from_json::<Vec<PublicFund>>("claim.funds", &f))
            .transpose()?
            .unwrap_or_default(),
        tekiyou: r
            .get::<_, Option<String>>(at + 20)?
            .map(|t| from_json::<Vec<String>>("claim.tekiyou", &t))
            .transpose()?
            .unwrap_or_default(),
    })
}

/// Schema 4: an older database's claims have their facts as one JSON text (`claim.facts`);
/// they are written into the typed columns and the JSON column is dropped, in one
/// transaction.
fn upgrade_facts_to_columns(c: &mut Connection) -> Result<()> {
    let tx = c.transaction()?;
    tx.execute_batch(
        "ALTER TABLE claim ADD COLUMN line INTEGER NOT NULL DEFAULT 0;
         ALTER TABLE claim ADD COLUMN receipt_kind TEXT NOT NULL DEFAULT '';
         ALTER TABLE claim ADD COLUMN name TEXT NOT NULL DEFAULT '';
         ALTER TABLE claim ADD COLUMN kana_name TEXT NOT NULL DEFAULT '';
         ALTER TABLE claim ADD COLUMN sex TEXT NOT NULL DEFAULT '';
         ALTER TABLE claim ADD COLUMN birthdate TEXT NOT NULL DEFAULT '';
         ALTER TABLE claim ADD COLUMN claimed_number TEXT;
         ALTER TABLE claim ADD COLUMN symbol TEXT NOT NULL DEFAULT '';
         ALTER TABLE claim ADD COLUMN number TEXT NOT NULL DEFAULT '';
         ALTER TABLE claim ADD COLUMN branch TEXT;
         ALTER TABLE claim ADD COLUMN service_days TEXT NOT NULL DEFAULT '';
         ALTER TABLE claim ADD COLUMN actual_days INTEGER NOT NULL DEFAULT 0;
         ALTER TABLE claim ADD COLUMN public_funds INTEGER NOT NULL DEFAULT 0;
         ALTER TABLE claim ADD COLUMN funds TEXT;
         ALTER TABLE claim ADD COLUMN tekiyou TEXT;",
    )?;
    {
        let mut rd =
            tx.prepare("SELECT id, facts FROM claim WHERE id > ?1 ORDER BY id LIMIT 10000")?;
        let mut up = tx.prepare(
            "UPDATE claim SET line = ?2, receipt_kind = ?3, name = ?4, kana_name = ?5, \
             sex = ?6, birthdate = ?7, claimed_number = ?8, symbol = ?9, number = ?10, \
             branch = ?11, service_days = ?12, actual_days = ?13, public_funds = ?14, \
             funds = ?15, tekiyou = ?16 WHERE id = ?1",
        )?;
        let mut after = 0i64;
        loop {
            let chunk = rd
                .query_map(params![after], |r| {
                    Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?))
                })?
                .collect::<std::result::Result<Vec<_>, _>>()?;
            let Some(last) = chunk.last() else {
                break;
            };
            after = last.0;
            for (id, facts) in &chunk {
                let cl: Claim = from_json("claim.facts", facts)?;
                let f = fact_cols(&cl)?;
                up.execute(rusqlite::params_from_iter(f.after(&[id])))?;
            }
        }
    }
    tx.execute_batch("ALTER TABLE claim DROP COLUMN facts;")?;
    tx.commit()?;
    Ok(())
}

const PART_COLS: &str = "claim_id, insurer_number, symbol, number, branch, days, points, \
     copay_yen, share_percent, public_fund";

fn part_row(r: &rusqlite::Row<'_>) -> Result<(i64, ClaimPart)> {
    let ins: String = r.get(1)?;
    Ok((
        r.get(0)?,
        ClaimPart {
            bill_to: BillTo {
                insurer_number: onshi_domain::numbers::InsurerNumber::parse(&ins)
                    .map_err(|e| corrupt("claim_part.insurer_number", e))?,
                symbol: r.get(2)?,
                number: r.get(3)?,
                branch: r.get(4)?,
            },
            days: from_json("claim_part.days", &r.get::<_, String>(5)?)?,
            points: r.get::<_, i64>(6)? as u64,
            copay_yen: r.get::<_, i64>(7)? as u64,
            share_percent: r.get::<_, Option<i64>>(8)?.map(|v| v as u8),
            public_fund: r.get::<_, i64>(9)? != 0,
        },
    ))
}

fn claim_row(r: &rusqlite::Row<'_>) -> Result<StoredClaim> {
    let id: i64 = r.get(0)?;
    let status: String = r.get(4)?;
    let kubun: String = r.get(5)?;
    let evidence: Option<String> = r.get(9)?;
    Ok(StoredClaim {
        id,
        submission_id: r.get(1)?,
        facility: r.get(2)?,
        billing_month: month_of(&r.get::<_, String>(3)?)?,
        reviewed: ReviewedClaim {
            claim: facts_of(r, 10)?,
            status: ClaimStatus::parse(&status).ok_or_else(|| corrupt("claim.status", &status))?,
            kubun: KakuninKubun::parse(&kubun)
                .ok_or_else(|| corrupt("claim.kakunin_kubun", &kubun))?,
            identified: r.get::<_, i64>(6)? != 0,
            person_id: r.get(7)?,
            reason: r.get(8)?,
            parts: Vec::new(),
            evidence: evidence
                .map(|e| from_json("claim.evidence", &e))
                .transpose()?,
            worklist: None,
        },
    })
}

/// Claims matching `where_sql` (over `claim c`), with their parts and worklist candidates:
/// three queries whatever the number of claims.
fn query_claims(
    c: &Connection,
    where_sql: &str,
    p: &[&dyn rusqlite::ToSql],
) -> Result<Vec<StoredClaim>> {
    let sql = format!("SELECT {CLAIM_COLS} FROM claim c WHERE {where_sql} ORDER BY c.id");
    let mut st = c.prepare_cached(&sql)?;
    let mut rows = st.query(p)?;
    let mut out = Vec::new();
    let mut at = std::collections::HashMap::new();
    while let Some(r) = rows.next()? {
        let cl = claim_row(r)?;
        at.insert(cl.id, out.len());
        out.push(cl);
    }
    if out.is_empty() {
        return Ok(out);
    }
    let sql = format!(
        "SELECT {PART_COLS} FROM claim_part WHERE claim_id IN \
         (SELECT c.id FROM claim c WHERE {where_sql}) ORDER BY claim_id, part_no"
    );
    let mut st = c.prepare_cached(&sql)?;
    let mut rows = st.query(p)?;
    while let Some(r) = rows.next()? {
        let (id, part) = part_row(r)?;
        if let Some(i) = at.get(&id) {
            out[*i].reviewed.parts.push(part);
        }
    }
    let sql = format!(
        "SELECT claim_id, candidates, facts FROM worklist WHERE claim_id IN \
         (SELECT c.id FROM claim c WHERE {where_sql})"
    );
    let mut st = c.prepare_cached(&sql)?;
    let mut rows = st.query(p)?;
    while let Some(r) = rows.next()? {
        let id: i64 = r.get(0)?;
        if let Some(i) = at.get(&id) {
            out[*i].reviewed.worklist = Some((
                from_json("worklist.candidates", &r.get::<_, String>(1)?)?,
                from_json("worklist.facts", &r.get::<_, String>(2)?)?,
            ));
        }
    }
    Ok(out)
}

fn insert_parts(tx: &Transaction<'_>, claim_id: i64, parts: &[ClaimPart]) -> Result<()> {
    let mut st = tx.prepare_cached(
        "INSERT INTO claim_part (claim_id, part_no, insurer_number, symbol, number, branch, days, \
         points, copay_yen, amount_yen, share_percent, public_fund) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
    )?;
    for (i, p) in parts.iter().enumerate() {
        st.execute(params![
            claim_id,
            i as i64 + 1,
            p.bill_to.insurer_number.as_str(),
            p.bill_to.symbol,
            p.bill_to.number,
            p.bill_to.branch,
            to_json("claim_part.days", &p.days)?,
            p.points as i64,
            p.copay_yen as i64,
            p.amount_yen() as i64,
            p.share_percent.map(i64::from),
            p.public_fund,
        ])?;
    }
    Ok(())
}

fn worklist_row(c: &Connection, payer: PayerCode, r: &rusqlite::Row<'_>) -> Result<WorklistItem> {
    let claim_id: i64 = r.get(0)?;
    let claim = query_claims(c, "c.id = ?1 AND c.payer = ?2", &[&claim_id, &payer.code()])?
        .pop()
        .ok_or_else(|| corrupt("worklist.claim_id", claim_id))?;
    Ok(WorklistItem {
        claim,
        candidates: from_json("worklist.candidates", &r.get::<_, String>(1)?)?,
        facts: from_json("worklist.facts", &r.get::<_, String>(2)?)?,
        created_at: r.get(3)?,
        decided_at: r.get(4)?,
        decided_by: r.get(5)?,
        decision: r.get(6)?,
    })
}

impl PayerStore for SqlitePayerStore {
    fn add_principal(&self, token_hash: &str, p: &Principal, at: &str) -> Result<()> {
        self.with(|c| {
            c.execute(
                "INSERT INTO principal (token_hash, role, payer, subject, created_at) \
                 VALUES (?1, ?2, ?3, ?4, ?5)",
                params![token_hash, p.role.code(), p.payer.code(), p.subject, at],
            )?;
            Ok(())
        })
    }

    fn principal_by_token_hash(&self, token_hash: &str) -> Result<Option<Principal>> {
        self.read(|c| {
            let row: Option<(String, String, String)> = c
                .prepare_cached("SELECT role, payer, subject FROM principal WHERE token_hash = ?1")?
                .query_row(params![token_hash], |r| {
                    Ok((r.get(0)?, r.get(1)?, r.get(2)?))
                })
                .optional()?;
            row.map(|(role, payer, subject)| {
                Ok(Principal {
                    role: Role::parse(&role).ok_or_else(|| corrupt("principal.role", &role))?,
                    payer: payer_of(&payer)?,
                    subject,
                })
            })
            .transpose()
        })
    }

    fn upsert_facility(&self, f: &FacilityRow) -> Result<()> {
        self.with(|c| {
            c.execute(
                "INSERT INTO facility (payer, code, name, hook_url) VALUES (?1, ?2, ?3, ?4) \
                 ON CONFLICT (payer, code) DO UPDATE SET name = excluded.name, \
                 hook_url = excluded.hook_url",
                params![f.payer.code(), f.code, f.name, f.hook_url],
            )?;
            Ok(())
        })
    }

    fn facility(&self, payer: PayerCode, code: &str) -> Result<Option<FacilityRow>> {
        self.read(|c| {
            Ok(c.prepare_cached(
                "SELECT name, hook_url FROM facility WHERE payer = ?1 AND code = ?2",
            )?
            .query_row(params![payer.code(), code], |r| {
                Ok(FacilityRow {
                    payer,
                    code: code.to_string(),
                    name: r.get(0)?,
                    hook_url: r.get(1)?,
                })
            })
            .optional()?)
        })
    }

    fn record_submissions(
        &self,
        batch: &[(&NewSubmission, &[ReviewedClaim])],
    ) -> Result<Vec<Recorded>> {
        self.with(|c| {
            let tx = c.transaction()?;
            let mut out = Vec::with_capacity(batch.len());
            for (s, claims) in batch {
                out.push(record_one(&tx, s, claims)?);
            }
            tx.commit()?;
            Ok(out)
        })
    }

    fn submission(&self, payer: PayerCode, id: i64) -> Result<Option<SubmissionRow>> {
        self.read(|c| {
            c.prepare_cached(&format!(
                "SELECT {SUBMISSION_COLS} FROM submission WHERE payer = ?1 AND id = ?2"
            ))?
            .query_row(params![payer.code(), id], |r| Ok(submission_row(r)))
            .optional()?
            .transpose()
        })
    }

    fn list_submissions(
        &self,
        payer: PayerCode,
        facility: Option<&str>,
    ) -> Result<Vec<SubmissionRow>> {
        self.read(|c| {
            let mut st = c.prepare_cached(&format!(
                "SELECT {SUBMISSION_COLS} FROM submission WHERE payer = ?1 \
                 AND (?2 IS NULL OR facility = ?2) ORDER BY id DESC LIMIT 500"
            ))?;
            let mut rows = st.query(params![payer.code(), facility])?;
            let mut out = Vec::new();
            while let Some(r) = rows.next()? {
                out.push(submission_row(r)?);
            }
            Ok(out)
        })
    }

    fn claims_of_submission(&self, payer: PayerCode, id: i64) -> Result<Vec<StoredClaim>> {
        self.read(|c| {
            query_claims(
                c,
                "c.payer = ?1 AND c.submission_id = ?2",
                &[&payer.code(), &id],
            )
        })
    }

    fn claim(&self, payer: PayerCode, id: i64) -> Result<Option<StoredClaim>> {
        self.read(|c| {
            Ok(query_claims(c, "c.payer = ?1 AND c.id = ?2", &[&payer.code(), &id])?.pop())
        })
    }

    fn claims_of_month(
        &self,
        payer: PayerCode,
        facility: &str,
        billing_month: YearMonth,
    ) -> Result<Vec<StoredClaim>> {
        let m = billing_month.to_string();
        self.read(|c| {
            query_claims(
                c,
                "c.payer = ?1 AND c.facility = ?2 AND c.billing_month = ?3",
                &[&payer.code(), &facility, &m],
            )
        })
    }

    fn settlement_claims(
        &self,
        payer: PayerCode,
        facility: &str,
        billing_month: YearMonth,
    ) -> Result<Vec<SettleClaim>> {
        let m = billing_month.to_string();
        self.read(|c| {
            let mut st = c.prepare_cached(
                "SELECT c.id, c.submission_id, c.receipt_number, c.service_month, \
                 CASE WHEN c.status = 'assigned' AND (SELECT s.settled_at FROM submission s \
                 WHERE s.id = c.submission_id) IS NOT NULL THEN 'settled' ELSE c.status END, \
                 kakunin_kubun, identified, amount_yen, points, \
                 c.tekiyou \
                 FROM claim c WHERE c.payer = ?1 AND c.facility = ?2 \
                 AND c.billing_month = ?3 ORDER BY c.id",
            )?;
            let mut rows = st.query(params![payer.code(), facility, m])?;
            let mut out: Vec<SettleClaim> = Vec::new();
            while let Some(r) = rows.next()? {
                let status: String = r.get(4)?;
                let kubun: String = r.get(5)?;
                let tekiyou: Option<String> = r.get(9)?;
                out.push(SettleClaim {
                    id: r.get(0)?,
                    submission_id: r.get(1)?,
                    receipt_number: r.get::<_, i64>(2)? as u32,
                    service_month: month_of(&r.get::<_, String>(3)?)?,
                    status: ClaimStatus::parse(&status)
                        .ok_or_else(|| corrupt("claim.status", &status))?,
                    kubun: KakuninKubun::parse(&kubun)
                        .ok_or_else(|| corrupt("claim.kakunin_kubun", &kubun))?,
                    identified: r.get::<_, i64>(6)? != 0,
                    amount_yen: r.get::<_, i64>(7)? as u64,
                    points: r.get::<_, i64>(8)? as u64,
                    parts: Vec::new(),
                    tekiyou: tekiyou
                        .map(|t| from_json::<Vec<String>>("claim.tekiyou", &t))
                        .transpose()?
                        .unwrap_or_default(),
                });
            }
            if out.is_empty() {
                return Ok(out);
            }
            let mut st = c.prepare_cached(&format!(
                "SELECT {PART_COLS} FROM claim_part WHERE claim_id IN \
                 (SELECT id FROM claim WHERE payer = ?1 AND facility = ?2 \
                 AND billing_month = ?3) ORDER BY claim_id, part_no"
            ))?;
            let mut rows = st.query(params![payer.code(), facility, m])?;
            // both in id order: walk them together
            let mut i = 0;
            while let Some(r) = rows.next()? {
                let (id, part) = part_row(r)?;
                while i < out.len() && out[i].id < id {
                    i += 1;
                }
                if i < out.len() && out[i].id == id {
                    out[i].parts.push(part);
                }
            }
            Ok(out)
        })
    }

    fn facilities_of_month(
        &self,
        payer: PayerCode,
        billing_month: YearMonth,
    ) -> Result<Vec<String>> {
        self.read(|c| {
            let mut st = c.prepare_cached(
                "SELECT DISTINCT facility FROM submission WHERE payer = ?1 AND billing_month = ?2 \
                 ORDER BY facility",
            )?;
            let rows = st.query_map(params![payer.code(), billing_month.to_string()], |r| {
                r.get::<_, String>(0)
            })?;
            Ok(rows.collect::<std::result::Result<Vec<_>, _>>()?)
        })
    }

    fn worklist(&self, payer: PayerCode, open_only: bool) -> Result<Vec<WorklistItem>> {
        self.read(|c| {
            let mut st = c.prepare_cached(
                "SELECT claim_id, candidates, facts, created_at, decided_at, decided_by, decision \
                 FROM worklist WHERE payer = ?1 AND (?2 = 0 OR decided_at IS NULL) \
                 ORDER BY claim_id LIMIT 1000",
            )?;
            let mut rows = st.query(params![payer.code(), open_only])?;
            let mut out = Vec::new();
            while let Some(r) = rows.next()? {
                out.push(worklist_row(c, payer, r)?);
            }
            Ok(out)
        })
    }

    fn worklist_item(&self, payer: PayerCode, claim_id: i64) -> Result<Option<WorklistItem>> {
        self.read(|c| {
            let mut st = c.prepare_cached(
                "SELECT claim_id, candidates, facts, created_at, decided_at, decided_by, decision \
                 FROM worklist WHERE payer = ?1 AND claim_id = ?2",
            )?;
            let mut rows = st.query(params![payer.code(), claim_id])?;
            match rows.next()? {
                Some(r) => Ok(Some(worklist_row(c, payer, r)?)),
                None => Ok(None),
            }
        })
    }

    fn decide(
        &self,
        payer: PayerCode,
        claim_id: i64,
        d: &Decision,
        by: &str,
        at: &str,
    ) -> Result<StoredClaim> {
        self.with(|c| {
            let tx = c.transaction()?;
            let open: Option<Option<String>> = tx
                .query_row(
                    "SELECT decided_at FROM worklist WHERE payer = ?1 AND claim_id = ?2",
                    params![payer.code(), claim_id],
                    |r| r.get(0),
                )
                .optional()?;
            match open {
                None => {
                    return Err(PayerStoreError::NotFound(format!(
                        "worklist item {claim_id}"
                    )));
                }
                Some(Some(_)) => {
                    return Err(PayerStoreError::Conflict(format!(
                        "worklist item {claim_id} is already decided"
                    )));
                }
                Some(None) => {}
            }
            let decision = match d {
                Decision::Assign(e) => {
                    let kubun = if e.parts.len() > 1 {
                        KakuninKubun::Bunkatsu
                    } else {
                        KakuninKubun::Furikae
                    };
                    tx.execute(
                        "UPDATE claim SET status = 'assigned', kakunin_kubun = ?1, identified = 1, \
                         person_id = ?2, evidence = ?3, reason = ?4 WHERE id = ?5",
                        params![
                            kubun.code(),
                            e.person_id,
                            to_json("claim.evidence", e)?,
                            format!("職員が候補者を特定（{by}）"),
                            claim_id
                        ],
                    )?;
                    insert_parts(&tx, claim_id, &e.parts)?;
                    e.person_id.to_string()
                }
                Decision::NoneOfThem => {
                    tx.execute(
                        "UPDATE claim SET status = 'pool', reason = ?1 WHERE id = ?2",
                        params![format!("職員が該当者なしと判断（{by}）: 按分へ"), claim_id],
                    )?;
                    "none".to_string()
                }
            };
            tx.execute(
                "UPDATE worklist SET decided_at = ?1, decided_by = ?2, decision = ?3 \
                 WHERE claim_id = ?4",
                params![at, by, decision, claim_id],
            )?;
            let out = query_claims(&tx, "c.id = ?1", &[&claim_id])?
                .pop()
                .ok_or_else(|| PayerStoreError::NotFound(format!("claim {claim_id}")))?;
            tx.commit()?;
            Ok(out)
        })
    }

    fn payments_to(
        &self,
        payer: PayerCode,
        facility: &str,
        from: YearMonth,
        to: YearMonth,
    ) -> Result<Vec<Weight>> {
        self.read(|c| {
            let mut st = c.prepare_cached(
                "SELECT insurer_number, SUM(amount_yen) FROM payment WHERE payer = ?1 \
                 AND facility = ?2 AND service_month BETWEEN ?3 AND ?4 \
                 AND source <> 'public_fund' \
                 GROUP BY insurer_number ORDER BY insurer_number",
            )?;
            let mut rows = st.query(params![
                payer.code(),
                facility,
                from.to_string(),
                to.to_string()
            ])?;
            let mut out = Vec::new();
            while let Some(r) = rows.next()? {
                let ins: String = r.get(0)?;
                out.push(Weight {
                    insurer_number: onshi_domain::numbers::InsurerNumber::parse(&ins)
                        .map_err(|e| corrupt("payment.insurer_number", e))?,
                    paid_yen: r.get::<_, i64>(1)? as u64,
                });
            }
            Ok(out)
        })
    }

    fn add_payments(&self, rows: &[PaymentRow]) -> Result<()> {
        self.with(|c| {
            let tx = c.transaction()?;
            add_payments_tx(&tx, rows)?;
            tx.commit()?;
            Ok(())
        })
    }

    fn settle_all(&self, ws: &[SettlementWrite]) -> Result<()> {
        self.with(|c| {
            let tx = c.transaction()?;
            for w in ws {
                let done: Option<String> = tx
                    .query_row(
                        "SELECT settled_at FROM settlement WHERE payer = ?1 AND facility = ?2 \
                     AND billing_month = ?3",
                        params![w.payer.code(), w.facility, w.billing_month.to_string()],
                        |r| r.get(0),
                    )
                    .optional()?;
                if done.is_some() {
                    return Err(PayerStoreError::Conflict(format!(
                        "facility {} billing month {} is already settled",
                        w.facility, w.billing_month
                    )));
                }
                {
                    // the claims billed to their parts are settled with their files: every
                    // assigned claim of the facility's unsettled files of the month (which
                    // must be exactly those prepared) reads as settled from this commit on
                    // (CLAIM_COLS), without rewriting a million claim rows
                    let n: i64 = tx
                        .prepare_cached(
                            "SELECT count(*) FROM claim c JOIN submission s \
                             ON s.id = c.submission_id WHERE c.payer = ?1 AND c.facility = ?2 \
                             AND c.billing_month = ?3 AND c.status = 'assigned' \
                             AND s.settled_at IS NULL",
                        )?
                        .query_row(
                            params![w.payer.code(), w.facility, w.billing_month.to_string()],
                            |r| r.get(0),
                        )?;
                    if n as usize != w.settled.len() {
                        return Err(PayerStoreError::Conflict(format!(
                            "facility {} billing month {}: {n} claims to settle, {} prepared; \
                             the claims changed meanwhile",
                            w.facility,
                            w.billing_month,
                            w.settled.len()
                        )));
                    }
                    tx.prepare_cached(
                        "UPDATE submission SET settled_at = ?4 WHERE payer = ?1 \
                         AND facility = ?2 AND billing_month = ?3 AND settled_at IS NULL",
                    )?
                    .execute(params![
                        w.payer.code(),
                        w.facility,
                        w.billing_month.to_string(),
                        w.settled_at
                    ])?;
                    let mut up = tx.prepare_cached(
                        "UPDATE claim SET status = ?1 WHERE id = ?2 AND payer = ?3",
                    )?;
                    for (ids, st) in [
                        (&w.apportioned, ClaimStatus::Apportioned),
                        (&w.unapportioned, ClaimStatus::Unapportioned),
                    ] {
                        for id in ids {
                            up.execute(params![st.code(), id, w.payer.code()])?;
                        }
                    }
                    let mut sh = tx.prepare_cached(
                        "INSERT INTO pool_share (payer, facility, billing_month, service_month, \
                     insurer_number, share_yen, inputs) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                    )?;
                    for s in &w.shares {
                        let mut inputs = s.inputs.clone();
                        inputs["share"] = serde_json::to_value(&s.share)
                            .map_err(|e| corrupt("pool_share.inputs", e))?;
                        sh.execute(params![
                            w.payer.code(),
                            w.facility,
                            w.billing_month.to_string(),
                            s.service_month.to_string(),
                            s.share.insurer_number.as_str(),
                            s.share.share_yen as i64,
                            to_json("pool_share.inputs", &inputs)?
                        ])?;
                    }
                }
                add_payments_tx(&tx, &w.payments)?;
                {
                    let mut up =
                        tx.prepare_cached("UPDATE claim SET tekiyou = ?1 WHERE id = ?2")?;
                    let mut wl =
                        tx.prepare_cached("UPDATE worklist SET facts = '{}' WHERE claim_id = ?1")?;
                    for (id, tekiyou) in &w.scrubbed {
                        up.execute(params![tekiyou_json(tekiyou)?, id])?;
                        wl.execute(params![id])?;
                    }
                }
                tx.execute(
                "INSERT INTO settlement (payer, facility, billing_month, settled_at, statement) \
                 VALUES (?1, ?2, ?3, ?4, ?5)",
                params![
                    w.payer.code(),
                    w.facility,
                    w.billing_month.to_string(),
                    w.settled_at,
                    w.statement
                ],
            )?;
            }
            tx.commit()?;
            // R27: the old pages in the write-ahead log go too
            c.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))?;
            Ok(())
        })
    }

    fn statement(
        &self,
        payer: PayerCode,
        facility: &str,
        billing_month: YearMonth,
    ) -> Result<Option<serde_json::Value>> {
        self.read(|c| {
            let s: Option<String> = c
                .query_row(
                    "SELECT statement FROM settlement WHERE payer = ?1 AND facility = ?2 \
                     AND billing_month = ?3",
                    params![payer.code(), facility, billing_month.to_string()],
                    |r| r.get(0),
                )
                .optional()?;
            s.map(|s| from_json("settlement.statement", &s)).transpose()
        })
    }

    fn set_hook_status(
        &self,
        payer: PayerCode,
        facility: &str,
        billing_month: YearMonth,
        status: &str,
    ) -> Result<()> {
        self.with(|c| {
            c.execute(
                "UPDATE settlement SET hook_status = ?1 WHERE payer = ?2 AND facility = ?3 \
                 AND billing_month = ?4",
                params![status, payer.code(), facility, billing_month.to_string()],
            )?;
            Ok(())
        })
    }

    fn claims_for_insurer(&self, payer: PayerCode, insurer: &str) -> Result<Vec<StoredClaim>> {
        self.read(|c| {
            query_claims(
                c,
                "c.payer = ?1 AND c.id IN (SELECT claim_id FROM claim_part WHERE insurer_number = ?2)",
                &[&payer.code(), &insurer],
            )
        })
    }

    fn shares_for_insurer(&self, payer: PayerCode, insurer: &str) -> Result<Vec<PoolShareRow>> {
        self.read(|c| {
            let mut st = c.prepare_cached(
                "SELECT facility, billing_month, service_month, inputs FROM pool_share \
                 WHERE payer = ?1 AND insurer_number = ?2 \
                 ORDER BY billing_month, facility, service_month",
            )?;
            let mut rows = st.query(params![payer.code(), insurer])?;
            let mut out = Vec::new();
            while let Some(r) = rows.next()? {
                let inputs: serde_json::Value =
                    from_json("pool_share.inputs", &r.get::<_, String>(3)?)?;
                let share: Share = serde_json::from_value(inputs["share"].clone())
                    .map_err(|e| corrupt("pool_share.inputs.share", e))?;
                out.push(PoolShareRow {
                    payer,
                    facility: r.get(0)?,
                    billing_month: month_of(&r.get::<_, String>(1)?)?,
                    service_month: month_of(&r.get::<_, String>(2)?)?,
                    share,
                    inputs,
                });
            }
            Ok(out)
        })
    }
}

fn record_one(
    tx: &Transaction<'_>,
    s: &NewSubmission,
    claims: &[ReviewedClaim],
) -> Result<Recorded> {
    let existing = tx
        .prepare_cached(&format!(
            "SELECT {SUBMISSION_COLS} FROM submission WHERE payer = ?1 AND file_sha256 = ?2"
        ))?
        .query_row(params![s.payer.code(), s.file_sha256], |r| {
            Ok(submission_row(r))
        })
        .optional()?
        .transpose()?;
    if let Some(row) = existing {
        return Ok(Recorded::Duplicate(row));
    }
    let total_points: u64 = claims.iter().map(|c| c.claim.points).sum();
    tx.execute(
        "INSERT INTO submission (payer, facility, billing_month, file_sha256, file_name, \
             received_at, source, claims, total_points) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
        params![
            s.payer.code(),
            s.facility,
            s.billing_month.to_string(),
            s.file_sha256,
            s.file_name,
            s.received_at,
            s.source,
            claims.len() as i64,
            total_points as i64
        ],
    )?;
    let sub_id = tx.last_insert_rowid();
    {
        let mut ins = tx.prepare_cached(
            "INSERT INTO claim (submission_id, payer, facility, billing_month, \
                 service_month, receipt_number, claimed_insurer, fusho, status, \
                 kakunin_kubun, identified, person_id, reason, points, copay_yen, \
                 amount_yen, evidence, line, receipt_kind, name, kana_name, sex, birthdate, \
                 claimed_number, symbol, number, branch, service_days, actual_days, \
                 public_funds, funds, tekiyou) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, \
                 ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20, ?21, ?22, ?23, ?24, \
                 ?25, ?26, ?27, ?28, ?29, ?30, ?31, ?32)",
        )?;
        let mut wl = tx.prepare_cached(
            "INSERT INTO worklist (claim_id, payer, candidates, facts, created_at) \
                 VALUES (?1, ?2, ?3, ?4, ?5)",
        )?;
        for rc in claims {
            let cl = &rc.claim;
            let f = fact_cols(cl)?;
            let (billing, service) = (s.billing_month.to_string(), cl.service_month.to_string());
            let (fusho, status, kubun) = (cl.is_fusho(), rc.status.code(), rc.kubun.code());
            let (points, copay, amount) = (
                cl.points as i64,
                cl.copay_yen as i64,
                cl.amount_yen() as i64,
            );
            let evidence = rc
                .evidence
                .as_ref()
                .map(|e| to_json("claim.evidence", e))
                .transpose()?;
            let payer = s.payer.code();
            ins.execute(rusqlite::params_from_iter(f.after(&[
                &sub_id,
                &payer,
                &s.facility,
                &billing,
                &service,
                &cl.receipt_number,
                &cl.numbers.insurer_raw,
                &fusho,
                &status,
                &kubun,
                &rc.identified,
                &rc.person_id,
                &rc.reason,
                &points,
                &copay,
                &amount,
                &evidence,
            ])))?;
            let id = tx.last_insert_rowid();
            insert_parts(tx, id, &rc.parts)?;
            if let Some((cands, facts)) = &rc.worklist {
                wl.execute(params![
                    id,
                    s.payer.code(),
                    to_json("worklist.candidates", cands)?,
                    to_json("worklist.facts", facts)?,
                    s.received_at
                ])?;
            }
        }
    }
    let row = tx
        .prepare_cached(&format!(
            "SELECT {SUBMISSION_COLS} FROM submission WHERE id = ?1"
        ))?
        .query_row(params![sub_id], |r| Ok(submission_row(r)))??;
    Ok(Recorded::New(row))
}

fn add_payments_tx(tx: &Transaction<'_>, rows: &[PaymentRow]) -> Result<()> {
    let mut st = tx.prepare_cached(
        "INSERT INTO payment (payer, insurer_number, facility, service_month, source, amount_yen, \
         claims) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) \
         ON CONFLICT (payer, facility, service_month, insurer_number, source) DO UPDATE SET \
         amount_yen = amount_yen + excluded.amount_yen, claims = claims + excluded.claims",
    )?;
    for p in rows {
        st.execute(params![
            p.payer.code(),
            p.insurer_number,
            p.facility,
            p.service_month.to_string(),
            p.source,
            p.amount_yen as i64,
            p.claims as i64
        ])?;
    }
    Ok(())
}
