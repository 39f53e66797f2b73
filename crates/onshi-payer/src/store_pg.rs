//! The payer's own database on PostgreSQL (`postgres://…`): [`PostgresPayerStore`], the same
//! [`PayerStore`] as [`crate::store::SqlitePayerStore`] with the same results, order and
//! errors (`tests/store_conformance.rs` runs one suite on both).
//!
//! As the central's PostgreSQL store (`onshi_store::postgres`): `tokio-postgres` with a
//! `deadpool-postgres` pool whose connections' I/O runs on a small runtime the store owns; a
//! call waits for its answer with `futures_executor::block_on`, which does not panic inside
//! another runtime (the payer's API calls the store from its tokio threads). Schema:
//! versioned migrations ([`migrations`], refinery, `src/pg_migrations/`) applied at open under
//! an advisory lock, in a history table of their own (`onshi_payer_schema_history`).
//!
//! Transactions: each method is one transaction, committed (durably: PostgreSQL's default
//! `synchronous_commit`) before it returns. SQLite has one writer at a time; here writers run
//! side by side, so what SQLite's single writer made safe is made safe by the statements
//! themselves: a file is inserted `ON CONFLICT DO NOTHING` on its SHA-256 (the same file sent
//! twice at once is one submission and one duplicate), a settlement marks its files first and
//! counts their assigned claims after (a file or a decision that landed meanwhile makes the
//! count differ: refused), a decision locks its claim's file against a settlement running.
//! A file's claims, parts and worklist items go in one binary `COPY` each, their ids taken
//! from the identity sequence up front (in file order, as SQLite's loop gives them).
//!
//! R27: the 申立書 details (a claim's 摘要 comments and the worklist facts of such a claim) are
//! never sent to the server in clear. They are sealed under a key of their file kept outside
//! the database ([`crate::form_keys`], named by `submission.form_key`), opened when read, and
//! written over at settlement, whose commit is followed by the deletion of the month's keys.

use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::str::FromStr;

use deadpool_postgres::{Client, GenericClient, Transaction};
use deadpool_postgres::{Manager, ManagerConfig, Object, Pool, RecyclingMethod};
use tokio_postgres::binary_copy::BinaryCopyInWriter;
use tokio_postgres::types::{ToSql, Type};
use tokio_postgres::{NoTls, Row};

use crate::apportion::{Share, Weight};
use crate::form_keys::FormKeys;
use crate::model::{
    BillTo, Claim, ClaimPart, ClaimedInsurer, ClaimedNumbers, KakuninKubun, PayerCode, PublicFund,
    YearMonth,
};
use crate::store::{
    ClaimStatus, Decision, FacilityRow, NewSubmission, PayerStore, PayerStoreError, PaymentRow,
    PoolShareRow, Principal, Recorded, Result, ReviewedClaim, Role, SettleClaim, SettlementWrite,
    StoredClaim, SubmissionRow, WorklistItem, corrupt, from_json, month_of, payer_of, to_json,
};

/// The versioned schema of the payer's PostgreSQL database, oldest first.
pub mod migrations {
    use crate::store::{PayerStoreError, Result};

    /// `(version, name, sql)` of every migration.
    pub const ALL: &[(i32, &str, &str)] = &[
        (1, "payer", include_str!("pg_migrations/V1__payer.sql")),
        (
            2,
            "form_keys",
            include_str!("pg_migrations/V2__form_keys.sql"),
        ),
    ];

    /// The table refinery keeps the applied migrations in.
    pub const HISTORY_TABLE: &str = "onshi_payer_schema_history";

    /// The refinery runner of every migration.
    pub fn runner() -> Result<refinery::Runner> {
        let ms: Vec<refinery::Migration> = ALL
            .iter()
            .map(|(v, name, sql)| {
                refinery::Migration::unapplied(&format!("V{v}__{name}"), sql)
                    .map_err(|e| PayerStoreError::Migration(format!("V{v}__{name}: {e}")))
            })
            .collect::<Result<_>>()?;
        let mut r = refinery::Runner::new(&ms)
            .set_abort_divergent(true)
            .set_target(refinery::Target::Latest);
        r.set_migration_table_name(HISTORY_TABLE);
        Ok(r)
    }

    /// The newest schema version.
    pub fn latest() -> i32 {
        ALL.last().map(|m| m.0).unwrap_or(0)
    }
}

/// The payer's tables (schema 2), in the order the migrations make them.
pub const TABLES: &[&str] = &[
    "principal",
    "facility",
    "submission",
    "claim",
    "claim_part",
    "worklist",
    "pool_share",
    "payment",
    "settlement",
];

/// The tables a file's claims are written to, whose statistics are taken as they grow.
const GROWING_TABLES: &str = "submission, claim, claim_part, worklist";

/// Claims recorded before the statistics are first taken.
const ANALYZE_FIRST: u64 = 1_000;

/// The advisory lock one migrating process holds at a time (the central's is 7235001).
const MIGRATION_LOCK: i64 = 7_235_002;
/// Connections in the pool.
const POOL_SIZE: usize = 16;

/// The payer's store on PostgreSQL.
pub struct PostgresPayerStore {
    rt: Option<tokio::runtime::Runtime>,
    pool: Pool,
    url_redacted: String,
    /// the keys the 申立書 details are sealed under (R27), outside the database
    keys: FormKeys,
    /// how the claims grew since the tables' statistics were taken
    grown: std::sync::Mutex<Grown>,
}

/// The claims recorded by this store since the tables' statistics were last taken, and the
/// claims those statistics counted (see [`PostgresPayerStore::analyze_when_grown`]).
#[derive(Default)]
struct Grown {
    since: u64,
    counted: u64,
}

impl Drop for PostgresPayerStore {
    fn drop(&mut self) {
        // dropping a runtime inside another runtime's task would panic; this never waits
        if let Some(rt) = self.rt.take() {
            rt.shutdown_background();
        }
    }
}

