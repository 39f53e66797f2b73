//! PostgreSQL implementation of the storage interface (`postgres://…` URLs).
//!
//! Driver and pool: `tokio-postgres` with a `deadpool-postgres` pool. The store traits are
//! synchronous and are called from the central's tokio worker threads, so the store owns a
//! small runtime of its own: every connection's I/O task runs there, and a call waits for its
//! answer with `futures_executor::block_on` — which, unlike a nested `Runtime::block_on` (what
//! the synchronous `postgres` crate does), does not panic inside another runtime. The calling
//! thread is blocked for the round trip, as it is for an SQLite read.
//!
//! Schema: versioned migrations ([`migrations`], refinery) applied at open under an advisory
//! lock; the confirmation history is partitioned by month and the partitions of the coming
//! months are made at every open (docs/scale.md).

mod bulk;
mod local;
mod medinfo;
mod outage;
mod replica;
mod shared;
pub use shared::SHARED_CONNECTIONS;
mod trust;

pub use replica::{ReplicaPolicy, ReplicaStats};

use std::future::Future;
use std::str::FromStr;

use chrono::NaiveDate;
use deadpool_postgres::{ClientWrapper, Manager, ManagerConfig, Object, Pool, RecyclingMethod};
use onshi_domain::card::CertStatus;
use onshi_domain::codes::{
    CardClassification, FamilyClass, IdentityMethod, LimitCertificateClassification, LimitClass,
    ReasonOfLoss, ReferenceClassification,
};
use onshi_domain::kana;
use onshi_domain::numbers::{
    BranchNumber, InsuredNumber, InsuredSymbol, InsurerNumber, MedicalInstitutionCode,
    MyNumberHash, Sex,
};
use onshi_domain::qualification::{
    CardDates, ElderlyInfo, LimitCertificate, Person, Qualification, QualificationDetails,
};
use tokio_postgres::types::ToSql;
use tokio_postgres::{NoTls, Row};

use crate::{
    CardCert, CardKeyAndHistory, CardWithHistory, ConfirmationEntry, Facility, FacilityStore,
    HistoryFilter, HistoryStore, ImportStore, ImportTx, PersonId, PersonRecord,
    QualificationRecord, RegistryCounts, RegistryRead, Result, StoreError, StoreFuture,
    UpsertOutcome,
};

/// A read of the hot path awaited by an async caller: `hot_read!(store, primary, |c| body)`
/// on the primary, `hot_read!(store, registry, |c| body)` on the replica when there is one and
/// it answers, else on the primary (as [`PostgresStore::read`]). `body` is an expression of
/// type `Result<T>` awaited on `c: &ClientWrapper`, and may run twice. On the primary and on
/// the replica the connection comes from a pool whose connections are made on the caller's
/// runtime (the server's) and used only by async callers: the round trip is driven there, with no thread parked and no hand-off to the
/// store's own runtime. A connection the server ended while idle is found so by the read,
/// which is then done again on a new one, the old one not put back.
///
/// A macro rather than a function taking an async closure: the future of a function generic
/// over the closure cannot be shown `Send` for every lifetime of its argument.
macro_rules! hot_read {
    ($store:expr, primary, |$c:ident| $body:expr) => {
        async move {
            let store = $store;
            let conn = store.async_conn().await?;
            let first = {
                let $c: &deadpool_postgres::ClientWrapper = &conn;
                $body
            };
            match first {
                Err(e) if $crate::postgres::replica::read_lost(&e, conn.is_closed()) => {
                    let conn = store.async_conn_instead_of(&conn).await?;
                    let $c: &deadpool_postgres::ClientWrapper = &conn;
                    $body
                }
                out => out,
            }
        }
    };
    ($store:expr, registry, |$c:ident| $body:expr) => {
        async move {
            let store = $store;
            if let Some(r) = &store.replica
                && let $crate::postgres::replica::Route::Replica { probe } = r.route()
            {
                let mut used = None;
                let on_replica = r
                    .timed(async {
                        let conn = r.async_conn().await?;
                        used = Some(conn.clone());
                        let $c: &deadpool_postgres::ClientWrapper = &conn;
                        $body
                    })
                    .await;
                // a connection that failed or did not answer in time is not used again: the
                // next read makes a new one (a session that hangs would keep failing)
                if on_replica.is_err()
                    && let Some(c) = &used
                {
                    r.discard_async_conn(c);
                }
                if let Some(out) = r.settle(on_replica, probe) {
                    return out;
                }
            }
            $crate::postgres::hot_read!(store, primary, |$c| $body).await
        }
    };
}
pub(crate) use hot_read;

/// The `StoreFuture` of an `_async` read: `hot_read!(store, mode, |c| body)` inside a tokio
/// runtime, else the synchronous call `sync`, answered at once.
macro_rules! hot_future {
    ($store:expr, $mode:ident, $sync:expr, |$c:ident| $body:expr) => {
        if $crate::postgres::in_runtime() {
            Box::pin($crate::postgres::hot_read!($store, $mode, |$c| $body))
        } else {
            $crate::ready($sync)
        }
    };
}
pub(crate) use hot_future;

/// The versioned schema of the PostgreSQL backend, oldest first.
pub mod migrations {
    /// `(version, name, sql)` of every migration.
    pub const ALL: &[(i32, &str, &str)] = &[
        (1, "registry", include_str!("migrations/V1__registry.sql")),
        (
            2,
            "card_dates",
            include_str!("migrations/V2__card_dates.sql"),
        ),
        (
            3,
            "qualification_details",
            include_str!("migrations/V3__qualification_details.sql"),
        ),
        (4, "medinfo", include_str!("migrations/V4__medinfo.sql")),
        (
            5,
            "registration_date",
            include_str!("migrations/V5__registration_date.sql"),
        ),
        (
            6,
            "keys_in_byte_order",
            include_str!("migrations/V6__keys_in_byte_order.sql"),
        ),
    ];

    /// The refinery runner of the migrations up to `target` (all when `None`).
    pub fn runner(target: Option<i32>) -> crate::Result<refinery::Runner> {
        let ms: Vec<refinery::Migration> = ALL
            .iter()
            .map(|(v, name, sql)| {
                refinery::Migration::unapplied(&format!("V{v}__{name}"), sql)
                    .map_err(|e| crate::StoreError::Migration(format!("V{v}__{name}: {e}")))
            })
            .collect::<crate::Result<_>>()?;
        let mut r = refinery::Runner::new(&ms)
            .set_abort_divergent(true)
            .set_target(match target {
                Some(t) => refinery::Target::Version(t),
                None => refinery::Target::Latest,
            });
        r.set_migration_table_name("onshi_schema_history");
        Ok(r)
    }

    /// The newest schema version.
    pub fn latest() -> i32 {
        ALL.last().map(|m| m.0).unwrap_or(0)
    }
}

/// Months of history partitions made ahead of the current one at every open.
const PARTITIONS_AHEAD: i32 = 12;

/// Whether `db` names a PostgreSQL database rather than an SQLite file.
pub fn is_url(db: &str) -> bool {
    db.starts_with("postgres://") || db.starts_with("postgresql://")
}

fn pool_err(e: impl std::fmt::Display) -> StoreError {
    StoreError::Pool(e.to_string())
}

fn corrupt(what: &str, e: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(format!("{what}: {e}"))
}

/// PostgreSQL-backed store.
pub struct PostgresStore {
    rt: Option<tokio::runtime::Runtime>,
    pool: Pool,
    url_redacted: String,
    /// the streaming replica the registry reads go to, if any (see [`replica`])
    replica: Option<replica::Replica>,
    /// connections to the primary for the hot path's reads by threads that may block
    local: local::LocalPool,
    /// connections to the primary for the hot path's reads made from async code, shared by
    /// those callers ([`shared`]): made on a caller's runtime (the server's), so their I/O is
    /// driven where the callers wait
    async_conns: shared::SharedClients,
    /// reads done on `async_conns`
    async_reads: std::sync::atomic::AtomicU64,
    /// persons an initial load holds in memory at most ([`PostgresStore::with_initial_load_hold`])
    initial_load_hold: usize,
}

impl Drop for PostgresStore {
    fn drop(&mut self) {
        // dropping a runtime inside another runtime's task would panic; this never waits
        if let Some(rt) = self.rt.take() {
            rt.shutdown_background();
        }
    }
}

/// The URL without its password, for messages (also the payer's store).
pub fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => {
            let cred = &url[s + 3..at];
            match cred.find(':') {
                Some(c) => format!("{}{}:***{}", &url[..s + 3], &cred[..c], &url[at..]),
                None => url.to_string(),
            }
        }
        _ => url.to_string(),
    }
}

/// The connection settings of `url`, named `application_name` on the server (unless the URL
/// names one), so that `pg_stat_activity` tells the central's pools apart.
fn pg_config(url: &str, application_name: &str) -> Result<tokio_postgres::Config> {
    let mut cfg = tokio_postgres::Config::from_str(url)
        .map_err(|e| StoreError::Pool(format!("bad PostgreSQL URL {}: {e}", redact(url))))?;
    if cfg.get_application_name().is_none() {
        cfg.application_name(application_name);
    }
    Ok(cfg)
}

/// A connection of `pool`; its failure named `what` at `url` (password hidden).
async fn checkout(pool: &Pool, what: &str, url: &str) -> Result<Object> {
    pool.get().await.map_err(|e| unreachable(what, url, e))
}

/// A connection to `what` at `url` (password hidden) that could not be had.
fn unreachable(what: &str, url: &str, e: impl std::fmt::Display) -> StoreError {
    StoreError::Pool(format!("{what} at {url}: {e}"))
}

/// A pool of 16 connections to `url` (see [`pg_config`]).
fn make_pool(url: &str, application_name: &str) -> Result<Pool> {
    let cfg = pg_config(url, application_name)?;
    let mgr = Manager::from_config(
        cfg,
        NoTls,
        ManagerConfig {
            recycling_method: RecyclingMethod::Fast,
        },
    );
    Pool::builder(mgr)
        .max_size(16)
        .runtime(deadpool_postgres::Runtime::Tokio1)
        .build()
        .map_err(pool_err)
}

impl PostgresStore {
    /// Connects to `url` (`postgres://user@host:port/db`), applies the pending migrations and
    /// makes the coming months' history partitions.
    pub fn open(url: &str) -> Result<Self> {
        Self::open_at(url, None)
    }

    /// Like [`PostgresStore::open`], migrating only up to schema `target` (for upgrade tests).
    pub fn open_at(url: &str, target: Option<i32>) -> Result<Self> {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("onshi-pg")
            .enable_all()
            .build()?;
        let store = PostgresStore {
            rt: Some(rt),
            pool: make_pool(url, "onshi")?,
            url_redacted: redact(url),
            replica: None,
            local: local::LocalPool::new(pg_config(url, "onshi")?, redact(url)),
            async_conns: shared::SharedClients::new(url, "onshi", "PostgreSQL")?,
            async_reads: std::sync::atomic::AtomicU64::new(0),
            initial_load_hold: crate::HOLD_PERSONS,
        };
        store.migrate(target)?;
        Ok(store)
    }

    /// Like [`PostgresStore::open`] on the primary `url`, with the registry reads of the hot
    /// path sent to the streaming replica `replica_url` (a hot standby of the primary), and
    /// done again on the primary when it fails (docs/scale.md, "A hot standby"). The replica
    /// is never written, nor migrated. One that does not answer at open is left aside as it
    /// would be later: the central starts, reading from the primary until it answers.
    pub fn open_with_replica(url: &str, replica_url: &str, policy: ReplicaPolicy) -> Result<Self> {
        let mut store = Self::open(url)?;
        let r = replica::Replica::new(
            make_pool(replica_url, "onshi-replica")?,
            shared::SharedClients::new(replica_url, "onshi-replica", "PostgreSQL replica")?,
            redact(replica_url),
            policy,
        );
        let probe = store.block(r.run(&async |c: &ClientWrapper| {
            let row = c
                .query_one(
                    "SELECT pg_is_in_recovery(), \
                     (SELECT COALESCE(max(version), 0)::int4 FROM onshi_schema_history)",
                    &[],
                )
                .await?;
            Ok((row.try_get::<_, bool>(0)?, row.try_get::<_, i32>(1)?))
        }));
        match probe {
            Ok((in_recovery, version)) => {
                if !in_recovery {
                    tracing::warn!(replica = %r.url(), "the replica is not in recovery (not a standby): registry reads go to it all the same");
                }
                if version != migrations::latest() {
                    tracing::warn!(replica = %r.url(), version, latest = migrations::latest(), "the replica's schema is not the primary's: reads it cannot answer go to the primary");
                }
                tracing::info!(replica = %r.url(), "registry reads go to the PostgreSQL replica, writes to the primary");
            }
            Err(e) => r.leave_aside(&e),
        }
        store.replica = Some(r);
        Ok(store)
    }

    /// Where the registry reads went (`None` without a replica).
    pub fn replica_stats(&self) -> Option<ReplicaStats> {
        self.replica.as_ref().map(|r| r.stats())
    }

    /// The replica's URL (password hidden) and policy, if reads go to one.
    pub fn replica(&self) -> Option<(&str, ReplicaPolicy)> {
        self.replica.as_ref().map(|r| (r.url(), r.policy()))
    }

    /// How many registry reads of the primary were done on the calling thread's own
    /// connection ([`crate::blocking`]) since the store was opened; the others went through
    /// the pool.
    pub fn thread_driven_reads(&self) -> u64 {
        self.local.runs()
    }