impl PostgresPayerStore {
    /// Connects to `url` (`postgres://user@host:port/db`, the payer's own database) and
    /// applies the pending migrations. The central's database is refused: the payer keeps
    /// its own (it reads the registry through its role, `--registry`). `form_keys` is the
    /// folder of the keys its files' 申立書 details are sealed under ([`crate::form_keys`]):
    /// every process that opens this database needs the same folder. The keys of months
    /// settled but not yet deleted (a stop between the settlement's commit and the deletion)
    /// are deleted here.
    pub fn open(url: &str, form_keys: &std::path::Path) -> Result<Self> {
        let keys = FormKeys::open(form_keys)?;
        let mut cfg = tokio_postgres::Config::from_str(url).map_err(|e| {
            PayerStoreError::Pool(format!(
                "bad PostgreSQL URL {}: {e}",
                onshi_store::postgres::redact(url)
            ))
        })?;
        if cfg.get_application_name().is_none() {
            cfg.application_name("onshi-payer");
        }
        let mgr = Manager::from_config(
            cfg,
            NoTls,
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(mgr)
            .max_size(POOL_SIZE)
            .runtime(deadpool_postgres::Runtime::Tokio1)
            .build()
            .map_err(|e| PayerStoreError::Pool(e.to_string()))?;
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("onshi-payer-pg")
            .enable_all()
            .build()?;
        let store = PostgresPayerStore {
            rt: Some(rt),
            pool,
            url_redacted: onshi_store::postgres::redact(url),
            keys,
            grown: std::sync::Mutex::new(Grown::default()),
        };
        store.migrate()?;
        store.destroy_settled_keys()?;
        store.analyze_at_open()?;
        Ok(store)
    }

    /// Takes the statistics of the tables a file's claims go to once the claims recorded by
    /// this store have doubled since they were last taken. Without them the plans the server
    /// keeps for the foreign-key checks of `COPY` are those of empty tables, which may look a
    /// file up through an index that matches only its payer (`submission_by_facility`): every
    /// claim then scanned every file of its payer, and a month's intake grew with the square of
    /// its claims (200,000 claims took 803 s, on a server whose autovacuum is off). `ANALYZE`
    /// also makes the server plan those checks again.
    fn analyze_when_grown(&self, recorded: u64) -> Result<()> {
        let due = {
            let mut g = self.grown.lock().unwrap_or_else(|e| e.into_inner());
            g.since += recorded;
            g.since >= g.counted.max(ANALYZE_FIRST)
        };
        if due { self.analyze() } else { Ok(()) }
    }

    /// At open: the statistics taken if the tables hold claims they never counted, else the
    /// count they hold is where [`PostgresPayerStore::analyze_when_grown`] starts from.
    fn analyze_at_open(&self) -> Result<()> {
        if let Some(n) = self.claims_counted()? {
            self.grown.lock().unwrap_or_else(|e| e.into_inner()).counted = n;
            return Ok(());
        }
        let any: bool = self.run(async |c| {
            Ok(c.query_one("SELECT EXISTS (SELECT 1 FROM claim)", &[])
                .await?
                .try_get(0)?)
        })?;
        if any { self.analyze() } else { Ok(()) }
    }

    /// `ANALYZE` of the growing tables; the count starts again from what it counted.
    fn analyze(&self) -> Result<()> {
        self.run(async |c| {
            c.batch_execute(&format!("ANALYZE {GROWING_TABLES}"))
                .await?;
            Ok(())
        })?;
        let counted = self.claims_counted()?.unwrap_or(0);
        *self.grown.lock().unwrap_or_else(|e| e.into_inner()) = Grown { since: 0, counted };
        Ok(())
    }

    /// The claims the tables' statistics last counted (`None`: never taken).
    fn claims_counted(&self) -> Result<Option<u64>> {
        let n: f32 = self.run(async |c| {
            Ok(c.query_one(
                "SELECT reltuples FROM pg_class WHERE oid = 'claim'::regclass",
                &[],
            )
            .await?
            .try_get(0)?)
        })?;
        Ok((n >= 0.0).then_some(n as u64))
    }

    /// Deletes the keys of settled files, then forgets them (R27). Run after a settlement's
    /// commit and at open.
    fn destroy_settled_keys(&self) -> Result<()> {
        let ids: Vec<String> = self.run(async |c| {
            c.query(
                "SELECT form_key FROM submission WHERE settled_at IS NOT NULL \
                 AND form_key IS NOT NULL",
                &[],
            )
            .await?
            .iter()
            .map(|r| Ok(r.try_get(0)?))
            .collect::<Result<_>>()
        })?;
        if ids.is_empty() {
            return Ok(());
        }
        self.keys.destroy(&ids)?;
        self.run(async |c| {
            c.execute(
                "UPDATE submission SET form_key = NULL WHERE form_key = ANY($1)",
                &[&ids],
            )
            .await?;
            Ok(())
        })
    }

    /// The URL this store was opened with, password hidden.
    pub fn url(&self) -> &str {
        &self.url_redacted
    }

    /// Runs `f` to completion on the calling thread, with the store's runtime as the context
    /// for the I/O it starts (new pooled connections).
    fn block<F: Future>(&self, f: F) -> F::Output {
        let _guard = self.rt.as_ref().map(|rt| rt.enter());
        futures_executor::block_on(f)
    }

    async fn conn(&self) -> Result<Object> {
        self.pool
            .get()
            .await
            .map_err(|e| PayerStoreError::Pool(format!("PostgreSQL at {}: {e}", self.url_redacted)))
    }

    fn migrate(&self) -> Result<()> {
        self.block(async {
            let mut c = self.conn().await?;
            let central: bool = c
                .query_one(
                    "SELECT to_regclass('onshi_schema_history') IS NOT NULL",
                    &[],
                )
                .await?
                .try_get(0)?;
            if central {
                return Err(PayerStoreError::Conflict(format!(
                    "{} is the central's database: the payer keeps a database of its own",
                    self.url_redacted
                )));
            }
            let runner = migrations::runner()?;
            c.execute("SELECT pg_advisory_lock($1)", &[&MIGRATION_LOCK])
                .await?;
            let client: &mut tokio_postgres::Client = &mut c;
            let out = runner
                .run_async(client)
                .await
                .map_err(|e| PayerStoreError::Migration(e.to_string()));
            let unlock = c
                .execute("SELECT pg_advisory_unlock($1)", &[&MIGRATION_LOCK])
                .await;
            out?;
            unlock?;
            Ok(())
        })
    }

    /// The schema version the database is at (the highest applied migration).
    pub fn schema_version(&self) -> Result<i32> {
        self.block(async {
            let c = self.conn().await?;
            let r = c
                .query_one(
                    &format!(
                        "SELECT COALESCE(max(version), 0)::int4 FROM {}",
                        migrations::HISTORY_TABLE
                    ),
                    &[],
                )
                .await?;
            Ok(r.try_get(0)?)
        })
    }

    /// Runs `f` on a pooled connection.
    fn run<T>(&self, f: impl AsyncFnOnce(&Client) -> Result<T>) -> Result<T> {
        self.block(async {
            let c = self.conn().await?;
            let c: &Client = &c;
            f(c).await
        })
    }

    /// Runs `f` in a transaction, committed when it returns `Ok` (rolled back otherwise).
    fn tx<T>(&self, f: impl AsyncFnOnce(&Transaction<'_>) -> Result<T>) -> Result<T> {
        self.block(async {
            let mut c = self.conn().await?;
            let tx = c.transaction().await?;
            let out = f(&tx).await?;
            tx.commit().await?;
            Ok(out)
        })
    }
}

// ---------------------------------------------------------------------------------------------
// rows

fn sha_bytes(hex_sha: &str) -> Result<Vec<u8>> {
    hex::decode(hex_sha).map_err(|e| corrupt("file_sha256 (hex)", e))
}

const SUBMISSION_COLS: &str = "id, payer, facility, billing_month, file_sha256, file_name, \
     received_at, source, claims, total_points";

fn submission_row(r: &Row) -> Result<SubmissionRow> {
    Ok(SubmissionRow {
        id: r.try_get(0)?,
        payer: payer_of(r.try_get(1)?)?,
        facility: r.try_get(2)?,
        billing_month: month_of(r.try_get(3)?)?,
        file_sha256: hex::encode(r.try_get::<_, &[u8]>(4)?),
        file_name: r.try_get(5)?,
        received_at: r.try_get(6)?,
        source: r.try_get(7)?,
        claims: r.try_get::<_, i64>(8)? as u64,
        total_points: r.try_get::<_, i64>(9)? as u64,
    })
}

/// The claim columns read (over `claim c JOIN submission s`), with the status as read: an
/// assigned claim of a settled file is settled.
const CLAIM_COLS: &str = "c.id, c.submission_id, c.facility, c.billing_month, \
     CASE WHEN c.status = 'assigned' AND s.settled_at IS NOT NULL THEN 'settled' \
     ELSE c.status END, c.kakunin_kubun, c.identified, c.person_id, c.reason, c.evidence, \
     c.receipt_number, c.line, c.receipt_kind, c.service_month, c.name, c.kana_name, c.sex, \
     c.birthdate, c.fusho, c.claimed_number, c.claimed_insurer, c.symbol, c.number, c.branch, \
     c.service_days, c.actual_days, c.points, c.copay_yen, c.public_funds, c.funds, c.tekiyou, \
     c.tekiyou_sealed, s.form_key, c.payer";

const CLAIM_FROM: &str =
    "claim c JOIN submission s ON s.payer = c.payer AND s.id = c.submission_id";

fn status_of(s: &str) -> Result<ClaimStatus> {
    ClaimStatus::parse(s).ok_or_else(|| corrupt("claim.status", s))
}

fn kubun_of(s: &str) -> Result<KakuninKubun> {
    KakuninKubun::parse(s).ok_or_else(|| corrupt("claim.kakunin_kubun", s))
}

fn days_of(v: Vec<i32>, what: &str) -> Result<Vec<u32>> {
    v.into_iter()
        .map(|d| u32::try_from(d).map_err(|e| corrupt(what, e)))
        .collect()
}

fn days_col(v: &[u32], what: &str) -> Result<Vec<i32>> {
    v.iter()
        .map(|d| i32::try_from(*d).map_err(|e| corrupt(what, e)))
        .collect()
}

/// The associated data a claim's sealed 摘要 is bound to (`payer` its code, `1` or `2`).
pub fn tekiyou_aad(payer: &str, claim_id: i64) -> Vec<u8> {
    format!("claim.tekiyou:{payer}:{claim_id}").into_bytes()
}

/// The associated data a claim's sealed worklist facts are bound to.
fn facts_aad(payer: &str, claim_id: i64) -> Vec<u8> {
    format!("worklist.facts:{payer}:{claim_id}").into_bytes()
}

/// A claim's 摘要: as stored in clear, or opened with its file's key.
fn tekiyou_of(
    keys: &FormKeys,
    payer: &str,
    claim_id: i64,
    clear: Vec<String>,
    sealed: Option<&[u8]>,
    key: Option<&str>,
) -> Result<Vec<String>> {
    let Some(sealed) = sealed else {
        return Ok(clear);
    };
    let key = key.ok_or_else(|| corrupt("claim.tekiyou_sealed", "its file has no form key"))?;
    let plain = keys.open_sealed(key, &tekiyou_aad(payer, claim_id), sealed)?;
    serde_json::from_slice(&plain).map_err(|e| corrupt("claim.tekiyou_sealed", e))
}

/// A worklist item's facts: as stored in clear, or opened with its file's key.
fn facts_of<T: serde::de::DeserializeOwned>(
    keys: &FormKeys,
    payer: &str,
    claim_id: i64,
    clear: Option<&str>,
    sealed: Option<&[u8]>,
    key: Option<&str>,
) -> Result<T> {
    match (clear, sealed) {
        (Some(f), None) => from_json("worklist.facts", f),
        (None, Some(sealed)) => {
            let key =
                key.ok_or_else(|| corrupt("worklist.facts_sealed", "its file has no form key"))?;
            let plain = keys.open_sealed(key, &facts_aad(payer, claim_id), sealed)?;
            serde_json::from_slice(&plain).map_err(|e| corrupt("worklist.facts_sealed", e))
        }
        _ => Err(corrupt(
            "worklist.facts",
            "neither or both in clear and sealed",
        )),
    }
}

fn claim_row(r: &Row, keys: &FormKeys) -> Result<StoredClaim> {
    let id: i64 = r.try_get(0)?;
    let payer_code: &str = r.try_get(33)?;
    let fusho: bool = r.try_get(18)?;
    let insurer = match (r.try_get::<_, Option<String>>(19)?, fusho) {
        (Some(n), _) => ClaimedInsurer::Known(
            onshi_domain::numbers::InsurerNumber::parse(&n)
                .map_err(|e| corrupt("claim.claimed_number", e))?,
        ),
        (None, true) => ClaimedInsurer::Fusho,
        (None, false) => ClaimedInsurer::PublicFundOnly,
    };
    let sex: &str = r.try_get(16)?;
    let claim = Claim {
        receipt_number: r.try_get::<_, i64>(10)? as u32,
        line: r.try_get::<_, i64>(11)? as u32,
        receipt_kind: r.try_get(12)?,
        service_month: month_of(r.try_get(13)?)?,
        name: r.try_get(14)?,
        kana_name: r.try_get(15)?,
        sex: onshi_domain::numbers::Sex::parse(sex).map_err(|e| corrupt("claim.sex", e))?,
        birthdate: r.try_get(17)?,
        numbers: ClaimedNumbers {
            insurer,
            insurer_raw: r.try_get(20)?,
            symbol: r.try_get(21)?,
            number: r.try_get(22)?,
            branch: r.try_get(23)?,
        },
        service_days: days_of(r.try_get(24)?, "claim.service_days")?,
        actual_days: r.try_get::<_, i64>(25)? as u32,
        points: r.try_get::<_, i64>(26)? as u64,
        copay_yen: r.try_get::<_, i64>(27)? as u64,
        public_funds: r.try_get::<_, i16>(28)? as u8,
        funds: r
            .try_get::<_, Option<&str>>(29)?
            .map(|f| from_json::<Vec<PublicFund>>("claim.funds", f))
            .transpose()?
            .unwrap_or_default(),
        tekiyou: tekiyou_of(
            keys,
            payer_code,
            id,
            r.try_get(30)?,
            r.try_get(31)?,
            r.try_get(32)?,
        )?,
    };
    Ok(StoredClaim {
        id,
        submission_id: r.try_get(1)?,
        facility: r.try_get(2)?,
        billing_month: month_of(r.try_get(3)?)?,
        reviewed: ReviewedClaim {
            claim,
            status: status_of(r.try_get(4)?)?,
            kubun: kubun_of(r.try_get(5)?)?,
            identified: r.try_get(6)?,
            person_id: r.try_get(7)?,
            reason: r.try_get(8)?,
            parts: Vec::new(),
            evidence: r
                .try_get::<_, Option<&str>>(9)?
                .map(|e| from_json("claim.evidence", e))
                .transpose()?,
            worklist: None,
        },
    })
}

const PART_COLS: &str = "claim_id, insurer_number, symbol, number, branch, days, points, \
     copay_yen, share_percent, public_fund";

fn part_row(r: &Row) -> Result<(i64, ClaimPart)> {
    let ins: &str = r.try_get(1)?;
    Ok((
        r.try_get(0)?,
        ClaimPart {
            bill_to: BillTo {
                insurer_number: onshi_domain::numbers::InsurerNumber::parse(ins)
                    .map_err(|e| corrupt("claim_part.insurer_number", e))?,
                symbol: r.try_get(2)?,
                number: r.try_get(3)?,
                branch: r.try_get(4)?,
            },
            days: days_of(r.try_get(5)?, "claim_part.days")?,
            points: r.try_get::<_, i64>(6)? as u64,
            copay_yen: r.try_get::<_, i64>(7)? as u64,
            share_percent: r.try_get::<_, Option<i16>>(8)?.map(|v| v as u8),
            public_fund: r.try_get(9)?,
        },
    ))
}

/// Claims matching `where_sql` (over `claim c`, `$1` the payer), in id order, with their parts
/// and worklist candidates: three queries sent together, whatever the number of claims.
async fn query_claims<C: GenericClient>(
    c: &C,
    keys: &FormKeys,
    where_sql: &str,
    p: &[&(dyn ToSql + Sync)],
) -> Result<Vec<StoredClaim>> {
    let claims_sql =
        format!("SELECT {CLAIM_COLS} FROM {CLAIM_FROM} WHERE {where_sql} ORDER BY c.id");
    let parts_sql = format!(
        "SELECT {PART_COLS} FROM claim_part WHERE payer = $1 AND claim_id IN \
         (SELECT c.id FROM claim c WHERE {where_sql}) ORDER BY claim_id, part_no"
    );
    let wl_sql = format!(
        "SELECT claim_id, candidates, facts, facts_sealed, payer FROM worklist \
         WHERE payer = $1 AND claim_id IN (SELECT c.id FROM claim c WHERE {where_sql})"
    );
    let (claims, parts, wl) = tokio::try_join!(
        c.query(&claims_sql, p),
        c.query(&parts_sql, p),
        c.query(&wl_sql, p)
    )?;
    let mut out = Vec::with_capacity(claims.len());
    // each claim's place in `out`, and its file's form key
    let mut at: HashMap<i64, (usize, Option<&str>)> = HashMap::with_capacity(claims.len());
    for r in &claims {
        let cl = claim_row(r, keys)?;
        at.insert(cl.id, (out.len(), r.try_get(32)?));
        out.push(cl);
    }
    for r in &parts {
        let (id, part) = part_row(r)?;
        if let Some((i, _)) = at.get(&id) {
            out[*i].reviewed.parts.push(part);
        }
    }
    for r in &wl {
        let id: i64 = r.try_get(0)?;
        if let Some((i, key)) = at.get(&id) {
            out[*i].reviewed.worklist = Some((
                from_json("worklist.candidates", r.try_get(1)?)?,
                facts_of(keys, r.try_get(4)?, id, r.try_get(2)?, r.try_get(3)?, *key)?,
            ));
        }
    }
    Ok(out)
}

const WORKLIST_COLS: &str = "claim_id, candidates, facts, created_at, decided_at, decided_by, \
     decision, facts_sealed, payer, (SELECT s.form_key FROM claim c2 JOIN submission s \
     ON s.payer = c2.payer AND s.id = c2.submission_id \
     WHERE c2.payer = worklist.payer AND c2.id = worklist.claim_id)";

/// Worklist items matching `where_sql` (over `worklist`, `$1` the payer) in claim order, with
/// their claims read in one go.
async fn query_worklist<C: GenericClient>(
    c: &C,
    keys: &FormKeys,
    payer: PayerCode,
    where_sql: &str,
    p: &[&(dyn ToSql + Sync)],
) -> Result<Vec<WorklistItem>> {
    let items = c
        .query(
            &format!(
                "SELECT {WORKLIST_COLS} FROM worklist WHERE {where_sql} ORDER BY claim_id \
                 LIMIT 1000"
            ),
            p,
        )
        .await?;
    if items.is_empty() {
        return Ok(Vec::new());
    }
    let ids: Vec<i64> = items
        .iter()
        .map(|r| r.try_get(0))
        .collect::<std::result::Result<_, _>>()?;
    let mut claims: HashMap<i64, StoredClaim> = query_claims(
        c,
        keys,
        "c.payer = $1 AND c.id = ANY($2)",
        &[&payer.code(), &ids],
    )
    .await?
    .into_iter()
    .map(|c| (c.id, c))
    .collect();
    items
        .iter()
        .map(|r| {
            let claim_id: i64 = r.try_get(0)?;
            Ok(WorklistItem {
                claim: claims
                    .remove(&claim_id)
                    .ok_or_else(|| corrupt("worklist.claim_id", claim_id))?,
                candidates: from_json("worklist.candidates", r.try_get(1)?)?,
                facts: facts_of(
                    keys,
                    r.try_get(8)?,
                    claim_id,
                    r.try_get(2)?,
                    r.try_get(7)?,
                    r.try_get(9)?,
                )?,
                created_at: r.try_get(3)?,
                decided_at: r.try_get(4)?,
                decided_by: r.try_get(5)?,
                decision: r.try_get(6)?,
            })
        })
        .collect()
}

// ---------------------------------------------------------------------------------------------
// writes

const CLAIM_WRITE_COLS: &str = "payer, id, submission_id, facility, billing_month, \
     service_month, receipt_number, claimed_insurer, fusho, status, kakunin_kubun, identified, \
     person_id, reason, points, copay_yen, amount_yen, evidence, line, receipt_kind, name, \
     kana_name, sex, birthdate, claimed_number, symbol, number, branch, service_days, \
     actual_days, public_funds, funds, tekiyou, tekiyou_sealed";

const CLAIM_WRITE_TYPES: [Type; 34] = [
    Type::TEXT,
    Type::INT8,
    Type::INT8,
    Type::TEXT,
    Type::TEXT,
    Type::TEXT,
    Type::INT8,
    Type::TEXT,
    Type::BOOL,
    Type::TEXT,
    Type::TEXT,
    Type::BOOL,
    Type::INT8,
    Type::TEXT,
    Type::INT8,
    Type::INT8,
    Type::INT8,
    Type::TEXT,
    Type::INT8,
    Type::TEXT,
    Type::TEXT,
    Type::TEXT,
    Type::TEXT,
    Type::DATE,
    Type::TEXT,
    Type::TEXT,
    Type::TEXT,
    Type::TEXT,
    Type::INT4_ARRAY,
    Type::INT8,
    Type::INT2,
    Type::TEXT,
    Type::TEXT_ARRAY,
    Type::BYTEA,
];

const PART_WRITE_COLS: &str = "payer, claim_id, part_no, insurer_number, symbol, number, branch, \
     days, points, copay_yen, amount_yen, share_percent, public_fund";

const PART_WRITE_TYPES: [Type; 13] = [
    Type::TEXT,
    Type::INT8,
    Type::INT4,
    Type::TEXT,
    Type::TEXT,
    Type::TEXT,
    Type::TEXT,
    Type::INT4_ARRAY,
    Type::INT8,
    Type::INT8,
    Type::INT8,
    Type::INT2,
    Type::BOOL,
];

/// One claim's values in [`CLAIM_WRITE_COLS`]' order.
struct ClaimValues<'a> {
    payer: &'static str,
    id: i64,
    submission_id: i64,
    facility: &'a str,
    billing_month: String,
    service_month: String,
    receipt_number: i64,
    claimed_insurer: &'a str,
    fusho: bool,
    status: &'static str,
    kubun: &'static str,
    identified: bool,
    person_id: Option<i64>,
    reason: &'a str,
    points: i64,
    copay_yen: i64,
    amount_yen: i64,
    evidence: Option<String>,
    line: i64,
    receipt_kind: &'a str,
    name: &'a str,
    kana_name: &'a str,
    sex: &'static str,
    birthdate: chrono::NaiveDate,
    claimed_number: Option<&'a str>,
    symbol: &'a str,
    number: &'a str,
    branch: Option<&'a str>,
    service_days: Vec<i32>,
    actual_days: i64,
    public_funds: i16,
    funds: Option<String>,
    /// empty when sealed
    tekiyou: &'a [String],
    tekiyou_sealed: Option<Vec<u8>>,
}

impl<'a> ClaimValues<'a> {
    /// With `seal`, a 摘要 that has comments is sealed under the file's key.
    fn of(
        s: &'a NewSubmission,
        sub_id: i64,
        id: i64,
        rc: &'a ReviewedClaim,
        seal: Option<(&FormKeys, &ring::aead::LessSafeKey)>,
    ) -> Result<Self> {
        let cl = &rc.claim;
        let tekiyou_sealed = match seal {
            Some((keys, key)) if !cl.tekiyou.is_empty() => Some(keys.seal(
                key,
                &tekiyou_aad(s.payer.code(), id),
                to_json("claim.tekiyou", &cl.tekiyou)?.as_bytes(),
            )?),
            _ => None,
        };
        Ok(ClaimValues {
            payer: s.payer.code(),
            id,
            submission_id: sub_id,
            facility: &s.facility,
            billing_month: s.billing_month.to_string(),
            service_month: cl.service_month.to_string(),
            receipt_number: i64::from(cl.receipt_number),
            claimed_insurer: &cl.numbers.insurer_raw,
            fusho: cl.is_fusho(),
            status: rc.status.code(),
            kubun: rc.kubun.code(),
            identified: rc.identified,
            person_id: rc.person_id,
            reason: &rc.reason,
            points: cl.points as i64,
            copay_yen: cl.copay_yen as i64,
            amount_yen: cl.amount_yen() as i64,
            evidence: rc
                .evidence
                .as_ref()
                .map(|e| to_json("claim.evidence", e))
                .transpose()?,
            line: i64::from(cl.line),
            receipt_kind: &cl.receipt_kind,
            name: &cl.name,
            kana_name: &cl.kana_name,
            sex: cl.sex.code(),
            birthdate: cl.birthdate,
            claimed_number: match &cl.numbers.insurer {
                ClaimedInsurer::Known(n) => Some(n.as_str()),
                ClaimedInsurer::Fusho | ClaimedInsurer::PublicFundOnly => None,
            },
            symbol: &cl.numbers.symbol,
            number: &cl.numbers.number,
            branch: cl.numbers.branch.as_deref(),
            service_days: days_col(&cl.service_days, "claim.service_days")?,
            actual_days: i64::from(cl.actual_days),
            public_funds: i16::from(cl.public_funds),
            funds: (!cl.funds.is_empty())
                .then(|| to_json("claim.funds", &cl.funds))
                .transpose()?,
            tekiyou: if tekiyou_sealed.is_some() {
                &[]
            } else {
                &cl.tekiyou
            },
            tekiyou_sealed,
        })
    }