    /// How many reads of the primary were awaited on the caller's runtime (the `_async`
    /// calls of the hot path, [`crate::StoreFuture`]) since the store was opened, a read done
    /// again on a new connection counted twice.
    pub fn runtime_driven_reads(&self) -> u64 {
        self.async_reads.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Bounds the persons an initial load holds in memory until its end (by default
    /// [`crate::HOLD_PERSONS`], 16 M, ~5 GB): beyond it persons are sent on the way, and the
    /// post numbers set on them later are applied in one `UPDATE` at commit. A smaller
    /// machine sets it lower; the outcome of the load is the same.
    pub fn with_initial_load_hold(mut self, persons: usize) -> Self {
        self.initial_load_hold = persons.max(1);
        self
    }

    /// The URL this store was opened with, password hidden.
    pub fn url(&self) -> &str {
        &self.url_redacted
    }

    /// Runs `f` to completion on the calling thread, with the store's runtime as the
    /// context for the I/O it starts (new pooled connections).
    pub(crate) fn block<F: Future>(&self, f: F) -> F::Output {
        let _guard = self.rt.as_ref().map(|rt| rt.enter());
        futures_executor::block_on(f)
    }

    /// A registry read of the hot path: on the replica when there is one and it answers,
    /// else on the primary (see [`replica`]). `f` may run twice (replica, then primary).
    pub(crate) fn read<T>(&self, f: impl AsyncFn(&ClientWrapper) -> Result<T>) -> Result<T> {
        if let Some(r) = &self.replica
            && let replica::Route::Replica { probe } = r.route()
            && let Some(out) = r.settle(self.block(r.run(&f)), probe)
        {
            return out;
        }
        self.primary_read(f)
    }

    /// A read on the primary: on the calling thread's own connection when it may block
    /// ([`local`]), else on a pooled one.
    pub(crate) fn primary_read<T>(
        &self,
        f: impl AsyncFn(&ClientWrapper) -> Result<T>,
    ) -> Result<T> {
        if crate::may_block_here()
            && let Some(out) = self.local.try_run(&f)
        {
            return out;
        }
        self.block(async {
            let c = self.conn().await?;
            f(&c).await
        })
    }

    /// A connection for one statement of an async caller, shared with the others and made
    /// on a caller's runtime (see [`hot_read`] and [`shared`]).
    pub(crate) async fn async_conn(&self) -> Result<shared::Shared> {
        self.async_reads
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        self.async_conns.get().await
    }

    /// A new connection in place of one of [`PostgresStore::async_conn`] whose session a
    /// read found ended (counted as a read, as [`PostgresStore::async_conn`]).
    pub(crate) async fn async_conn_instead_of(
        &self,
        lost: &shared::Shared,
    ) -> Result<shared::Shared> {
        self.async_reads
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        self.async_conns.instead_of(lost).await
    }

    pub(crate) async fn conn(&self) -> Result<Object> {
        checkout(&self.pool, "PostgreSQL", &self.url_redacted).await
    }

    fn migrate(&self, target: Option<i32>) -> Result<()> {
        self.block(async {
            let runner = migrations::runner(target)?;
            let mut c = self.conn().await?;
            // one migrating process at a time (the lock is the connection's)
            c.batch_execute("SELECT pg_advisory_lock(7235001)").await?;
            let client: &mut tokio_postgres::Client = &mut c;
            let out = runner
                .run_async(client)
                .await
                .map_err(|e| StoreError::Migration(e.to_string()));
            let unlock = c.batch_execute("SELECT pg_advisory_unlock(7235001)").await;
            out?;
            unlock?;
            c.execute(
                "SELECT onshi_history_partitions((now() - interval '1 month')::date, $1)",
                &[&(PARTITIONS_AHEAD + 2)],
            )
            .await?;
            Ok(())
        })
    }

    /// The schema version the database is at (the highest applied migration).
    pub fn schema_version(&self) -> Result<i32> {
        self.block(async {
            let c = self.conn().await?;
            let r = c
                .query_one(
                    "SELECT COALESCE(max(version), 0)::int4 FROM onshi_schema_history",
                    &[],
                )
                .await?;
            Ok(r.try_get(0)?)
        })
    }

    /// Names of the history's partitions, oldest first (`confirmation_YYYY_MM`, and
    /// `confirmation_default` for rows of months without one).
    pub fn history_partitions(&self) -> Result<Vec<String>> {
        self.block(async {
            let c = self.conn().await?;
            let rows = c
                .query(
                    "SELECT c.relname::text FROM pg_inherits i \
                     JOIN pg_class c ON c.oid = i.inhrelid \
                     JOIN pg_class p ON p.oid = i.inhparent \
                     WHERE p.relname = 'confirmation' ORDER BY 1",
                    &[],
                )
                .await?;
            rows.iter().map(|r| Ok(r.try_get(0)?)).collect()
        })
    }

    /// Whether the database holds data made with the keys (persons: keyed My Number hashes).
    pub fn holds_keyed_data(&self) -> Result<bool> {
        self.block(async {
            let c = self.conn().await?;
            let r = c
                .query_one("SELECT EXISTS (SELECT 1 FROM person)", &[])
                .await?;
            Ok(r.try_get(0)?)
        })
    }
}

// ---------------------------------------------------------------------------------------------
// rows

const PERSON_COLS: &str = "id, name, name_kana, sex, birthdate, post_number, address";

fn person_from_offset(r: &Row, o: usize) -> Result<PersonRecord> {
    let sex: String = r.try_get(o + 3)?;
    Ok(PersonRecord {
        id: r.try_get(o)?,
        person: Person {
            name: r.try_get(o + 1)?,
            name_kana: r.try_get(o + 2)?,
            sex: Sex::parse(&sex).map_err(|e| corrupt("person.sex", e))?,
            birthdate: r.try_get(o + 4)?,
            post_number: r.try_get(o + 5)?,
            address: r.try_get(o + 6)?,
        },
    })
}

const QUAL_COLS: &str = "id, person_id, registered_name, insurer_number, insurer_name, \
    card_classification, symbol, number, branch, family_class, insured_name, employer, \
    qualification_date, disqualification_date, reason_of_loss, contribution_ratio, \
    elderly_ratio, elderly_valid_from, elderly_valid_to, limit_class, preschool, \
    card_issued_on, card_valid_from, card_valid_to, name_of_other, name_of_other_kana, sex2, \
    elderly_issued_on, limit_certificate, limit_issued_on, limit_valid_from, limit_valid_to, \
    limit_long_term_date, specific_diseases, in_school, registered_on";

/// The columns of the card confirmation's read: the card, its holder, each qualification.
macro_rules! card_history_columns {
    () => {
        "c.serial, c.person_id, c.cert_expiry, c.status, \
    p.id, p.name, p.name_kana, p.sex, p.birthdate, p.post_number, p.address, \
    q.id, q.person_id, q.registered_name, q.insurer_number, q.insurer_name, \
    q.card_classification, q.symbol, q.number, q.branch, q.family_class, q.insured_name, \
    q.employer, q.qualification_date, q.disqualification_date, q.reason_of_loss, \
    q.contribution_ratio, q.elderly_ratio, q.elderly_valid_from, q.elderly_valid_to, \
    q.limit_class, q.preschool, q.card_issued_on, q.card_valid_from, q.card_valid_to, \
    q.name_of_other, q.name_of_other_kana, q.sex2, q.elderly_issued_on, q.limit_certificate, \
    q.limit_issued_on, q.limit_valid_from, q.limit_valid_to, q.limit_long_term_date, \
    q.specific_diseases, q.in_school, q.registered_on"
    };
}
const CARD_WITH_HISTORY: &str = concat!(
    "SELECT ",
    card_history_columns!(),
    " FROM card c LEFT JOIN person p ON p.id = c.person_id \
    LEFT JOIN qualification q ON q.person_id = p.id \
    WHERE c.serial = $1 ORDER BY q.qualification_date, q.id"
);
/// [`CARD_WITH_HISTORY`] with the card's certificate key as the last column, driven by the
/// serial so that a key without a card, or a card without a key, still gives one row.
const CARD_KEY_AND_HISTORY: &str = concat!(
    "SELECT ",
    card_history_columns!(),
    ", k.public_key FROM (SELECT $1::text AS serial) s \
    LEFT JOIN card_key k ON k.serial = s.serial \
    LEFT JOIN card c ON c.serial = s.serial \
    LEFT JOIN person p ON p.id = c.person_id \
    LEFT JOIN qualification q ON q.person_id = p.id \
    ORDER BY q.qualification_date, q.id"
);
const QUAL_OFFSET: usize = 11;

fn small(v: Option<i16>, what: &str) -> Result<Option<u8>> {
    v.map(|x| u8::try_from(x).map_err(|e| corrupt(what, e)))
        .transpose()
}

fn qual_from_offset(r: &Row, o: usize) -> Result<QualificationRecord> {
    let s = |i: usize| -> Result<String> { Ok(r.try_get::<_, String>(o + i)?) };
    let os = |i: usize| -> Result<Option<String>> { Ok(r.try_get::<_, Option<String>>(o + i)?) };
    let od = |i: usize| -> Result<Option<NaiveDate>> { Ok(r.try_get(o + i)?) };
    let elderly = match (small(r.try_get(o + 16)?, "elderly_ratio")?, od(17)?) {
        (Some(ratio), Some(valid_from)) => Some(ElderlyInfo {
            ratio,
            valid_from,
            valid_to: od(18)?,
        }),
        _ => None,
    };
    let q = Qualification {
        insurer_number: InsurerNumber::parse(&s(3)?).map_err(|e| corrupt("insurer", e))?,
        insurer_name: s(4)?,
        card_classification: CardClassification::parse(&s(5)?)
            .map_err(|e| corrupt("card_classification", e))?,
        symbol: InsuredSymbol::parse(&s(6)?).map_err(|e| corrupt("symbol", e))?,
        number: InsuredNumber::parse(&s(7)?).map_err(|e| corrupt("number", e))?,
        branch: BranchNumber::parse(&s(8)?).map_err(|e| corrupt("branch", e))?,
        family_class: FamilyClass::parse(&s(9)?).map_err(|e| corrupt("family_class", e))?,
        insured_name: s(10)?,
        employer: os(11)?,
        qualification_date: r.try_get(o + 12)?,
        disqualification_date: od(13)?,
        reason_of_loss: os(14)?
            .map(|c| ReasonOfLoss::parse(&c))
            .transpose()
            .map_err(|e| corrupt("reason_of_loss", e))?,
        contribution_ratio: small(r.try_get(o + 15)?, "contribution_ratio")?,
        elderly,
        limit_class: os(19)?
            .map(|c| LimitClass::parse(&c))
            .transpose()
            .map_err(|e| corrupt("limit_class", e))?,
        preschool: r.try_get(o + 20)?,
        card_dates: CardDates {
            issued_on: od(21)?,
            valid_from: od(22)?,
            valid_to: od(23)?,
        },
        details: QualificationDetails {
            name_of_other: os(24)?,
            name_of_other_kana: os(25)?,
            sex2: os(26)?
                .map(|c| Sex::parse(&c))
                .transpose()
                .map_err(|e| corrupt("sex2", e))?,
            elderly_certificate_date: od(27)?,
            limit_certificate: LimitCertificate {
                classification: os(28)?
                    .map(|c| LimitCertificateClassification::parse(&c))
                    .transpose()
                    .map_err(|e| corrupt("limit_certificate", e))?,
                issued_on: od(29)?,
                valid_from: od(30)?,
                valid_to: od(31)?,
                long_term_date: od(32)?,
            },
            specific_diseases: match os(33)? {
                Some(j) => serde_json::from_str(&j).map_err(|e| corrupt("specific_diseases", e))?,
                None => Vec::new(),
            },
            in_school: r.try_get(o + 34)?,
            registered_on: od(35)?,
        },
    };
    Ok(QualificationRecord {
        id: r.try_get(o)?,
        person_id: r.try_get(o + 1)?,
        registered_name: s(2)?,
        qualification: q,
    })
}

fn card_from_row(r: &Row) -> Result<CardCert> {
    let status: String = r.try_get(3)?;
    Ok(CardCert {
        serial: r.try_get(0)?,
        person_id: r.try_get(1)?,
        cert_expiry: r.try_get(2)?,
        status: CertStatus::parse(&status).ok_or_else(|| corrupt("card.status", &status))?,
    })
}

type Params<'a> = [&'a (dyn ToSql + Sync)];

async fn query_quals(
    c: &ClientWrapper,
    where_sql: &str,
    p: &Params<'_>,
) -> Result<Vec<QualificationRecord>> {
    let st = c
        .prepare_cached(&format!(
            "SELECT {QUAL_COLS} FROM qualification WHERE {where_sql} \
             ORDER BY qualification_date, id"
        ))
        .await?;
    let rows = c.query(&st, p).await?;
    rows.iter().map(|r| qual_from_offset(r, 0)).collect()
}

async fn person_by_id(c: &ClientWrapper, id: PersonId) -> Result<Option<PersonRecord>> {
    let st = c
        .prepare_cached(&format!("SELECT {PERSON_COLS} FROM person WHERE id = $1"))
        .await?;
    c.query_opt(&st, &[&id])
        .await?
        .map(|r| person_from_offset(&r, 0))
        .transpose()
}

async fn card_by_serial(c: &ClientWrapper, serial: &str) -> Result<Option<CardCert>> {
    let st = c
        .prepare_cached("SELECT serial, person_id, cert_expiry, status FROM card WHERE serial = $1")
        .await?;
    c.query_opt(&st, &[&serial])
        .await?
        .map(|r| card_from_row(&r))
        .transpose()
}

/// A `SELECT … WHERE` built from optional filters, with its bound values.
pub(crate) struct Filtered {
    sql: String,
    args: Vec<Box<dyn ToSql + Sync + Send>>,
}

impl Filtered {
    /// `base` ends in a `WHERE` condition using `$1` for `first` when given.
    pub(crate) fn new(base: &str, first: Option<Box<dyn ToSql + Sync + Send>>) -> Self {
        Filtered {
            sql: base.to_string(),
            args: first.into_iter().collect(),
        }
    }

    /// Adds `AND <col> <op> $n` when `v` is present.
    pub(crate) fn and<T: ToSql + Sync + Send + 'static>(&mut self, cond: &str, v: Option<T>) {
        if let Some(v) = v {
            self.args.push(Box::new(v));
            self.sql
                .push_str(&format!(" AND {cond} ${}", self.args.len()));
        }
    }

    /// Runs it newest first (`ORDER BY id DESC`), at most `limit` rows.
    pub(crate) async fn newest_first(mut self, c: &Object, limit: i64) -> Result<Vec<Row>> {
        self.args.push(Box::new(limit));
        self.sql
            .push_str(&format!(" ORDER BY id DESC LIMIT ${}", self.args.len()));
        let st = c.prepare_cached(&self.sql).await?;
        let p: Vec<&(dyn ToSql + Sync)> = self
            .args
            .iter()
            .map(|a| a.as_ref() as &(dyn ToSql + Sync))
            .collect();
        Ok(c.query(&st, &p).await?)
    }
}

// ---------------------------------------------------------------------------------------------
// traits

impl RegistryRead for PostgresStore {
    fn waits_on_network(&self) -> bool {
        true
    }

    fn card(&self, serial: &str) -> Result<Option<CardCert>> {
        self.read(async |c| card_by_serial(c, serial).await)
    }

    fn person(&self, id: PersonId) -> Result<Option<PersonRecord>> {
        self.read(async |c| person_by_id(c, id).await)
    }

    fn qualifications(&self, person: PersonId) -> Result<Vec<QualificationRecord>> {
        self.read(async |c| query_quals(c, "person_id = $1", &[&person]).await)
    }

    fn person_with_history(
        &self,
        id: PersonId,
    ) -> Result<Option<(PersonRecord, Vec<QualificationRecord>)>> {
        self.read(async |c| {
            let Some(p) = person_by_id(c, id).await? else {
                return Ok(None);
            };
            let h = query_quals(c, "person_id = $1", &[&id]).await?;
            Ok(Some((p, h)))
        })
    }

    fn card_with_history(&self, serial: &str) -> Result<Option<CardWithHistory>> {
        self.read(async |c| card_with_history(c, serial).await)
    }

    fn card_with_history_async<'a>(
        &'a self,
        serial: &'a str,
    ) -> StoreFuture<'a, Option<CardWithHistory>> {
        hot_future!(self, registry, self.card_with_history(serial), |c| {
            card_with_history(c, serial).await
        })
    }

    /// One statement on the replica when there is one (the keys are written with the cards).
    fn card_key_and_history_async<'a>(
        &'a self,
        serial: &'a str,
    ) -> Option<StoreFuture<'a, CardKeyAndHistory>> {
        in_runtime().then(|| -> StoreFuture<'a, CardKeyAndHistory> {
            Box::pin(hot_read!(self, registry, |c| card_key_and_history(
                c, serial
            )
            .await))
        })
    }

    fn registered_after_issuance(
        &self,
        insurer: &InsurerNumber,
        as_of: NaiveDate,
    ) -> Result<Vec<QualificationRecord>> {
        self.read(async |c| {
            query_quals(
                c,
                "insurer_number = $1 AND registered_on > card_issued_on \
                 AND card_issued_on <= $2 \
                 AND (disqualification_date IS NULL OR disqualification_date > $2)",
                &[&insurer.as_str(), &as_of],
            )
            .await
        })
    }

    fn qualifications_by_number(
        &self,
        insurer: &InsurerNumber,
        number_key: &str,
    ) -> Result<Vec<QualificationRecord>> {
        self.read(async |c| {
            query_quals(
                c,
                "insurer_number = $1 AND number_key = $2",
                &[&insurer.as_str(), &number_key],
            )
            .await
        })
    }

    fn counts(&self) -> Result<RegistryCounts> {
        self.block(async {
            let c = self.conn().await?;
            let r = c
                .query_one(
                    "SELECT (SELECT count(*) FROM person), (SELECT count(*) FROM qualification), \
                     (SELECT count(*) FROM card), (SELECT count(*) FROM insurer), \
                     (SELECT count(*) FROM confirmation)",
                    &[],
                )
                .await?;
            let n = |i: usize| -> Result<u64> { Ok(r.try_get::<_, i64>(i)?.max(0) as u64) };
            Ok(RegistryCounts {
                persons: n(0)?,
                qualifications: n(1)?,
                cards: n(2)?,
                insurers: n(3)?,
                confirmations: n(4)?,
            })
        })
    }
}

/// Whether the caller is in a tokio runtime's context, where the `_async` calls make and
/// drive their connections; outside one they answer as the synchronous call does.
pub(crate) fn in_runtime() -> bool {
    tokio::runtime::Handle::try_current().is_ok()
}

/// The card confirmation's one query: the card, its holder and the holder's history.
async fn card_with_history(c: &ClientWrapper, serial: &str) -> Result<Option<CardWithHistory>> {
    let st = c.prepare_cached(CARD_WITH_HISTORY).await?;
    let rows = c.query(&st, &[&serial]).await?;
    history_from_rows(&rows)
}

/// The card confirmation's reads for a PIN check in one statement: the card's key, and the
/// card with its holder and history.
async fn card_key_and_history(c: &ClientWrapper, serial: &str) -> Result<CardKeyAndHistory> {
    let st = c.prepare_cached(CARD_KEY_AND_HISTORY).await?;
    let rows = c.query(&st, &[&serial]).await?;
    let Some(first) = rows.first() else {
        return Ok((None, None));
    };
    // the key is the last column
    let key: Option<String> = first.try_get(first.len() - 1)?;
    if first.try_get::<_, Option<String>>(0)?.is_none() {
        return Ok((key, None));
    }
    Ok((key, history_from_rows(&rows)?))
}