    fn params(&self) -> [&(dyn ToSql + Sync); 34] {
        [
            &self.payer,
            &self.id,
            &self.submission_id,
            &self.facility,
            &self.billing_month,
            &self.service_month,
            &self.receipt_number,
            &self.claimed_insurer,
            &self.fusho,
            &self.status,
            &self.kubun,
            &self.identified,
            &self.person_id,
            &self.reason,
            &self.points,
            &self.copay_yen,
            &self.amount_yen,
            &self.evidence,
            &self.line,
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
            &self.tekiyou_sealed,
        ]
    }
}

/// A claim part's values in [`PART_WRITE_COLS`]' order.
struct PartValues<'a> {
    payer: &'static str,
    claim_id: i64,
    part_no: i32,
    insurer_number: &'a str,
    symbol: &'a str,
    number: &'a str,
    branch: &'a str,
    days: Vec<i32>,
    points: i64,
    copay_yen: i64,
    amount_yen: i64,
    share_percent: Option<i16>,
    public_fund: bool,
}

impl<'a> PartValues<'a> {
    fn of(payer: PayerCode, claim_id: i64, i: usize, p: &'a ClaimPart) -> Result<Self> {
        Ok(PartValues {
            payer: payer.code(),
            claim_id,
            part_no: i as i32 + 1,
            insurer_number: p.bill_to.insurer_number.as_str(),
            symbol: &p.bill_to.symbol,
            number: &p.bill_to.number,
            branch: &p.bill_to.branch,
            days: days_col(&p.days, "claim_part.days")?,
            points: p.points as i64,
            copay_yen: p.copay_yen as i64,
            amount_yen: p.amount_yen() as i64,
            share_percent: p.share_percent.map(i16::from),
            public_fund: p.public_fund,
        })
    }