/// The card, its holder and the history from the rows of [`CARD_WITH_HISTORY`] (or of
/// [`CARD_KEY_AND_HISTORY`] when they hold a card).
fn history_from_rows(rows: &[Row]) -> Result<Option<CardWithHistory>> {
    let Some(first) = rows.first() else {
        return Ok(None);
    };
    let card = card_from_row(first)?;
    if first.try_get::<_, Option<i64>>(4)?.is_none() {
        return Ok(Some((card, None)));
    }
    let person = person_from_offset(first, 4)?;
    let mut quals = Vec::new();
    for r in rows {
        if r.try_get::<_, Option<i64>>(QUAL_OFFSET)?.is_some() {
            quals.push(qual_from_offset(r, QUAL_OFFSET)?);
        }
    }
    Ok(Some((card, Some((person, quals)))))
}

/// The facility a token's digest authenticates.
async fn facility_by_token_hash(c: &ClientWrapper, token_hash: &str) -> Result<Option<Facility>> {
    let st = c
        .prepare_cached("SELECT code, name FROM facility WHERE token_hash = $1")
        .await?;
    let Some(r) = c.query_opt(&st, &[&token_hash]).await? else {
        return Ok(None);
    };
    let code: String = r.try_get(0)?;
    Ok(Some(Facility {
        code: MedicalInstitutionCode::parse(&code).map_err(|e| corrupt("facility.code", e))?,
        name: r.try_get(1)?,
    }))
}

/// The batch's rows in one statement on `c` (a connection or a transaction); their ids in the
/// batch's order.
async fn insert_confirmations<C: deadpool_postgres::GenericClient>(
    c: &C,
    batch: &[ConfirmationEntry],
) -> Result<Vec<i64>> {
    let col = |f: &dyn Fn(&ConfirmationEntry) -> Option<String>| -> Vec<Option<String>> {
        batch.iter().map(f).collect()
    };
    let facility = col(&|e| Some(e.facility.clone()));
    let processed = col(&|e| Some(e.processed_at.clone()));
    let date: Vec<NaiveDate> = batch.iter().map(|e| e.confirmation_date).collect();
    let refc = col(&|e| Some(e.reference_classification.code().to_string()));
    let im = col(&|e| e.identity_method.map(|m| m.code().to_string()));
    let staff = col(&|e| e.staff_id.clone());
    let serial = col(&|e| e.card_serial.clone());
    let person: Vec<Option<i64>> = batch.iter().map(|e| e.person_id).collect();
    let birth: Vec<Option<NaiveDate>> = batch.iter().map(|e| e.birthdate).collect();
    let kana = col(&|e| e.kana_key.clone());
    let outcome = col(&|e| Some(e.outcome.clone()));
    let result = col(&|e| Some(e.result.get().to_string()));
    // one statement: the ids drawn from the sequence row by row in the batch's order, the
    // rows inserted with them, and the ids returned in that order (the CTE is evaluated once)
    let st = c
        .prepare_cached(
            "WITH r AS MATERIALIZED (SELECT nextval('confirmation_id_seq') AS id, u.* \
             FROM unnest($1::text[], $2::text[], $3::date[], $4::text[], $5::text[], \
             $6::text[], $7::text[], $8::int8[], $9::date[], $10::text[], $11::text[], \
             $12::text[]) WITH ORDINALITY AS u (facility, processed_at, confirmation_date, \
             reference_classification, identity_method, staff_id, card_serial, person_id, \
             birthdate, kana_key, outcome, result, ord)), \
             ins AS (INSERT INTO confirmation (id, facility, processed_at, confirmation_date, \
             reference_classification, identity_method, staff_id, card_serial, person_id, \
             birthdate, kana_key, outcome, result) \
             SELECT id, facility, processed_at, confirmation_date, reference_classification, \
             identity_method, staff_id, card_serial, person_id, birthdate, kana_key, outcome, \
             result FROM r) \
             SELECT id FROM r ORDER BY ord",
        )
        .await?;
    let ids = c
        .query(
            &st,
            &[
                &facility, &processed, &date, &refc, &im, &staff, &serial, &person, &birth, &kana,
                &outcome, &result,
            ],
        )
        .await?
        .iter()
        .map(|r| r.try_get(0))
        .collect::<std::result::Result<Vec<i64>, _>>()?;
    if ids.len() != batch.len() {
        return Err(StoreError::Corrupt(format!(
            "{} confirmations written, {} ids returned",
            batch.len(),
            ids.len()
        )));
    }
    Ok(ids)
}

impl HistoryStore for PostgresStore {
    fn append_confirmations_with_consents(
        &self,
        batch: &[ConfirmationEntry],
        consents: &[onshi_domain::medinfo::ConsentGrant],
    ) -> Result<Vec<i64>> {
        if batch.is_empty() && consents.is_empty() {
            return Ok(Vec::new());
        }
        self.block(async {
            let mut c = self.conn().await?;
            // without consents the batch is one statement, committed alone; with them, the
            // consents' statement goes in the same transaction
            if consents.is_empty() {
                return insert_confirmations(&c, batch).await;
            }
            let tx = c.transaction().await?;
            let ids = insert_confirmations(&tx, batch).await?;
            medinfo::insert_consents(&tx, consents).await?;
            tx.commit().await?;
            Ok(ids)
        })
    }

    fn list_confirmations(
        &self,
        facility: &str,
        f: &HistoryFilter,
    ) -> Result<Vec<ConfirmationEntry>> {
        let mut q = Filtered::new(
            "SELECT id, facility, processed_at, confirmation_date, reference_classification, \
             identity_method, staff_id, card_serial, person_id, birthdate, kana_key, outcome, \
             result FROM confirmation WHERE facility = $1",
            Some(Box::new(facility.to_string())),
        );
        q.and("confirmation_date >=", f.from);
        q.and("confirmation_date <=", f.to);
        q.and("birthdate =", f.birthdate);
        q.and("kana_key =", f.kana_key.clone());
        q.and("card_serial =", f.card_serial.clone());
        q.and("outcome =", f.outcome.clone());
        q.and("id <", f.before_id);
        let limit = i64::from(f.limit.unwrap_or(100).min(1000));
        self.block(async {
            let c = self.conn().await?;
            let rows = q.newest_first(&c, limit).await?;
            rows.iter()
                .map(|r| {
                    let rc: String = r.try_get(4)?;
                    let im: Option<String> = r.try_get(5)?;
                    let res: String = r.try_get(12)?;
                    Ok(ConfirmationEntry {
                        id: r.try_get(0)?,
                        facility: r.try_get(1)?,
                        processed_at: r.try_get(2)?,
                        confirmation_date: r.try_get(3)?,
                        reference_classification: ReferenceClassification::parse(&rc)
                            .map_err(|e| corrupt("reference_classification", e))?,
                        identity_method: im
                            .map(|m| IdentityMethod::parse(&m))
                            .transpose()
                            .map_err(|e| corrupt("identity_method", e))?,
                        staff_id: r.try_get(6)?,
                        card_serial: r.try_get(7)?,
                        person_id: r.try_get(8)?,
                        birthdate: r.try_get(9)?,
                        kana_key: r.try_get(10)?,
                        outcome: r.try_get(11)?,
                        result: serde_json::value::RawValue::from_string(res)
                            .map_err(|e| corrupt("result", e))?,
                    })
                })
                .collect()
        })
    }
}

impl FacilityStore for PostgresStore {
    fn upsert_facility(&self, f: &Facility, token_hash: &str) -> Result<()> {
        self.block(async {
            let c = self.conn().await?;
            c.execute(
                "INSERT INTO facility (code, name, token_hash) VALUES ($1, $2, $3) \
                 ON CONFLICT (code) DO UPDATE SET name = EXCLUDED.name, \
                 token_hash = EXCLUDED.token_hash",
                &[&f.code.as_str(), &f.name, &token_hash],
            )
            .await?;
            Ok(())
        })
    }