    fn params(&self) -> [&(dyn ToSql + Sync); 13] {
        [
            &self.payer,
            &self.claim_id,
            &self.part_no,
            &self.insurer_number,
            &self.symbol,
            &self.number,
            &self.branch,
            &self.days,
            &self.points,
            &self.copay_yen,
            &self.amount_yen,
            &self.share_percent,
            &self.public_fund,
        ]
    }
}

/// The parts of claims (`(claim id, parts)`), in one binary `COPY`.
async fn copy_parts(
    tx: &Transaction<'_>,
    payer: PayerCode,
    parts: &[(i64, &[ClaimPart])],
) -> Result<()> {
    if parts.iter().all(|(_, p)| p.is_empty()) {
        return Ok(());
    }
    let sink = tx
        .copy_in(&format!(
            "COPY claim_part ({PART_WRITE_COLS}) FROM STDIN (FORMAT binary)"
        ))
        .await?;
    let w = BinaryCopyInWriter::new(sink, &PART_WRITE_TYPES);
    let mut w = std::pin::pin!(w);
    for (id, ps) in parts {
        for (i, p) in ps.iter().enumerate() {
            let v = PartValues::of(payer, *id, i, p)?;
            w.as_mut().write(&v.params()).await?;
        }
    }
    w.finish().await?;
    Ok(())
}