    fn facility_by_token_hash(&self, token_hash: &str) -> Result<Option<Facility>> {
        self.primary_read(async |c| facility_by_token_hash(c, token_hash).await)
    }

    fn facility_by_token_hash_async<'a>(
        &'a self,
        token_hash: &'a str,
    ) -> StoreFuture<'a, Option<Facility>> {
        hot_future!(
            self,
            primary,
            self.facility_by_token_hash(token_hash),
            |c| facility_by_token_hash(c, token_hash).await
        )
    }

    fn revoke_facility_token(&self, code: &MedicalInstitutionCode) -> Result<bool> {
        self.block(async {
            let c = self.conn().await?;
            // not a hex digest, so no token's hash ever equals it
            let n = c
                .execute(
                    "UPDATE facility SET token_hash = 'revoked:' || code WHERE code = $1",
                    &[&code.as_str()],
                )
                .await?;
            Ok(n > 0)
        })
    }
}

// ---------------------------------------------------------------------------------------------
// import

/// One import transaction on one pooled connection. Dropped without `commit`, it rolls back.
struct PgImport<'a> {
    store: &'a PostgresStore,
    conn: Option<Object>,
    /// an initial load in progress (`COPY`, constraints and indexes built at commit)
    bulk: Option<bulk::Bulk>,
}

impl PgImport<'_> {
    fn c(&self) -> Result<&Object> {
        self.conn
            .as_ref()
            .ok_or_else(|| StoreError::Conflict("the import transaction is over".into()))
    }

    fn run<T>(&self, f: impl AsyncFnOnce(&Object) -> Result<T>) -> Result<T> {
        let c = self.c()?;
        self.store.block(f(c))
    }

    /// Refuses a call an initial load does not make (its keys are not built yet).
    fn not_in_bulk(&self, what: &str) -> Result<()> {
        if self.bulk.is_some() {
            return Err(StoreError::Conflict(format!(
                "{what} is not available during an initial load"
            )));
        }
        Ok(())
    }

    /// Runs `f` with the initial load in progress, if there is one; `None` otherwise.
    fn bulk<T>(
        &mut self,
        f: impl AsyncFnOnce(&mut bulk::Bulk, &Object) -> Result<T>,
    ) -> Option<Result<T>> {
        let b = self.bulk.as_mut()?;
        let Some(c) = self.conn.as_ref() else {
            return Some(Err(StoreError::Conflict(
                "the import transaction is over".into(),
            )));
        };
        Some(self.store.block(f(b, c)))
    }
}

impl Drop for PgImport<'_> {
    fn drop(&mut self) {
        if let Some(c) = self.conn.take() {
            let rolled_back = self.store.block(c.batch_execute("ROLLBACK"));
            if rolled_back.is_err() {
                // never hand a connection with an open transaction back to the pool
                let _ = Object::take(c);
            }
        }
    }
}

impl ImportStore for PostgresStore {
    fn registry_indexes(&self) -> Result<Vec<String>> {
        self.block(async {
            let c = self.conn().await?;
            let rows = c
                .query(
                    "SELECT conname::text FROM pg_constraint \
                     WHERE conrelid = ANY (ARRAY['person', 'qualification', 'card', \
                     'card_key']::regclass[]) AND contype IN ('p', 'u', 'f') \
                     UNION SELECT indexrelid::regclass::text FROM pg_index \
                     WHERE indrelid = ANY (ARRAY['person', 'qualification', 'card', \
                     'card_key']::regclass[]) ORDER BY 1",
                    &[],
                )
                .await?;
            rows.iter().map(|r| Ok(r.try_get(0)?)).collect()
        })
    }

    fn begin_import(&self) -> Result<Box<dyn ImportTx + '_>> {
        let c = self.block(async {
            let c = self.conn().await?;
            c.batch_execute("BEGIN ISOLATION LEVEL READ COMMITTED")
                .await?;
            Ok::<_, StoreError>(c)
        })?;
        Ok(Box::new(PgImport {
            store: self,
            conn: Some(c),
            bulk: None,
        }))
    }
}

/// The columns a person row is written with after its key (`id`, `my_number_hash`), in the
/// order of [`PersonValues::params`].
pub(crate) const PERSON_WRITE_COLS: &str =
    "name, name_kana, name_key, kana_key, sex, birthdate, post_number, address";

/// The values of a person row computed from the domain type (the search keys, the sex code).
pub(crate) struct PersonValues<'a> {
    p: &'a Person,
    name_key: String,
    kana_key: String,
    sex: &'static str,
}

impl<'a> PersonValues<'a> {
    pub(crate) fn of(p: &'a Person) -> Self {
        PersonValues {
            p,
            name_key: kana::name_key(&p.name),
            kana_key: kana::kana_key(&p.name_kana),
            sex: p.sex.code(),
        }
    }

    /// The parameters: `key` (the row's key columns), then the person's in
    /// [`PERSON_WRITE_COLS`] order.
    pub(crate) fn params<'b>(
        &'b self,
        key: &[&'b (dyn ToSql + Sync)],
    ) -> Vec<&'b (dyn ToSql + Sync)> {
        let p = self.p;
        let mut v: Vec<&'b (dyn ToSql + Sync)> = Vec::with_capacity(key.len() + 8);
        v.extend_from_slice(key);
        v.extend_from_slice(&[
            &p.name,
            &p.name_kana,
            &self.name_key,
            &self.kana_key,
            &self.sex,
            &p.birthdate,
            &p.post_number,
            &p.address,
        ]);
        v
    }
}

async fn write_qualification(
    c: &Object,
    person: PersonId,
    registered_name: &str,
    q: &Qualification,
    check_existing: bool,
) -> Result<UpsertOutcome> {
    let existing = if !check_existing {
        None
    } else {
        query_quals(
            c,
            "person_id = $1 AND insurer_number = $2 AND qualification_date = $3",
            &[&person, &q.insurer_number.as_str(), &q.qualification_date],
        )
        .await?
        .into_iter()
        .next()
    };
    if let Some(e) = &existing
        && e.qualification == *q
        && e.registered_name == registered_name
    {
        return Ok(UpsertOutcome::Unchanged);
    }
    let st = c
        .prepare_cached(&format!(
            "INSERT INTO qualification ({QUAL_INSERT_COLS}) VALUES ($1, $2, $3, $4, $5, \
             $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22, \
             $23, $24, $25, $26, $27, $28, $29, $30, $31, $32, $33, $34, $35, $36) \
             ON CONFLICT (person_id, insurer_number, qualification_date) DO UPDATE SET \
             registered_name = EXCLUDED.registered_name, insurer_name = EXCLUDED.insurer_name, \
             card_classification = EXCLUDED.card_classification, symbol = EXCLUDED.symbol, \
             number = EXCLUDED.number, number_key = EXCLUDED.number_key, \
             branch = EXCLUDED.branch, family_class = EXCLUDED.family_class, \
             insured_name = EXCLUDED.insured_name, employer = EXCLUDED.employer, \
             disqualification_date = EXCLUDED.disqualification_date, \
             reason_of_loss = EXCLUDED.reason_of_loss, \
             contribution_ratio = EXCLUDED.contribution_ratio, \
             elderly_ratio = EXCLUDED.elderly_ratio, \
             elderly_valid_from = EXCLUDED.elderly_valid_from, \
             elderly_valid_to = EXCLUDED.elderly_valid_to, \
             limit_class = EXCLUDED.limit_class, preschool = EXCLUDED.preschool, \
             card_issued_on = EXCLUDED.card_issued_on, \
             card_valid_from = EXCLUDED.card_valid_from, card_valid_to = EXCLUDED.card_valid_to, \
             name_of_other = EXCLUDED.name_of_other, \
             name_of_other_kana = EXCLUDED.name_of_other_kana, sex2 = EXCLUDED.sex2, \
             elderly_issued_on = EXCLUDED.elderly_issued_on, \
             limit_certificate = EXCLUDED.limit_certificate, \
             limit_issued_on = EXCLUDED.limit_issued_on, \
             limit_valid_from = EXCLUDED.limit_valid_from, \
             limit_valid_to = EXCLUDED.limit_valid_to, \
             limit_long_term_date = EXCLUDED.limit_long_term_date, \
             specific_diseases = EXCLUDED.specific_diseases, in_school = EXCLUDED.in_school, \
             registered_on = EXCLUDED.registered_on"
        ))
        .await?;
    let v = QualValues::of(q)?;
    c.execute(&st, &v.params(&person, &registered_name)).await?;
    Ok(if existing.is_some() {
        UpsertOutcome::Updated
    } else {
        UpsertOutcome::Inserted
    })
}

/// The columns a qualification row is written with, in the order of [`QualValues::params`].
pub(crate) const QUAL_INSERT_COLS: &str = "person_id, registered_name, insurer_number, \
     insurer_name, card_classification, symbol, number, number_key, branch, \
     family_class, insured_name, employer, qualification_date, disqualification_date, \
     reason_of_loss, contribution_ratio, elderly_ratio, elderly_valid_from, \
     elderly_valid_to, limit_class, preschool, card_issued_on, card_valid_from, \
     card_valid_to, name_of_other, name_of_other_kana, sex2, elderly_issued_on, \
     limit_certificate, limit_issued_on, limit_valid_from, limit_valid_to, \
     limit_long_term_date, specific_diseases, in_school, registered_on";

/// Their types (for the binary `COPY` of an initial load).
pub(crate) const QUAL_INSERT_TYPES: [tokio_postgres::types::Type; 36] = {
    use tokio_postgres::types::Type;
    [
        Type::INT8,
        Type::TEXT,
        Type::TEXT,
        Type::TEXT,
        Type::TEXT,
        Type::TEXT,
        Type::TEXT,
        Type::TEXT,
        Type::TEXT,
        Type::TEXT,
        Type::TEXT,
        Type::TEXT,
        Type::DATE,
        Type::DATE,
        Type::TEXT,
        Type::INT2,
        Type::INT2,
        Type::DATE,
        Type::DATE,
        Type::TEXT,
        Type::BOOL,
        Type::DATE,
        Type::DATE,
        Type::DATE,
        Type::TEXT,
        Type::TEXT,
        Type::TEXT,
        Type::DATE,
        Type::TEXT,
        Type::DATE,
        Type::DATE,
        Type::DATE,
        Type::DATE,
        Type::TEXT,
        Type::BOOL,
        Type::DATE,
    ]
};

/// The values of a qualification row computed from the domain type (codes, keys, JSON).
pub(crate) struct QualValues<'a> {
    q: &'a Qualification,
    insurer_number: &'a str,
    symbol: &'a str,
    number: &'a str,
    branch: &'a str,
    number_key: String,
    contribution: Option<i16>,
    elderly_ratio: Option<i16>,
    elderly_from: Option<NaiveDate>,
    elderly_to: Option<NaiveDate>,
    reason: Option<&'static str>,
    limit: Option<&'static str>,
    diseases: Option<String>,
    sex2: Option<&'static str>,
    limit_cert: Option<&'static str>,
    card_classification: &'static str,
    family_class: &'static str,
}

impl<'a> QualValues<'a> {
    pub(crate) fn of(q: &'a Qualification) -> Result<Self> {
        let d = &q.details;
        Ok(QualValues {
            q,
            insurer_number: q.insurer_number.as_str(),
            symbol: q.symbol.as_str(),
            number: q.number.as_str(),
            branch: q.branch.as_str(),
            number_key: q.number.key(),
            contribution: q.contribution_ratio.map(i16::from),
            elderly_ratio: q.elderly.as_ref().map(|e| i16::from(e.ratio)),
            elderly_from: q.elderly.as_ref().map(|e| e.valid_from),
            elderly_to: q.elderly.as_ref().and_then(|e| e.valid_to),
            reason: q.reason_of_loss.map(|r| r.code()),
            limit: q.limit_class.map(|l| l.code()),
            diseases: if d.specific_diseases.is_empty() {
                None
            } else {
                Some(
                    serde_json::to_string(&d.specific_diseases)
                        .map_err(|e| corrupt("specific_diseases", e))?,
                )
            },
            sex2: d.sex2.map(|x| x.code()),
            limit_cert: d.limit_certificate.classification.map(|c| c.code()),
            card_classification: q.card_classification.code(),
            family_class: q.family_class.code(),
        })
    }

    /// The parameters in [`QUAL_INSERT_COLS`] order.
    pub(crate) fn params<'b>(
        &'b self,
        person: &'b PersonId,
        registered_name: &'b (dyn ToSql + Sync),
    ) -> [&'b (dyn ToSql + Sync); 36] {
        let q = self.q;
        let d = &q.details;
        let lc = &d.limit_certificate;
        [
            person,
            registered_name,
            &self.insurer_number,
            &q.insurer_name,
            &self.card_classification,
            &self.symbol,
            &self.number,
            &self.number_key,
            &self.branch,
            &self.family_class,
            &q.insured_name,
            &q.employer,
            &q.qualification_date,
            &q.disqualification_date,
            &self.reason,
            &self.contribution,
            &self.elderly_ratio,
            &self.elderly_from,
            &self.elderly_to,
            &self.limit,
            &q.preschool,
            &q.card_dates.issued_on,
            &q.card_dates.valid_from,
            &q.card_dates.valid_to,
            &d.name_of_other,
            &d.name_of_other_kana,
            &self.sex2,
            &d.elderly_certificate_date,
            &self.limit_cert,
            &lc.issued_on,
            &lc.valid_from,
            &lc.valid_to,
            &lc.long_term_date,
            &self.diseases,
            &d.in_school,
            &d.registered_on,
        ]
    }
}