/// Records one file with its claims in the open transaction, or recognises it.
async fn record_one(
    tx: &Transaction<'_>,
    keys: &FormKeys,
    s: &NewSubmission,
    claims: &[ReviewedClaim],
) -> Result<Recorded> {
    let sha = sha_bytes(&s.file_sha256)?;
    let total_points: u64 = claims.iter().map(|c| c.claim.points).sum();
    let st = tx
        .prepare_cached(&format!(
            "INSERT INTO submission (payer, facility, billing_month, file_sha256, file_name, \
             received_at, source, claims, total_points) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) \
             ON CONFLICT (payer, file_sha256) DO NOTHING RETURNING {SUBMISSION_COLS}"
        ))
        .await?;
    let inserted = tx
        .query_opt(
            &st,
            &[
                &s.payer.code(),
                &s.facility,
                &s.billing_month.to_string(),
                &sha,
                &s.file_name,
                &s.received_at,
                &s.source,
                &(claims.len() as i64),
                &(total_points as i64),
            ],
        )
        .await?;
    let Some(row) = inserted else {
        // recorded before (or by a transaction that committed meanwhile): nothing written
        let st = tx
            .prepare_cached(&format!(
                "SELECT {SUBMISSION_COLS} FROM submission WHERE payer = $1 AND file_sha256 = $2"
            ))
            .await?;
        let r = tx.query_one(&st, &[&s.payer.code(), &sha]).await?;
        return Ok(Recorded::Duplicate(submission_row(&r)?));
    };
    let row = submission_row(&row)?;
    if claims.is_empty() {
        return Ok(Recorded::New(row));
    }
    // R27: a file with 摘要 comments (where the 申立書 details are) gets a key of its own,
    // durable before this commits; the comments and the worklist facts of their claims are
    // sealed under it (the facts of a claim without comments hold nothing of a 申立書 and stay
    // in clear, as R27's scrub leaves them)
    let key = if claims.iter().any(|rc| !rc.claim.tekiyou.is_empty()) {
        let (key_id, key) = keys.create()?;
        tx.execute(
            "UPDATE submission SET form_key = $3 WHERE payer = $1 AND id = $2",
            &[&s.payer.code(), &row.id, &key_id],
        )
        .await?;
        Some(key)
    } else {
        None
    };
    let seal = key.as_deref().map(|k| (keys, k));
    // the claims' ids, in file order, from the identity sequence
    let ids: Vec<i64> = {
        let st = tx
            .prepare_cached(
                "SELECT nextval(pg_get_serial_sequence('claim', 'id')) \
                 FROM generate_series(1, $1::int8)",
            )
            .await?;
        let mut v: Vec<i64> = tx
            .query(&st, &[&(claims.len() as i64)])
            .await?
            .iter()
            .map(|r| r.try_get(0))
            .collect::<std::result::Result<_, _>>()?;
        v.sort_unstable();
        v
    };
    {
        let sink = tx
            .copy_in(&format!(
                "COPY claim ({CLAIM_WRITE_COLS}) FROM STDIN (FORMAT binary)"
            ))
            .await?;
        let w = BinaryCopyInWriter::new(sink, &CLAIM_WRITE_TYPES);
        let mut w = std::pin::pin!(w);
        for (rc, id) in claims.iter().zip(&ids) {
            let v = ClaimValues::of(s, row.id, *id, rc, seal)?;
            w.as_mut().write(&v.params()).await?;
        }
        w.finish().await?;
    }
    let parts: Vec<(i64, &[ClaimPart])> = ids
        .iter()
        .zip(claims)
        .map(|(id, rc)| (*id, rc.parts.as_slice()))
        .collect();
    copy_parts(tx, s.payer, &parts).await?;
    if claims.iter().any(|rc| rc.worklist.is_some()) {
        let sink = tx
            .copy_in(
                "COPY worklist (payer, claim_id, candidates, facts, facts_sealed, created_at) \
                 FROM STDIN (FORMAT binary)",
            )
            .await?;
        let w = BinaryCopyInWriter::new(
            sink,
            &[
                Type::TEXT,
                Type::INT8,
                Type::TEXT,
                Type::TEXT,
                Type::BYTEA,
                Type::TEXT,
            ],
        );
        let mut w = std::pin::pin!(w);
        for (rc, id) in claims.iter().zip(&ids) {
            if let Some((cands, facts)) = &rc.worklist {
                let cands = to_json("worklist.candidates", cands)?;
                let facts = to_json("worklist.facts", facts)?;
                let (clear, sealed) = match seal {
                    Some((keys, key)) if !rc.claim.tekiyou.is_empty() => (
                        None,
                        Some(keys.seal(key, &facts_aad(s.payer.code(), *id), facts.as_bytes())?),
                    ),
                    _ => (Some(facts), None),
                };
                w.as_mut()
                    .write(&[&s.payer.code(), id, &cands, &clear, &sealed, &s.received_at])
                    .await?;
            }
        }
        w.finish().await?;
    }
    Ok(Recorded::New(row))
}

/// The key of a payment row.
#[derive(PartialEq, Eq, PartialOrd, Ord)]
struct PaymentKey<'a> {
    payer: &'static str,
    facility: &'a str,
    month: String,
    insurer: &'a str,
    source: &'a str,
}

/// Adds `rows` to the payment record in one statement: rows of the same key are summed first
/// (one upsert may not touch a row twice), as SQLite's row-by-row upserts sum them.
async fn add_payments_tx<C: GenericClient>(c: &C, rows: &[PaymentRow]) -> Result<()> {
    if rows.is_empty() {
        return Ok(());
    }
    let mut sums: BTreeMap<PaymentKey<'_>, (i64, i64)> = BTreeMap::new();
    for p in rows {
        let e = sums
            .entry(PaymentKey {
                payer: p.payer.code(),
                facility: &p.facility,
                month: p.service_month.to_string(),
                insurer: &p.insurer_number,
                source: &p.source,
            })
            .or_default();
        e.0 += p.amount_yen as i64;
        e.1 += p.claims as i64;
    }
    let n = sums.len();
    let (mut payers, mut facilities, mut months) = (
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
    );
    let (mut insurers, mut sources) = (Vec::with_capacity(n), Vec::with_capacity(n));
    let (mut amounts, mut counts) = (Vec::with_capacity(n), Vec::with_capacity(n));
    for (k, (amount, claims)) in &sums {
        payers.push(k.payer);
        facilities.push(k.facility);
        months.push(k.month.as_str());
        insurers.push(k.insurer);
        sources.push(k.source);
        amounts.push(*amount);
        counts.push(*claims);
    }
    let st = c
        .prepare_cached(
            "INSERT INTO payment (payer, facility, service_month, insurer_number, source, \
             amount_yen, claims) \
             SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], \
             $6::int8[], $7::int8[]) \
             ON CONFLICT (payer, facility, service_month, insurer_number, source) DO UPDATE SET \
             amount_yen = payment.amount_yen + excluded.amount_yen, \
             claims = payment.claims + excluded.claims",
        )
        .await?;
    c.execute(
        &st,
        &[
            &payers,
            &facilities,
            &months,
            &insurers,
            &sources,
            &amounts,
            &counts,
        ],
    )
    .await?;
    Ok(())
}

/// One settlement in the open transaction.
async fn settle_one(tx: &Transaction<'_>, w: &SettlementWrite) -> Result<()> {
    let (payer, month) = (w.payer.code(), w.billing_month.to_string());
    let done = tx
        .query_opt(
            "SELECT 1 FROM settlement WHERE payer = $1 AND facility = $2 AND billing_month = $3",
            &[&payer, &w.facility, &month],
        )
        .await?;
    if done.is_some() {
        return Err(PayerStoreError::Conflict(format!(
            "facility {} billing month {} is already settled",
            w.facility, w.billing_month
        )));
    }
    // the facility's unsettled files of the month are marked first (their rows locked until
    // commit), and their assigned claims counted after: they must be exactly those prepared
    let files: Vec<i64> = tx
        .query(
            "UPDATE submission SET settled_at = $4 WHERE payer = $1 AND facility = $2 \
             AND billing_month = $3 AND settled_at IS NULL RETURNING id",
            &[&payer, &w.facility, &month, &w.settled_at],
        )
        .await?
        .iter()
        .map(|r| r.try_get(0))
        .collect::<std::result::Result<_, _>>()?;
    let n: i64 = tx
        .query_one(
            "SELECT count(*) FROM claim WHERE payer = $1 AND submission_id = ANY($2) \
             AND status = 'assigned'",
            &[&payer, &files],
        )
        .await?
        .try_get(0)?;
    if n as usize != w.settled.len() {
        return Err(PayerStoreError::Conflict(format!(
            "facility {} billing month {}: {n} claims to settle, {} prepared; \
             the claims changed meanwhile",
            w.facility,
            w.billing_month,
            w.settled.len()
        )));
    }
    for (ids, st) in [
        (&w.apportioned, ClaimStatus::Apportioned),
        (&w.unapportioned, ClaimStatus::Unapportioned),
    ] {
        if !ids.is_empty() {
            tx.execute(
                "UPDATE claim SET status = $1 WHERE payer = $2 AND id = ANY($3)",
                &[&st.code(), &payer, ids],
            )
            .await?;
        }
    }
    if !w.shares.is_empty() {
        let mut months = Vec::with_capacity(w.shares.len());
        let mut insurers = Vec::with_capacity(w.shares.len());
        let mut yen = Vec::with_capacity(w.shares.len());
        let mut inputs = Vec::with_capacity(w.shares.len());
        for s in &w.shares {
            let mut i = s.inputs.clone();
            i["share"] =
                serde_json::to_value(&s.share).map_err(|e| corrupt("pool_share.inputs", e))?;
            months.push(s.service_month.to_string());
            insurers.push(s.share.insurer_number.as_str());
            yen.push(s.share.share_yen as i64);
            inputs.push(to_json("pool_share.inputs", &i)?);
        }
        tx.execute(
            "INSERT INTO pool_share (payer, facility, billing_month, service_month, \
             insurer_number, share_yen, inputs) \
             SELECT $1, $2, $3, * FROM unnest($4::text[], $5::text[], $6::int8[], $7::text[])",
            &[
                &payer,
                &w.facility,
                &month,
                &months,
                &insurers,
                &yen,
                &inputs,
            ],
        )
        .await?;
    }
    add_payments_tx(tx, &w.payments).await?;
    if !w.scrubbed.is_empty() {
        let mut ids = Vec::with_capacity(w.scrubbed.len());
        let mut texts = Vec::with_capacity(w.scrubbed.len());
        for (id, t) in &w.scrubbed {
            ids.push(*id);
            texts.push(to_json("claim.tekiyou", t)?);
        }
        // R27: the 摘要 written over with what is left of it (a JSON array per claim: the
        // claims' arrays differ in length), the worklist facts cleared
        tx.execute(
            "UPDATE claim SET tekiyou = ARRAY(SELECT json_array_elements_text(u.t::json)), \
             tekiyou_sealed = NULL \
             FROM unnest($2::int8[], $3::text[]) AS u (id, t) \
             WHERE claim.payer = $1 AND claim.id = u.id",
            &[&payer, &ids, &texts],
        )
        .await?;
        tx.execute(
            "UPDATE worklist SET facts = '{}', facts_sealed = NULL \
             WHERE payer = $1 AND claim_id = ANY($2)",
            &[&payer, &ids],
        )
        .await?;
    }
    tx.execute(
        "INSERT INTO settlement (payer, facility, billing_month, settled_at, statement) \
         VALUES ($1, $2, $3, $4, $5)",
        &[&payer, &w.facility, &month, &w.settled_at, &w.statement],
    )
    .await?;
    Ok(())
}