impl ImportTx for PgImport<'_> {
    fn registry_is_empty(&mut self) -> Result<bool> {
        self.run(async |c| {
            let r = c
                .query_one("SELECT NOT EXISTS (SELECT 1 FROM person)", &[])
                .await?;
            Ok(r.try_get(0)?)
        })
    }

    fn start_initial_load(&mut self) -> Result<()> {
        if self.bulk.is_none() {
            let hold = self.store.initial_load_hold;
            self.bulk = self.run(async |c| bulk::Bulk::start(c, hold).await)?;
        }
        Ok(())
    }

    fn insert_new_person(&mut self, h: &MyNumberHash, p: &Person) -> Result<PersonId> {
        if let Some(r) = self.bulk(async |b, c| b.insert_person(c, h, p).await) {
            return r;
        }
        let v = PersonValues::of(p);
        self.run(async |c| {
            let st = c
                .prepare_cached(&format!(
                    "INSERT INTO person (my_number_hash, {PERSON_WRITE_COLS}) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING id"
                ))
                .await?;
            let r = c.query_one(&st, &v.params(&[&h.as_str()])).await?;
            Ok(r.try_get(0)?)
        })
    }

    fn person_by_hash(&mut self, h: &MyNumberHash) -> Result<Option<PersonRecord>> {
        self.not_in_bulk("a person by My Number")?;
        self.run(async |c| {
            let st = c
                .prepare_cached(&format!(
                    "SELECT {PERSON_COLS} FROM person WHERE my_number_hash = $1"
                ))
                .await?;
            c.query_opt(&st, &[&h.as_str()])
                .await?
                .map(|r| person_from_offset(&r, 0))
                .transpose()
        })
    }

    fn person_by_id(&mut self, id: PersonId) -> Result<Option<PersonRecord>> {
        if let Some(r) = self.bulk(async |b, c| b.person(c, id).await) {
            return r;
        }
        self.run(async |c| person_by_id(c, id).await)
    }

    fn insert_person(&mut self, h: &MyNumberHash, p: &Person) -> Result<PersonId> {
        self.not_in_bulk("an upsert of a person")?;
        let v = PersonValues::of(p);
        self.run(async |c| {
            let st = c
                .prepare_cached(&format!(
                    "INSERT INTO person (my_number_hash, {PERSON_WRITE_COLS}) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) \
                     ON CONFLICT (my_number_hash) DO UPDATE \
                     SET my_number_hash = EXCLUDED.my_number_hash RETURNING id"
                ))
                .await?;
            let r = c.query_one(&st, &v.params(&[&h.as_str()])).await?;
            Ok(r.try_get(0)?)
        })
    }

    fn update_person(&mut self, id: PersonId, p: &Person) -> Result<()> {
        if let Some(b) = self.bulk.as_mut()
            && b.replace_pending(id, p)
        {
            return Ok(());
        }
        let v = PersonValues::of(p);
        self.run(async |c| {
            let st = c
                .prepare_cached(&format!(
                    "UPDATE person SET ({PERSON_WRITE_COLS}) = ($2, $3, $4, $5, $6, $7, $8, $9) \
                     WHERE id = $1"
                ))
                .await?;
            c.execute(&st, &v.params(&[&id])).await?;
            Ok(())
        })
    }

    fn update_post_number(&mut self, id: PersonId, post_number: &str) -> Result<()> {
        if let Some(b) = self.bulk.as_mut() {
            b.set_post_number(id, post_number);
            return Ok(());
        }
        self.run(async |c| {
            let st = c
                .prepare_cached("UPDATE person SET post_number = $2 WHERE id = $1")
                .await?;
            c.execute(&st, &[&id, &post_number]).await?;
            Ok(())
        })
    }

    fn upsert_insurer(&mut self, number: &InsurerNumber, name: &str) -> Result<()> {
        let kind = serde_json::to_value(number.kind())
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_default();
        self.run(async |c| {
            let st = c
                .prepare_cached(
                    "INSERT INTO insurer (insurer_number, name, kind) VALUES ($1, $2, $3) \
                     ON CONFLICT (insurer_number) DO UPDATE SET name = EXCLUDED.name \
                     WHERE insurer.name <> EXCLUDED.name",
                )
                .await?;
            c.execute(&st, &[&number.as_str(), &name, &kind]).await?;
            Ok(())
        })
    }

    fn upsert_qualification(
        &mut self,
        person: PersonId,
        registered_name: &str,
        q: &Qualification,
    ) -> Result<UpsertOutcome> {
        self.not_in_bulk("an upsert of a qualification")?;
        self.run(async |c| write_qualification(c, person, registered_name, q, true).await)
    }

    fn insert_new_qualification(
        &mut self,
        person: PersonId,
        registered_name: &str,
        q: &Qualification,
    ) -> Result<()> {
        if let Some(r) =
            self.bulk(async |b, c| b.insert_qualification(c, person, registered_name, q).await)
        {
            return r;
        }
        self.run(async |c| {
            write_qualification(c, person, registered_name, q, false)
                .await
                .map(|_| ())
        })
    }

    fn qualifications_of(
        &mut self,
        person: PersonId,
        insurer: &InsurerNumber,
    ) -> Result<Vec<QualificationRecord>> {
        self.not_in_bulk("a lookup of qualifications")?;
        self.run(async |c| {
            query_quals(
                c,
                "person_id = $1 AND insurer_number = $2",
                &[&person, &insurer.as_str()],
            )
            .await
        })
    }

    fn upsert_card(&mut self, card: &CardCert) -> Result<UpsertOutcome> {
        self.not_in_bulk("an upsert of a card")?;
        self.run(async |c| {
            let existing = card_by_serial(c, &card.serial).await?;
            if existing.as_ref() == Some(card) {
                return Ok(UpsertOutcome::Unchanged);
            }
            let st = c
                .prepare_cached(
                    "INSERT INTO card (serial, person_id, cert_expiry, status) \
                     VALUES ($1, $2, $3, $4) ON CONFLICT (serial) DO UPDATE SET \
                     person_id = EXCLUDED.person_id, cert_expiry = EXCLUDED.cert_expiry, \
                     status = EXCLUDED.status",
                )
                .await?;
            c.execute(
                &st,
                &[
                    &card.serial,
                    &card.person_id,
                    &card.cert_expiry,
                    &card.status.code(),
                ],
            )
            .await?;
            Ok(if existing.is_some() {
                UpsertOutcome::Updated
            } else {
                UpsertOutcome::Inserted
            })
        })
    }

    fn card_by_serial(&mut self, serial: &str) -> Result<Option<CardCert>> {
        self.not_in_bulk("a lookup of a card")?;
        self.run(async |c| card_by_serial(c, serial).await)
    }

    fn set_card_key(&mut self, serial: &str, public_key: &str) -> Result<()> {
        self.not_in_bulk("an upsert of a card key")?;
        self.run(async |c| {
            let st = c
                .prepare_cached(
                    "INSERT INTO card_key (serial, public_key) VALUES ($1, $2) \
                     ON CONFLICT (serial) DO UPDATE SET public_key = EXCLUDED.public_key \
                     WHERE card_key.public_key <> EXCLUDED.public_key",
                )
                .await?;
            c.execute(&st, &[&serial, &public_key]).await?;
            Ok(())
        })
    }

    fn insert_new_card(&mut self, card: &CardCert, public_key: &str) -> Result<()> {
        if let Some(r) = self.bulk(async |b, c| b.insert_card(c, card, public_key).await) {
            return r;
        }
        if self.upsert_card(card)? != UpsertOutcome::Inserted {
            return Err(StoreError::Conflict(format!(
                "card {} already registered",
                card.serial
            )));
        }
        self.set_card_key(&card.serial, public_key)
    }

    fn prepare_commit(&mut self) -> Result<()> {
        if let Some(b) = self.bulk.take() {
            // on failure the connection is dropped by `Drop`, which rolls back
            self.run(async |c| b.finish(c).await)?;
        }
        Ok(())
    }

    fn commit(mut self: Box<Self>) -> Result<()> {
        self.prepare_commit()?;
        let c = self
            .conn
            .take()
            .ok_or_else(|| StoreError::Conflict("the import transaction is over".into()))?;
        match self.store.block(c.batch_execute("COMMIT")) {
            Ok(()) => Ok(()),
            Err(e) => {
                let _ = Object::take(c);
                Err(e.into())
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// scratch databases for tests

/// The server the PostgreSQL tests use: `ONSHI_TEST_PG` or the machine's local server.
pub fn test_server_url() -> String {
    std::env::var("ONSHI_TEST_PG").unwrap_or_else(|_| "postgres://root@127.0.0.1:5432/test".into())
}

/// A fresh, empty database on the test server (`CREATE DATABASE onshi_test_<random>`),
/// dropped again when this value is dropped. For tests: without a server it fails, it does not
/// skip.
pub struct TestDatabase {
    admin_url: String,
    name: String,
    url: String,
}

/// Runs `sql` (one statement or several, by the simple query protocol) on `url`, on a thread
/// and runtime of its own, so that any caller may use it, one inside a runtime too; returns the
/// rows of every statement in order, each column as text (`None` for NULL). For tests and
/// one-off administration.
pub fn simple_query(url: &str, sql: &str) -> Result<Vec<Vec<Option<String>>>> {
    let (url, sql) = (url.to_string(), sql.to_string());
    std::thread::spawn(move || -> Result<Vec<Vec<Option<String>>>> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        rt.block_on(async {
            let (client, conn) = tokio_postgres::connect(&url, NoTls).await?;
            let driver = tokio::spawn(conn);
            let mut rows = Vec::new();
            for m in client.simple_query(&sql).await? {
                if let tokio_postgres::SimpleQueryMessage::Row(r) = m {
                    rows.push((0..r.len()).map(|i| r.get(i).map(str::to_string)).collect());
                }
            }
            drop(client);
            let _ = driver.await;
            Ok(rows)
        })
    })
    .join()
    .map_err(|_| StoreError::Pool("the query thread panicked".into()))?
}

impl TestDatabase {
    /// Creates the database on [`test_server_url`].
    pub fn create() -> Result<Self> {
        static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let admin_url = test_server_url();
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let name = format!(
            "onshi_test_{}_{nanos}_{}",
            std::process::id(),
            N.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
        );
        simple_query(&admin_url, &format!("CREATE DATABASE {name}")).map_err(|e| {
            StoreError::Pool(format!(
                "the PostgreSQL tests need a server at {} (set ONSHI_TEST_PG): {e}",
                redact(&admin_url)
            ))
        })?;
        let url = match admin_url.rfind('/') {
            Some(i) if i > admin_url.find("://").map(|s| s + 2).unwrap_or(0) => {
                let (base, rest) = admin_url.split_at(i);
                let query = rest.find('?').map(|q| &rest[q..]).unwrap_or("");
                format!("{base}/{name}{query}")
            }
            _ => format!("{admin_url}/{name}"),
        };
        Ok(TestDatabase {
            admin_url,
            name,
            url,
        })
    }

    /// The database's URL.
    pub fn url(&self) -> &str {
        &self.url
    }

    pub fn name(&self) -> &str {
        &self.name
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        if let Err(e) = simple_query(
            &self.admin_url,
            &format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name),
        ) {
            eprintln!("could not drop test database {}: {e}", self.name);
        }
    }
}