impl PayerStore for PostgresPayerStore {
    fn add_principal(&self, token_hash: &str, p: &Principal, at: &str) -> Result<()> {
        self.run(async |c| {
            c.execute(
                "INSERT INTO principal (token_hash, role, payer, subject, created_at) \
                 VALUES ($1, $2, $3, $4, $5)",
                &[
                    &token_hash,
                    &p.role.code(),
                    &p.payer.code(),
                    &p.subject,
                    &at,
                ],
            )
            .await?;
            Ok(())
        })
    }

    fn principal_by_token_hash(&self, token_hash: &str) -> Result<Option<Principal>> {
        self.run(async |c| {
            let st = c
                .prepare_cached("SELECT role, payer, subject FROM principal WHERE token_hash = $1")
                .await?;
            let Some(r) = c.query_opt(&st, &[&token_hash]).await? else {
                return Ok(None);
            };
            let role: &str = r.try_get(0)?;
            Ok(Some(Principal {
                role: Role::parse(role).ok_or_else(|| corrupt("principal.role", role))?,
                payer: payer_of(r.try_get(1)?)?,
                subject: r.try_get(2)?,
            }))
        })
    }

    fn upsert_facility(&self, f: &FacilityRow) -> Result<()> {
        self.run(async |c| {
            c.execute(
                "INSERT INTO facility (payer, code, name, hook_url) VALUES ($1, $2, $3, $4) \
                 ON CONFLICT (payer, code) DO UPDATE SET name = excluded.name, \
                 hook_url = excluded.hook_url",
                &[&f.payer.code(), &f.code, &f.name, &f.hook_url],
            )
            .await?;
            Ok(())
        })
    }

    fn facility(&self, payer: PayerCode, code: &str) -> Result<Option<FacilityRow>> {
        self.run(async |c| {
            let st = c
                .prepare_cached(
                    "SELECT name, hook_url FROM facility WHERE payer = $1 AND code = $2",
                )
                .await?;
            c.query_opt(&st, &[&payer.code(), &code])
                .await?
                .map(|r| {
                    Ok(FacilityRow {
                        payer,
                        code: code.to_string(),
                        name: r.try_get(0)?,
                        hook_url: r.try_get(1)?,
                    })
                })
                .transpose()
        })
    }

    fn record_submissions(
        &self,
        batch: &[(&NewSubmission, &[ReviewedClaim])],
    ) -> Result<Vec<Recorded>> {
        let out = self.tx(async |tx| {
            let mut out = Vec::with_capacity(batch.len());
            for (s, claims) in batch {
                out.push(record_one(tx, &self.keys, s, claims).await?);
            }
            Ok(out)
        })?;
        let recorded: usize = batch
            .iter()
            .zip(&out)
            .filter(|(_, r)| matches!(r, Recorded::New(_)))
            .map(|((_, claims), _)| claims.len())
            .sum();
        // the files are recorded: statistics that cannot be taken do not undo them
        if let Err(e) = self.analyze_when_grown(recorded as u64) {
            tracing::warn!("the payer's table statistics were not taken: {e}");
        }
        Ok(out)
    }

    fn submission(&self, payer: PayerCode, id: i64) -> Result<Option<SubmissionRow>> {
        self.run(async |c| {
            let st = c
                .prepare_cached(&format!(
                    "SELECT {SUBMISSION_COLS} FROM submission WHERE payer = $1 AND id = $2"
                ))
                .await?;
            c.query_opt(&st, &[&payer.code(), &id])
                .await?
                .map(|r| submission_row(&r))
                .transpose()
        })
    }

    fn list_submissions(
        &self,
        payer: PayerCode,
        facility: Option<&str>,
    ) -> Result<Vec<SubmissionRow>> {
        self.run(async |c| {
            let st = c
                .prepare_cached(&format!(
                    "SELECT {SUBMISSION_COLS} FROM submission WHERE payer = $1 \
                     AND ($2::text IS NULL OR facility = $2) ORDER BY id DESC LIMIT 500"
                ))
                .await?;
            c.query(&st, &[&payer.code(), &facility])
                .await?
                .iter()
                .map(submission_row)
                .collect()
        })
    }

    fn claims_of_submission(&self, payer: PayerCode, id: i64) -> Result<Vec<StoredClaim>> {
        self.run(async |c| {
            query_claims(
                c,
                &self.keys,
                "c.payer = $1 AND c.submission_id = $2",
                &[&payer.code(), &id],
            )
            .await
        })
    }

    fn claim(&self, payer: PayerCode, id: i64) -> Result<Option<StoredClaim>> {
        self.run(async |c| {
            Ok(query_claims(
                c,
                &self.keys,
                "c.payer = $1 AND c.id = $2",
                &[&payer.code(), &id],
            )
            .await?
            .pop())
        })
    }

    fn claims_of_month(
        &self,
        payer: PayerCode,
        facility: &str,
        billing_month: YearMonth,
    ) -> Result<Vec<StoredClaim>> {
        let m = billing_month.to_string();
        self.run(async |c| {
            query_claims(
                c,
                &self.keys,
                "c.payer = $1 AND c.facility = $2 AND c.billing_month = $3",
                &[&payer.code(), &facility, &m],
            )
            .await
        })
    }

    fn settlement_claims(
        &self,
        payer: PayerCode,
        facility: &str,
        billing_month: YearMonth,
    ) -> Result<Vec<SettleClaim>> {
        let m = billing_month.to_string();
        self.run(async |c| {
            let p: [&(dyn ToSql + Sync); 3] = [&payer.code(), &facility, &m];
            let parts_sql = format!(
                "SELECT {PART_COLS} FROM claim_part WHERE payer = $1 AND claim_id IN \
                 (SELECT id FROM claim WHERE payer = $1 AND facility = $2 \
                 AND billing_month = $3) ORDER BY claim_id, part_no"
            );
            let (claims, parts) = tokio::try_join!(
                c.query(
                    "SELECT c.id, c.submission_id, c.receipt_number, c.service_month, \
                     CASE WHEN c.status = 'assigned' AND s.settled_at IS NOT NULL \
                     THEN 'settled' ELSE c.status END, c.kakunin_kubun, c.identified, \
                     c.amount_yen, c.points, c.tekiyou, c.tekiyou_sealed, s.form_key \
                     FROM claim c JOIN submission s ON s.payer = c.payer \
                     AND s.id = c.submission_id WHERE c.payer = $1 AND c.facility = $2 \
                     AND c.billing_month = $3 ORDER BY c.id",
                    &p,
                ),
                c.query(&parts_sql, &p)
            )?;
            let mut out = claims
                .iter()
                .map(|r| {
                    let id: i64 = r.try_get(0)?;
                    Ok(SettleClaim {
                        id,
                        submission_id: r.try_get(1)?,
                        receipt_number: r.try_get::<_, i64>(2)? as u32,
                        service_month: month_of(r.try_get(3)?)?,
                        status: status_of(r.try_get(4)?)?,
                        kubun: kubun_of(r.try_get(5)?)?,
                        identified: r.try_get(6)?,
                        amount_yen: r.try_get::<_, i64>(7)? as u64,
                        points: r.try_get::<_, i64>(8)? as u64,
                        parts: Vec::new(),
                        tekiyou: tekiyou_of(
                            &self.keys,
                            payer.code(),
                            id,
                            r.try_get(9)?,
                            r.try_get(10)?,
                            r.try_get(11)?,
                        )?,
                    })
                })
                .collect::<Result<Vec<SettleClaim>>>()?;
            // both in id order: walk them together
            let mut i = 0;
            for r in &parts {
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
        self.run(async |c| {
            let st = c
                .prepare_cached(
                    "SELECT DISTINCT facility FROM submission WHERE payer = $1 \
                     AND billing_month = $2 ORDER BY facility",
                )
                .await?;
            c.query(&st, &[&payer.code(), &billing_month.to_string()])
                .await?
                .iter()
                .map(|r| Ok(r.try_get(0)?))
                .collect()
        })
    }

    fn worklist(&self, payer: PayerCode, open_only: bool) -> Result<Vec<WorklistItem>> {
        self.run(async |c| {
            query_worklist(
                c,
                &self.keys,
                payer,
                "payer = $1 AND (NOT $2::bool OR decided_at IS NULL)",
                &[&payer.code(), &open_only],
            )
            .await
        })
    }

    fn worklist_item(&self, payer: PayerCode, claim_id: i64) -> Result<Option<WorklistItem>> {
        self.run(async |c| {
            Ok(query_worklist(
                c,
                &self.keys,
                payer,
                "payer = $1 AND claim_id = $2",
                &[&payer.code(), &claim_id],
            )
            .await?
            .pop())
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
        let code = payer.code();
        self.tx(async |tx| {
            // the item and its claim's file, locked: a settlement of the file waits for this
            // decision (or this one for it), as SQLite's one writer orders them
            let open = tx
                .query_opt(
                    "SELECT w.decided_at FROM worklist w \
                     JOIN claim c ON c.payer = w.payer AND c.id = w.claim_id \
                     JOIN submission s ON s.payer = c.payer AND s.id = c.submission_id \
                     WHERE w.payer = $1 AND w.claim_id = $2 FOR UPDATE OF w FOR SHARE OF s",
                    &[&code, &claim_id],
                )
                .await?;
            match open
                .map(|r| r.try_get::<_, Option<String>>(0))
                .transpose()?
            {
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
                        "UPDATE claim SET status = 'assigned', kakunin_kubun = $1, \
                         identified = true, person_id = $2, evidence = $3, reason = $4 \
                         WHERE payer = $5 AND id = $6",
                        &[
                            &kubun.code(),
                            &e.person_id,
                            &to_json("claim.evidence", e)?,
                            &format!("職員が候補者を特定（{by}）"),
                            &code,
                            &claim_id,
                        ],
                    )
                    .await?;
                    copy_parts(tx, payer, &[(claim_id, e.parts.as_slice())]).await?;
                    e.person_id.to_string()
                }
                Decision::NoneOfThem => {
                    tx.execute(
                        "UPDATE claim SET status = 'pool', reason = $1 \
                         WHERE payer = $2 AND id = $3",
                        &[
                            &format!("職員が該当者なしと判断（{by}）: 按分へ"),
                            &code,
                            &claim_id,
                        ],
                    )
                    .await?;
                    "none".to_string()
                }
            };
            tx.execute(
                "UPDATE worklist SET decided_at = $1, decided_by = $2, decision = $3 \
                 WHERE payer = $4 AND claim_id = $5",
                &[&at, &by, &decision, &code, &claim_id],
            )
            .await?;
            query_claims(
                tx,
                &self.keys,
                "c.payer = $1 AND c.id = $2",
                &[&code, &claim_id],
            )
            .await?
            .pop()
            .ok_or_else(|| PayerStoreError::NotFound(format!("claim {claim_id}")))
        })
    }

    fn payments_to(
        &self,
        payer: PayerCode,
        facility: &str,
        from: YearMonth,
        to: YearMonth,
    ) -> Result<Vec<Weight>> {
        self.run(async |c| {
            let st = c
                .prepare_cached(
                    "SELECT insurer_number, SUM(amount_yen)::int8 FROM payment WHERE payer = $1 \
                     AND facility = $2 AND service_month BETWEEN $3 AND $4 \
                     AND source <> 'public_fund' \
                     GROUP BY insurer_number ORDER BY insurer_number",
                )
                .await?;
            c.query(
                &st,
                &[&payer.code(), &facility, &from.to_string(), &to.to_string()],
            )
            .await?
            .iter()
            .map(|r| {
                let ins: &str = r.try_get(0)?;
                Ok(Weight {
                    insurer_number: onshi_domain::numbers::InsurerNumber::parse(ins)
                        .map_err(|e| corrupt("payment.insurer_number", e))?,
                    paid_yen: r.try_get::<_, i64>(1)? as u64,
                })
            })
            .collect()
        })
    }

    fn add_payments(&self, rows: &[PaymentRow]) -> Result<()> {
        self.tx(async |tx| add_payments_tx(tx, rows).await)
    }

    fn settle_all(&self, ws: &[SettlementWrite]) -> Result<()> {
        self.tx(async |tx| {
            for w in ws {
                settle_one(tx, w).await?;
            }
            Ok(())
        })?;
        // R27: the settled files' details are written over; their keys go now, so that
        // what PostgreSQL still keeps of the sealed values (old row versions, the WAL, its
        // standbys and backups) no longer opens. The settlement stands if this fails: the
        // next open deletes them.
        if let Err(e) = self.destroy_settled_keys() {
            tracing::error!(
                "the settlement committed, but its form keys were not deleted yet ({e}); \
                 the next start of the payer deletes them"
            );
        }
        Ok(())
    }

    fn statement(
        &self,
        payer: PayerCode,
        facility: &str,
        billing_month: YearMonth,
    ) -> Result<Option<serde_json::Value>> {
        self.run(async |c| {
            c.query_opt(
                "SELECT statement FROM settlement WHERE payer = $1 AND facility = $2 \
                 AND billing_month = $3",
                &[&payer.code(), &facility, &billing_month.to_string()],
            )
            .await?
            .map(|r| from_json("settlement.statement", r.try_get(0)?))
            .transpose()
        })
    }

    fn set_hook_status(
        &self,
        payer: PayerCode,
        facility: &str,
        billing_month: YearMonth,
        status: &str,
    ) -> Result<()> {
        self.run(async |c| {
            c.execute(
                "UPDATE settlement SET hook_status = $1 WHERE payer = $2 AND facility = $3 \
                 AND billing_month = $4",
                &[
                    &status,
                    &payer.code(),
                    &facility,
                    &billing_month.to_string(),
                ],
            )
            .await?;
            Ok(())
        })
    }

    fn claims_for_insurer(&self, payer: PayerCode, insurer: &str) -> Result<Vec<StoredClaim>> {
        self.run(async |c| {
            query_claims(
                c,
                &self.keys,
                "c.payer = $1 AND c.id IN (SELECT claim_id FROM claim_part \
                 WHERE payer = $1 AND insurer_number = $2)",
                &[&payer.code(), &insurer],
            )
            .await
        })
    }

    fn shares_for_insurer(&self, payer: PayerCode, insurer: &str) -> Result<Vec<PoolShareRow>> {
        self.run(async |c| {
            let st = c
                .prepare_cached(
                    "SELECT facility, billing_month, service_month, inputs FROM pool_share \
                     WHERE payer = $1 AND insurer_number = $2 \
                     ORDER BY billing_month, facility, service_month",
                )
                .await?;
            c.query(&st, &[&payer.code(), &insurer])
                .await?
                .iter()
                .map(|r| {
                    let inputs: serde_json::Value = from_json("pool_share.inputs", r.try_get(3)?)?;
                    let share: Share = serde_json::from_value(inputs["share"].clone())
                        .map_err(|e| corrupt("pool_share.inputs.share", e))?;
                    Ok(PoolShareRow {
                        payer,
                        facility: r.try_get(0)?,
                        billing_month: month_of(r.try_get(1)?)?,
                        service_month: month_of(r.try_get(2)?)?,
                        share,
                        inputs,
                    })
                })
                .collect()
        })
    }
}
