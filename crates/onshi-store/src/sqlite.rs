//! SQLite implementation of the storage interface: one file, WAL journal, `synchronous=FULL`
//! so that a commit is durable when it returns. Reads use a small pool of connections; writes
//! go through one writer connection.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use chrono::NaiveDate;
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
use rusqlite::{Connection, OpenFlags, OptionalExtension, Row, params};

use crate::{
    CardCert, CardWithHistory, ConfirmationEntry, Facility, FacilityStore, HistoryFilter,
    HistoryStore, ImportStore, ImportTx, PersonId, PersonRecord, QualificationRecord,
    RegistryCounts, RegistryRead, Result, StoreError, UpsertOutcome,
};

const SCHEMA: &str = include_str!("schema.sql");
/// Schema 5: the qualification's registration date in the OQS (R23).
const REGISTRATION_SCHEMA: &str = include_str!("registration.sql");
const PERSON_HASH_INDEX_SCHEMA: &str = include_str!("person_hash_index.sql");

/// Columns added to the registry schema after files were already in use: `(table, column,
/// declaration)`. [`add_missing_columns`] adds those an older file lacks, so a registry made by
/// an earlier version opens unchanged (the new columns NULL). Only nullable columns go here.
const ADDED_COLUMNS: &[(&str, &str, &str)] = &[
    ("qualification", "card_issued_on", "TEXT"),
    ("qualification", "card_valid_from", "TEXT"),
    ("qualification", "card_valid_to", "TEXT"),
    ("qualification", "name_of_other", "TEXT"),
    ("qualification", "name_of_other_kana", "TEXT"),
    ("qualification", "sex2", "TEXT"),
    ("qualification", "elderly_issued_on", "TEXT"),
    ("qualification", "limit_certificate", "TEXT"),
    ("qualification", "limit_issued_on", "TEXT"),
    ("qualification", "limit_valid_from", "TEXT"),
    ("qualification", "limit_valid_to", "TEXT"),
    ("qualification", "limit_long_term_date", "TEXT"),
    ("qualification", "specific_diseases", "TEXT"),
];

/// Adds the [`ADDED_COLUMNS`] a file lacks (one `ALTER TABLE … ADD COLUMN` each).
fn add_missing_columns(w: &Connection) -> Result<()> {
    for (table, column, decl) in ADDED_COLUMNS {
        let mut st = w.prepare(&format!(
            "SELECT 1 FROM pragma_table_info('{table}') WHERE name = ?1"
        ))?;
        if !st.exists([column])? {
            w.execute_batch(&format!("ALTER TABLE {table} ADD COLUMN {column} {decl}"))?;
        }
    }
    Ok(())
}
const HISTORY_SCHEMA: &str = include_str!("history.sql");
/// History file, schema 2: the search audit and the medical-information consents and views.
const LOGS_SCHEMA: &str = include_str!("logs.sql");

/// The logs that live in the history file since its schema 2 (`logs.sql`); a registry file
/// made before still holds them, and [`move_logs`] moves them over at open.
const MOVED_LOGS: &[&str] = &["outage_audit", "med_consent", "med_view"];

/// The versioned schema of the SQLite files (refinery; the applied versions are kept in
/// `onshi_schema_history` inside each file). Version 1 is the schema as it stood when the
/// versioning began, written so that it also applies over a file made before (every statement
/// `IF NOT EXISTS`, the later columns added by [`add_missing_columns`]). A change from now on
/// is a new version appended here.
pub mod migrations {
    /// `(version, name, sql)` of the registry file's migrations, oldest first.
    pub const REGISTRY: &[(i32, &str, &str)] = &[
        (1, "registry", super::SCHEMA),
        (2, "outage", crate::outage::SCHEMA),
        (3, "trust", crate::trust::SCHEMA),
        (4, "medinfo", crate::medinfo::SCHEMA),
        (5, "registration_date", super::REGISTRATION_SCHEMA),
        (6, "person_hash_index", super::PERSON_HASH_INDEX_SCHEMA),
    ];
    /// The same for the history file.
    pub const HISTORY: &[(i32, &str, &str)] = &[
        (1, "history", super::HISTORY_SCHEMA),
        (2, "logs", super::LOGS_SCHEMA),
    ];

    pub(super) fn runner(all: &[(i32, &str, &str)]) -> crate::Result<refinery::Runner> {
        let ms: Vec<refinery::Migration> = all
            .iter()
            .map(|(v, name, sql)| {
                refinery::Migration::unapplied(&format!("V{v}__{name}"), sql)
                    .map_err(|e| crate::StoreError::Migration(format!("V{v}__{name}: {e}")))
            })
            .collect::<crate::Result<_>>()?;
        let mut r = refinery::Runner::new(&ms).set_abort_divergent(true);
        r.set_migration_table_name("onshi_schema_history");
        Ok(r)
    }
}

/// Applies the pending migrations of `all` to `w`. Two processes opening one new file at once
/// may both try a version; the loser finds it applied on the second run.
fn migrate(w: &mut Connection, all: &[(i32, &str, &str)]) -> Result<()> {
    let first = migrations::runner(all)?.run(w);
    if first.is_ok() {
        return Ok(());
    }
    migrations::runner(all)?
        .run(w)
        .map(|_| ())
        .map_err(|e| StoreError::Migration(e.to_string()))
}

/// The schema version of an SQLite registry or history file (0 before versioning).
pub fn schema_version(c: &Connection) -> Result<i32> {
    let has: bool = c.query_row(
        "SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE name = 'onshi_schema_history')",
        [],
        |r| r.get(0),
    )?;
    if !has {
        return Ok(0);
    }
    Ok(c.query_row(
        "SELECT COALESCE(max(version), 0) FROM onshi_schema_history",
        [],
        |r| r.get(0),
    )?)
}

/// The history file that belongs to a registry file: `central.sqlite` →
/// `central.history.sqlite`.
pub fn history_path(registry: &Path) -> PathBuf {
    let stem = registry
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "onshi".into());
    registry.with_file_name(format!("{stem}.history.sqlite"))
}

/// SQLite-backed store: the registry file and, beside it, the history file (see
/// [`history_path`]). Each has one writer connection, a pool of readers and a background
/// checkpointer.
pub struct SqliteStore {
    path: PathBuf,
    writer: Mutex<Connection>,
    readers: Mutex<Vec<Connection>>,
    history_path: PathBuf,
    history_writer: Mutex<Connection>,
    history_readers: Mutex<Vec<Connection>>,
    /// the registry's, then the history's
    checkpointers: [Checkpointer; 2],
    /// persons an initial load holds in memory at most ([`SqliteStore::with_initial_load_hold`])
    initial_load_hold: usize,
    /// the most an initial load's index sorter holds in one sorted run, in KiB
    /// ([`SqliteStore::with_index_sort_runs`])
    index_sort_run_kib: i64,
}

/// What [`SqliteStore::warm_map`] did.
#[derive(Debug, Clone, Default)]
pub struct MapWarming {
    /// maps whose page tables were filled
    pub maps: usize,
    /// their length in all
    pub bytes: u64,
    pub secs: f64,
    /// why the warming stopped, if it did (the store is unchanged by it)
    pub failed: Option<String>,
}

/// Drops a registry file and its history file from the OS cache, as a restart of the machine
/// would (see `sqlite_map::drop_from_os_cache`), and says how much of each the cache held
/// before and after. For measuring a start after a reboot, call it before the store is
/// opened: pages that a connection of this process has mapped stay held, and the report shows
/// them. Missing files are skipped.
pub fn drop_os_cache(registry: &Path) -> Result<Vec<OsCacheDrop>> {
    [registry.to_path_buf(), history_path(registry)]
        .into_iter()
        .filter(|p| p.exists())
        .map(|p| {
            let io = |e: std::io::Error| {
                StoreError::Io(std::io::Error::new(
                    e.kind(),
                    format!("{}: {e}", p.display()),
                ))
            };
            let (before, len) = crate::sqlite_map::resident(&p).map_err(io)?;
            crate::sqlite_map::drop_from_os_cache(&p).map_err(io)?;
            let (after, _) = crate::sqlite_map::resident(&p).map_err(io)?;
            Ok(OsCacheDrop {
                file: p,
                len,
                before,
                after,
            })
        })
        .collect()
}

/// One file dropped from the OS cache ([`drop_os_cache`]): its length and the
/// bytes of it the cache held before and after.
#[derive(Debug, Clone)]
pub struct OsCacheDrop {
    pub file: PathBuf,
    pub len: u64,
    pub before: u64,
    pub after: u64,
}

/// Reads map the file instead of copying pages: a commit to the history invalidates every
/// reader's page cache, and mapped pages make re-reading the registry pages cheap.
const MMAP_SIZE: i64 = 1 << 40;

/// How often the background checkpointer moves the WAL into the database file. Commits never
/// wait for a checkpoint (the writer's automatic checkpoint is off).
const CHECKPOINT_EVERY: std::time::Duration = std::time::Duration::from_millis(500);

struct Checkpointer {
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    /// its connection; `None` while an initial load has the file to itself (see
    /// [`SqliteImport::leave_wal`])
    conn: std::sync::Arc<Mutex<Option<Connection>>>,
    path: PathBuf,
    handle: Option<std::thread::JoinHandle<()>>,
}

impl Checkpointer {
    /// Closes its connection until [`Checkpointer::resume`].
    fn pause(&self) {
        if let Ok(mut c) = self.conn.lock() {
            c.take();
        }
    }

    fn resume(&self) -> Result<()> {
        let mut c = self.conn.lock().map_err(|_| poisoned())?;
        if c.is_none() {
            *c = Some(checkpointer_conn(&self.path)?);
        }
        Ok(())
    }
}

impl Drop for Checkpointer {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

fn checkpointer_conn(path: &Path) -> Result<Connection> {
    open_conn(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
}

fn start_checkpointer(path: &Path) -> Result<Checkpointer> {
    let conn = std::sync::Arc::new(Mutex::new(Some(checkpointer_conn(path)?)));
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let flag = stop.clone();
    let shared = conn.clone();
    let checkpoint = move || {
        if let Ok(c) = shared.lock()
            && let Some(c) = c.as_ref()
            && let Err(e) = c.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()))
        {
            tracing::warn!(error = %e, "WAL checkpoint failed; will retry");
        }
    };
    let handle = std::thread::Builder::new()
        .name("sqlite-checkpoint".into())
        .spawn(move || {
            let tick = std::time::Duration::from_millis(50);
            let mut waited = std::time::Duration::ZERO;
            while !flag.load(std::sync::atomic::Ordering::Relaxed) {
                std::thread::sleep(tick);
                waited += tick;
                if waited >= CHECKPOINT_EVERY {
                    waited = std::time::Duration::ZERO;
                    checkpoint();
                }
            }
            checkpoint();
        })?;
    Ok(Checkpointer {
        stop,
        conn,
        path: path.to_path_buf(),
        handle: Some(handle),
    })
}

fn corrupt(what: &str, e: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(format!("{what}: {e}"))
}

fn date_col(s: &str) -> Result<NaiveDate> {
    onshi_domain::wareki::parse_iso_date(s).map_err(|e| corrupt("date", e))
}

fn opt_date_col(s: Option<String>) -> Result<Option<NaiveDate>> {
    s.as_deref().map(date_col).transpose()
}

/// `YYYY-MM-DD` (written by hand: `format` is several times slower, and an import writes
/// tens of millions of dates).
fn iso(d: NaiveDate) -> String {
    onshi_domain::wareki::format_iso_date(d)
}

/// A date bound as the text [`iso`] writes, without allocating (an import binds tens of
/// millions of dates).
enum IsoDate {
    Short([u8; 10]),
    Long(String),
}

fn iso_sql(d: NaiveDate) -> IsoDate {
    use chrono::Datelike;
    let y = d.year();
    if !(0..=9999).contains(&y) {
        return IsoDate::Long(d.format("%Y-%m-%d").to_string());
    }
    let digit = |v: u32| b'0' + (v % 10) as u8;
    let y = y as u32;
    let (m, day) = (d.month(), d.day());
    IsoDate::Short([
        digit(y / 1000),
        digit(y / 100),
        digit(y / 10),
        digit(y),
        b'-',
        digit(m / 10),
        digit(m),
        b'-',
        digit(day / 10),
        digit(day),
    ])
}

impl rusqlite::ToSql for IsoDate {
    fn to_sql(&self) -> rusqlite::Result<rusqlite::types::ToSqlOutput<'_>> {
        use rusqlite::types::{ToSqlOutput, ValueRef};
        Ok(ToSqlOutput::Borrowed(ValueRef::Text(match self {
            IsoDate::Short(b) => b,
            IsoDate::Long(s) => s.as_bytes(),
        })))
    }
}

/// How long a connection waits for a lock another holds.
const BUSY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

fn open_conn(path: &Path, flags: OpenFlags) -> Result<Connection> {
    let c = Connection::open_with_flags(path, flags)?;
    c.busy_timeout(BUSY_TIMEOUT)?;
    c.pragma_update(None, "synchronous", "FULL")?;
    c.pragma_update(None, "foreign_keys", "ON")?;
    c.query_row(&format!("PRAGMA mmap_size={MMAP_SIZE}"), [], |_| Ok(()))?;
    c.pragma_update(None, "cache_size", NORMAL_CACHE_KIB)?;
    c.set_prepared_statement_cache_capacity(64);
    Ok(c)
}

/// Opens the writer connection of a file in WAL mode with `schema` applied and the automatic
/// checkpoint off (the background checkpointer does it).
fn open_writer(path: &Path, schema: &[(i32, &str, &str)]) -> Result<Connection> {
    let mut w = open_conn(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    let mode: String = w.query_row("PRAGMA journal_mode=WAL", [], |r| r.get(0))?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(StoreError::Conflict(format!(
            "could not switch {} to WAL (got {mode})",
            path.display()
        )));
    }
    // A migration may rebuild a table that others reference (schema 6), which SQLite allows
    // only with the foreign keys off (they cannot be switched inside the migration's
    // transaction); they are checked as a whole afterwards.
    w.pragma_update(None, "foreign_keys", "OFF")?;
    let migrated = migrate(&mut w, schema);
    let broken = migrated.as_ref().ok().map(|_| broken_foreign_keys(&w));
    w.pragma_update(None, "foreign_keys", "ON")?;
    migrated?;
    if let Some(broken) = broken {
        let broken = broken?;
        if broken > 0 {
            return Err(StoreError::Migration(format!(
                "{}: {broken} rows reference rows that do not exist after the migrations",
                path.display()
            )));
        }
    }
    w.pragma_update(None, "wal_autocheckpoint", 0)?;
    Ok(w)
}

/// Switches the enforcement of foreign keys on `c`, and makes sure it took: SQLite ignores
/// the pragma inside a transaction.
fn set_foreign_keys(c: &Connection, on: bool) -> Result<()> {
    c.pragma_update(None, "foreign_keys", on)?;
    let now: bool = c.query_row("PRAGMA foreign_keys", [], |r| r.get(0))?;
    if now != on {
        return Err(StoreError::Conflict(format!(
            "the foreign keys could not be switched {}",
            if on { "on" } else { "off" }
        )));
    }
    Ok(())
}

/// The rows of a file whose foreign key finds no row (`PRAGMA foreign_key_check`).
fn broken_foreign_keys(c: &Connection) -> Result<u64> {
    broken_foreign_keys_of(c, None)
}

/// As [`broken_foreign_keys`], of one table or of the whole file.
fn broken_foreign_keys_of(c: &Connection, table: Option<&str>) -> Result<u64> {
    Ok(c.query_row(
        "SELECT count(*) FROM pragma_foreign_key_check(?1)",
        [table],
        |r| r.get(0),
    )?)
}

/// Moves the [`MOVED_LOGS`] a registry file still holds (made before the history file's schema
/// 2, or just made by the registry's own migrations) into the history file: the rows copied
/// with their ids in one transaction of the history file, then the table dropped in one of the
/// registry file. Each step is atomic in its own file (WAL), and a crash between the two leaves
/// the rows in both, which the next open copies again (ids already there are skipped) and
/// drops; nothing is lost or doubled.
fn move_logs(registry: &Connection, history: &Path) -> Result<()> {
    let mut left = Vec::new();
    for t in MOVED_LOGS {
        let mut st = registry
            .prepare_cached("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?1")?;
        if st.exists([t])? {
            left.push(*t);
        }
    }
    if left.is_empty() {
        return Ok(());
    }
    let h = history.to_str().ok_or_else(|| {
        StoreError::Conflict(format!(
            "history file name {} is not UTF-8",
            history.display()
        ))
    })?;
    registry.execute("ATTACH DATABASE ?1 AS moved_logs", [h])?;
    // each transaction rolls back when dropped on an error; the file is detached either way
    let moved = (|| -> Result<()> {
        use rusqlite::{Transaction, TransactionBehavior::Immediate};
        let copy = Transaction::new_unchecked(registry, Immediate)?;
        for t in &left {
            copy.execute_batch(&format!(
                "INSERT OR IGNORE INTO moved_logs.{t} SELECT * FROM main.{t}"
            ))?;
        }
        copy.commit()?;
        let drop = Transaction::new_unchecked(registry, Immediate)?;
        for t in &left {
            drop.execute_batch(&format!("DROP TABLE main.{t}"))?;
        }
        drop.commit()?;
        Ok(())
    })();
    registry.execute_batch("DETACH DATABASE moved_logs")?;
    moved
}

/// Reader connections kept open per file. A reader beyond them is opened for one call and
/// closed: opening one parses the schema and maps the file, so the pool is sized for the
/// server's concurrency (64 connections of searches on blocking threads, each holding a reader
/// while it looks up), not for the cores.
const READER_POOL: usize = 64;

fn with_pooled<T>(
    pool: &Mutex<Vec<Connection>>,
    path: &Path,
    f: impl FnOnce(&Connection) -> Result<T>,
) -> Result<T> {
    let conn = pool.lock().map_err(|_| poisoned())?.pop();
    let conn = match conn {
        Some(c) => c,
        None => open_conn(
            path,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?,
    };
    let out = f(&conn);
    if let Ok(mut p) = pool.lock()
        && p.len() < READER_POOL
    {
        p.push(conn);
    }
    out
}

impl SqliteStore {
    /// Opens (creating if needed) the database file and applies the schema.
    pub fn open(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref().to_path_buf();
        if let Some(dir) = path.parent()
            && !dir.as_os_str().is_empty()
        {
            std::fs::create_dir_all(dir)?;
        }
        let w = open_writer(&path, migrations::REGISTRY)?;
        add_missing_columns(&w)?;
        let history_path = history_path(&path);
        let hw = open_writer(&history_path, migrations::HISTORY)?;
        move_logs(&w, &history_path)?;
        Ok(SqliteStore {
            checkpointers: [
                start_checkpointer(&path)?,
                start_checkpointer(&history_path)?,
            ],
            path,
            writer: Mutex::new(w),
            readers: Mutex::new(Vec::new()),
            history_path,
            history_writer: Mutex::new(hw),
            history_readers: Mutex::new(Vec::new()),
            initial_load_hold: crate::HOLD_PERSONS,
            index_sort_run_kib: INDEX_SORT_RUN_KIB,
        })
    }

    /// How many persons an initial load holds in memory until its end, at most (default
    /// [`crate::HOLD_PERSONS`], 16 M, ~5 GB): beyond it the persons held are written on the
    /// way, and a post number set on one of them later updates its row. A smaller machine sets
    /// it lower; the outcome of the load is the same.
    pub fn with_initial_load_hold(mut self, persons: usize) -> Self {
        self.initial_load_hold = persons.max(1);
        self
    }

    /// The most an initial load's index sorter holds in memory in one sorted run, in KiB
    /// (default [`INDEX_SORT_RUN_KIB`], 64 MiB; SQLite takes at least 10 pages): each full run
    /// is sorted and written by a helper thread while the load reads on. Smaller runs are
    /// more of them to merge; the indexes built are the same.
    pub fn with_index_sort_runs(mut self, kib: i64) -> Self {
        self.index_sort_run_kib = kib.max(1);
        self
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The schema version of the registry file.
    pub fn schema_version(&self) -> Result<i32> {
        self.with_reader(schema_version)
    }

    /// Warms the registry's map for `readers` new reader connections before they are used
    /// (see the module `sqlite_map`): each is opened, reads the schema (which maps the file),
    /// and the page tables of its map are filled in one call, reading from the disk what the
    /// OS cache lacks. The connections then go to the top of the pool, where the next reads
    /// take them. A reader opened later (more reads at once than were warmed) maps the file
    /// cold, as without this. Errors of the warming itself (a kernel without
    /// `MADV_POPULATE_READ`) are in the report; the store works the same without it.
    pub fn warm_map(&self, readers: usize) -> Result<MapWarming> {
        let started = std::time::Instant::now();
        let before = crate::sqlite_map::mappings_of(&self.path).unwrap_or_default();
        let mut conns = Vec::new();
        for _ in 0..readers.min(READER_POOL) {
            let c = open_conn(
                &self.path,
                OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
            )?;
            c.query_row("SELECT count(*) FROM sqlite_master", [], |_| Ok(()))?;
            conns.push(c);
        }
        let mut report = MapWarming::default();
        match crate::sqlite_map::mappings_of(&self.path) {
            Err(e) => report.failed = Some(format!("reading the process's maps: {e}")),
            Ok(now) => {
                for m in now.into_iter().filter(|m| !before.contains(m)) {
                    match crate::sqlite_map::populate(m) {
                        Ok(()) => {
                            report.maps += 1;
                            report.bytes += m.len as u64;
                        }
                        Err(e) => {
                            report.failed = Some(format!("madvise(MADV_POPULATE_READ): {e}"));
                            break;
                        }
                    }
                }
            }
        }
        let mut pool = self.readers.lock().map_err(|_| poisoned())?;
        for c in conns {
            if pool.len() >= READER_POOL {
                pool.remove(0);
            }
            pool.push(c);
        }
        report.secs = started.elapsed().as_secs_f64();
        Ok(report)
    }

    /// How many maps of the registry file this process holds (one per connection that read
    /// it through its map), for the record.
    pub fn registry_maps(&self) -> usize {
        crate::sqlite_map::mappings_of(&self.path)
            .map(|m| m.len())
            .unwrap_or(0)
    }

    pub(crate) fn with_reader<T>(&self, f: impl FnOnce(&Connection) -> Result<T>) -> Result<T> {
        with_pooled(&self.readers, &self.path, f)
    }

    pub(crate) fn with_history_reader<T>(
        &self,
        f: impl FnOnce(&Connection) -> Result<T>,
    ) -> Result<T> {
        with_pooled(&self.history_readers, &self.history_path, f)
    }

    /// The history file's writer connection (the confirmation history and the logs of
    /// `logs.sql`).
    pub(crate) fn with_history_writer<T>(
        &self,
        f: impl FnOnce(&mut Connection) -> Result<T>,
    ) -> Result<T> {
        let mut w = self.history_writer.lock().map_err(|_| poisoned())?;
        f(&mut w)
    }

    /// The history file beside the registry file.
    pub fn history_file(&self) -> &Path {
        &self.history_path
    }

    pub(crate) fn with_writer<T>(&self, f: impl FnOnce(&mut Connection) -> Result<T>) -> Result<T> {
        let mut w = self.writer.lock().map_err(|_| poisoned())?;
        f(&mut w)
    }
}

/// A `SELECT … WHERE` built from optional filters, with its bound values; the listings of the
/// history and of the outage tables share it.
pub(crate) struct Filtered {
    sql: String,
    args: Vec<rusqlite::types::Value>,
}

impl Filtered {
    /// `base` ends in a `WHERE` condition (e.g. `… WHERE facility = ?` with `first` bound, or
    /// `… WHERE 1 = 1`).
    pub(crate) fn new(base: &str, first: Option<rusqlite::types::Value>) -> Self {
        Filtered {
            sql: base.to_string(),
            args: first.into_iter().collect(),
        }
    }

    /// Adds `AND cond` (with one `?`) when `v` is present.
    pub(crate) fn and(&mut self, cond: &str, v: Option<impl Into<rusqlite::types::Value>>) {
        if let Some(v) = v {
            self.sql.push_str(" AND ");
            self.sql.push_str(cond);
            self.args.push(v.into());
        }
    }

    /// Runs it newest first (`ORDER BY id DESC`), at most `limit` rows, mapping each row.
    pub(crate) fn newest_first<T>(
        mut self,
        c: &Connection,
        limit: i64,
        mut row: impl FnMut(&Row<'_>) -> Result<T>,
    ) -> Result<Vec<T>> {
        self.sql.push_str(" ORDER BY id DESC LIMIT ?");
        self.args.push(limit.into());
        let mut st = c.prepare_cached(&self.sql)?;
        let mut rows = st.query(rusqlite::params_from_iter(self.args))?;
        let mut out = Vec::new();
        while let Some(r) = rows.next()? {
            out.push(row(r)?);
        }
        Ok(out)
    }
}

fn poisoned() -> StoreError {
    StoreError::Conflict("a previous writer panicked; restart the process".into())
}

const PERSON_COLS: &str = "id, name, name_kana, sex, birthdate, post_number, address";

fn person_from_row(r: &Row<'_>) -> Result<PersonRecord> {
    person_from_offset(r, 0)
}

/// A person from `PERSON_COLS` starting at column `o`.
fn person_from_offset(r: &Row<'_>, o: usize) -> Result<PersonRecord> {
    let sex: String = r.get(o + 3)?;
    let birth: String = r.get(o + 4)?;
    Ok(PersonRecord {
        id: r.get(o)?,
        person: Person {
            name: r.get(o + 1)?,
            name_kana: r.get(o + 2)?,
            sex: Sex::parse(&sex).map_err(|e| corrupt("person.sex", e))?,
            birthdate: date_col(&birth)?,
            post_number: r.get(o + 5)?,
            address: r.get(o + 6)?,
        },
    })
}

const QUAL_COLS: &str = "id, person_id, registered_name, insurer_number, insurer_name, \
    card_classification, symbol, number, branch, family_class, insured_name, employer, \
    qualification_date, disqualification_date, reason_of_loss, contribution_ratio, \
    elderly_ratio, elderly_valid_from, elderly_valid_to, limit_class, preschool, \
    card_issued_on, card_valid_from, card_valid_to, name_of_other, name_of_other_kana, sex2, \
    elderly_issued_on, limit_certificate, limit_issued_on, limit_valid_from, limit_valid_to, \
    limit_long_term_date, specific_diseases, registered_on";

/// The card, its holder and the holder's history in one statement (card and person columns
/// first, then `QUAL_COLS` from [`QUAL_OFFSET`], NULL when the person has none).
const CARD_WITH_HISTORY: &str = "SELECT c.serial, c.person_id, c.cert_expiry, c.status, \
    p.id, p.name, p.name_kana, p.sex, p.birthdate, p.post_number, p.address, \
    q.id, q.person_id, q.registered_name, q.insurer_number, q.insurer_name, \
    q.card_classification, q.symbol, q.number, q.branch, q.family_class, q.insured_name, \
    q.employer, q.qualification_date, q.disqualification_date, q.reason_of_loss, \
    q.contribution_ratio, q.elderly_ratio, q.elderly_valid_from, q.elderly_valid_to, \
    q.limit_class, q.preschool, q.card_issued_on, q.card_valid_from, q.card_valid_to, \
    q.name_of_other, q.name_of_other_kana, q.sex2, q.elderly_issued_on, q.limit_certificate, \
    q.limit_issued_on, q.limit_valid_from, q.limit_valid_to, q.limit_long_term_date, \
    q.specific_diseases, q.registered_on \
    FROM card c LEFT JOIN person p ON p.id = c.person_id \
    LEFT JOIN qualification q ON q.person_id = p.id \
    WHERE c.serial = ?1 ORDER BY q.qualification_date, q.id";
const QUAL_OFFSET: usize = 11;

/// The qualifications under an insurer and number key, each with its holder (person columns
/// first, then `QUAL_COLS` from [`HOLDER_QUAL_OFFSET`]), in qualification-date order.
const QUALS_WITH_HOLDERS_BY_NUMBER: &str = "SELECT \
    p.id, p.name, p.name_kana, p.sex, p.birthdate, p.post_number, p.address, \
    q.id, q.person_id, q.registered_name, q.insurer_number, q.insurer_name, \
    q.card_classification, q.symbol, q.number, q.branch, q.family_class, q.insured_name, \
    q.employer, q.qualification_date, q.disqualification_date, q.reason_of_loss, \
    q.contribution_ratio, q.elderly_ratio, q.elderly_valid_from, q.elderly_valid_to, \
    q.limit_class, q.preschool, q.card_issued_on, q.card_valid_from, q.card_valid_to, \
    q.name_of_other, q.name_of_other_kana, q.sex2, q.elderly_issued_on, q.limit_certificate, \
    q.limit_issued_on, q.limit_valid_from, q.limit_valid_to, q.limit_long_term_date, \
    q.specific_diseases, q.registered_on \
    FROM qualification q JOIN person p ON p.id = q.person_id \
    WHERE q.insurer_number = ?1 AND q.number_key = ?2 ORDER BY q.qualification_date, q.id";
const HOLDER_QUAL_OFFSET: usize = 7;

/// Reads of the registry inside one read transaction on one connection
/// ([`SqliteStore::read_snapshot`]): one consistent snapshot, and one WAL read lock for all of
/// them instead of one per statement.
pub struct RegistrySnapshot<'c> {
    c: &'c Connection,
}

impl RegistrySnapshot<'_> {
    /// The qualifications registered under `insurer` with this number key (width-folded),
    /// each with its holder, in qualification-date order: one statement.
    pub fn qualifications_with_holders_by_number(
        &self,
        insurer: &InsurerNumber,
        number_key: &str,
    ) -> Result<Vec<(PersonRecord, QualificationRecord)>> {
        let mut st = self.c.prepare_cached(QUALS_WITH_HOLDERS_BY_NUMBER)?;
        let mut rows = st.query(params![insurer.as_str(), number_key])?;
        let mut out = Vec::new();
        while let Some(r) = rows.next()? {
            out.push((
                person_from_offset(r, 0)?,
                qual_from_offset(r, HOLDER_QUAL_OFFSET)?,
            ));
        }
        Ok(out)
    }

    pub fn person(&self, id: PersonId) -> Result<Option<PersonRecord>> {
        person_by_id(self.c, id)
    }
}

impl SqliteStore {
    /// Runs `f` over one read transaction of the registry (see [`RegistrySnapshot`]): for
    /// many small reads together, such as the payer's review of a file's claims.
    pub fn read_snapshot<T>(
        &self,
        f: impl FnOnce(&RegistrySnapshot<'_>) -> Result<T>,
    ) -> Result<T> {
        self.with_reader(|c| {
            c.execute_batch("BEGIN")?;
            let out = f(&RegistrySnapshot { c });
            let end = c.execute_batch("COMMIT");
            if !c.is_autocommit() {
                // a read transaction holds nothing to keep: never hand the connection back in one
                c.execute_batch("ROLLBACK")?;
            }
            let out = out?;
            end?;
            Ok(out)
        })
    }
}

fn qual_from_row(r: &Row<'_>) -> Result<QualificationRecord> {
    qual_from_offset(r, 0)
}

/// A qualification from `QUAL_COLS` starting at column `o`.
fn qual_from_offset(r: &Row<'_>, o: usize) -> Result<QualificationRecord> {
    let s = |i: usize| -> Result<String> { Ok(r.get::<_, String>(o + i)?) };
    let os = |i: usize| -> Result<Option<String>> { Ok(r.get::<_, Option<String>>(o + i)?) };
    let elderly = match (r.get::<_, Option<u8>>(o + 16)?, os(17)?) {
        (Some(ratio), Some(from)) => Some(ElderlyInfo {
            ratio,
            valid_from: date_col(&from)?,
            valid_to: opt_date_col(os(18)?)?,
        }),
        _ => None,
    };
    let preschool = r.get::<_, i64>(o + 20)?;
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
        qualification_date: date_col(&s(12)?)?,
        disqualification_date: opt_date_col(os(13)?)?,
        reason_of_loss: os(14)?
            .map(|c| ReasonOfLoss::parse(&c))
            .transpose()
            .map_err(|e| corrupt("reason_of_loss", e))?,
        contribution_ratio: r.get(o + 15)?,
        elderly,
        limit_class: os(19)?
            .map(|c| LimitClass::parse(&c))
            .transpose()
            .map_err(|e| corrupt("limit_class", e))?,
        preschool: preschool == 1,
        card_dates: CardDates {
            issued_on: opt_date_col(os(21)?)?,
            valid_from: opt_date_col(os(22)?)?,
            valid_to: opt_date_col(os(23)?)?,
        },
        details: QualificationDetails {
            name_of_other: os(24)?,
            name_of_other_kana: os(25)?,
            sex2: os(26)?
                .map(|c| Sex::parse(&c))
                .transpose()
                .map_err(|e| corrupt("sex2", e))?,
            elderly_certificate_date: opt_date_col(os(27)?)?,
            limit_certificate: LimitCertificate {
                classification: os(28)?
                    .map(|c| LimitCertificateClassification::parse(&c))
                    .transpose()
                    .map_err(|e| corrupt("limit_certificate", e))?,
                issued_on: opt_date_col(os(29)?)?,
                valid_from: opt_date_col(os(30)?)?,
                valid_to: opt_date_col(os(31)?)?,
                long_term_date: opt_date_col(os(32)?)?,
            },
            specific_diseases: match os(33)? {
                Some(j) => serde_json::from_str(&j).map_err(|e| corrupt("specific_diseases", e))?,
                None => Vec::new(),
            },
            in_school: preschool == 2,
            registered_on: opt_date_col(os(34)?)?,
        },
    };
    Ok(QualificationRecord {
        id: r.get(o)?,
        person_id: r.get(o + 1)?,
        registered_name: s(2)?,
        qualification: q,
    })
}

fn card_from_row(r: &Row<'_>) -> Result<CardCert> {
    let status: String = r.get(3)?;
    let exp: String = r.get(2)?;
    Ok(CardCert {
        serial: r.get(0)?,
        person_id: r.get(1)?,
        cert_expiry: date_col(&exp)?,
        status: CertStatus::parse(&status).ok_or_else(|| corrupt("card.status", &status))?,
    })
}

fn query_quals(
    c: &Connection,
    where_sql: &str,
    p: impl rusqlite::Params,
) -> Result<Vec<QualificationRecord>> {
    let mut st = c.prepare_cached(&format!(
        "SELECT {QUAL_COLS} FROM qualification WHERE {where_sql} ORDER BY qualification_date, id"
    ))?;
    let mut rows = st.query(p)?;
    let mut out = Vec::new();
    while let Some(r) = rows.next()? {
        out.push(qual_from_row(r)?);
    }
    Ok(out)
}

fn person_by_id(c: &Connection, id: PersonId) -> Result<Option<PersonRecord>> {
    let mut st = c.prepare_cached(&format!("SELECT {PERSON_COLS} FROM person WHERE id = ?1"))?;
    let mut rows = st.query([id])?;
    match rows.next()? {
        Some(r) => Ok(Some(person_from_row(r)?)),
        None => Ok(None),
    }
}

impl RegistryRead for SqliteStore {
    fn card(&self, serial: &str) -> Result<Option<CardCert>> {
        self.with_reader(|c| {
            let mut st = c.prepare_cached(
                "SELECT serial, person_id, cert_expiry, status FROM card WHERE serial = ?1",
            )?;
            let mut rows = st.query([serial])?;
            match rows.next()? {
                Some(r) => Ok(Some(card_from_row(r)?)),
                None => Ok(None),
            }
        })
    }

    fn person(&self, id: PersonId) -> Result<Option<PersonRecord>> {
        self.with_reader(|c| person_by_id(c, id))
    }

    fn qualifications(&self, person: PersonId) -> Result<Vec<QualificationRecord>> {
        self.with_reader(|c| query_quals(c, "person_id = ?1", [person]))
    }

    fn person_with_history(
        &self,
        id: PersonId,
    ) -> Result<Option<(PersonRecord, Vec<QualificationRecord>)>> {
        self.with_reader(|c| {
            let Some(p) = person_by_id(c, id)? else {
                return Ok(None);
            };
            let h = query_quals(c, "person_id = ?1", [id])?;
            Ok(Some((p, h)))
        })
    }

    fn card_with_history(&self, serial: &str) -> Result<Option<CardWithHistory>> {
        self.with_reader(|c| {
            let mut st = c.prepare_cached(CARD_WITH_HISTORY)?;
            let mut rows = st.query([serial])?;
            let Some(first) = rows.next()? else {
                return Ok(None);
            };
            let card = card_from_row(first)?;
            if first.get::<_, Option<i64>>(4)?.is_none() {
                return Ok(Some((card, None)));
            }
            let person = person_from_offset(first, 4)?;
            let mut quals = Vec::new();
            let mut row = Some(first);
            while let Some(r) = row {
                if r.get::<_, Option<i64>>(QUAL_OFFSET)?.is_some() {
                    quals.push(qual_from_offset(r, QUAL_OFFSET)?);
                }
                row = rows.next()?;
            }
            Ok(Some((card, Some((person, quals)))))
        })
    }

    fn registered_after_issuance(
        &self,
        insurer: &InsurerNumber,
        as_of: NaiveDate,
    ) -> Result<Vec<QualificationRecord>> {
        self.with_reader(|c| {
            query_quals(
                c,
                "insurer_number = ?1 AND registered_on > card_issued_on \
                 AND card_issued_on <= ?2 \
                 AND (disqualification_date IS NULL OR disqualification_date > ?2)",
                params![insurer.as_str(), iso(as_of)],
            )
        })
    }

    fn qualifications_by_number(
        &self,
        insurer: &InsurerNumber,
        number_key: &str,
    ) -> Result<Vec<QualificationRecord>> {
        self.with_reader(|c| {
            query_quals(
                c,
                "insurer_number = ?1 AND number_key = ?2",
                params![insurer.as_str(), number_key],
            )
        })
    }

    fn counts(&self) -> Result<RegistryCounts> {
        self.with_reader(|c| {
            let n = |t: &str| -> Result<u64> {
                Ok(c.query_row(&format!("SELECT count(*) FROM {t}"), [], |r| {
                    r.get::<_, i64>(0)
                })? as u64)
            };
            Ok(RegistryCounts {
                persons: n("person")?,
                qualifications: n("qualification")?,
                cards: n("card")?,
                insurers: n("insurer")?,
                confirmations: self.with_history_reader(|h| {
                    Ok(h.query_row("SELECT count(*) FROM confirmation", [], |r| {
                        r.get::<_, i64>(0)
                    })? as u64)
                })?,
            })
        })
    }
}

impl HistoryStore for SqliteStore {
    fn append_confirmations_with_consents(
        &self,
        batch: &[ConfirmationEntry],
        consents: &[onshi_domain::medinfo::ConsentGrant],
    ) -> Result<Vec<i64>> {
        self.with_history_writer(|w| {
            let tx = w.transaction()?;
            let mut ids = Vec::with_capacity(batch.len());
            {
                let mut st = tx.prepare_cached(
                    "INSERT INTO confirmation (facility, processed_at, confirmation_date, \
                     reference_classification, identity_method, staff_id, card_serial, \
                     person_id, birthdate, kana_key, outcome, result) \
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
                )?;
                for e in batch {
                    st.execute(params![
                        e.facility,
                        e.processed_at,
                        iso(e.confirmation_date),
                        e.reference_classification.code(),
                        e.identity_method.map(|m| m.code()),
                        e.staff_id,
                        e.card_serial,
                        e.person_id,
                        e.birthdate.map(iso),
                        e.kana_key,
                        e.outcome,
                        e.result.get(),
                    ])?;
                    ids.push(tx.last_insert_rowid());
                }
            }
            // the history file holds the consents too (its schema 2): the same commit
            crate::medinfo::insert_consents(&tx, consents)?;
            tx.commit()?;
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
             result FROM confirmation WHERE facility = ?",
            Some(facility.to_string().into()),
        );
        q.and("confirmation_date >= ?", f.from.map(iso));
        q.and("confirmation_date <= ?", f.to.map(iso));
        q.and("birthdate = ?", f.birthdate.map(iso));
        q.and("kana_key = ?", f.kana_key.clone());
        q.and("card_serial = ?", f.card_serial.clone());
        q.and("outcome = ?", f.outcome.clone());
        q.and("id < ?", f.before_id);
        let limit = i64::from(f.limit.unwrap_or(100).min(1000));
        self.with_history_reader(|c| {
            q.newest_first(c, limit, |r| {
                let rc: String = r.get(4)?;
                let im: Option<String> = r.get(5)?;
                let cd: String = r.get(3)?;
                let bd: Option<String> = r.get(9)?;
                let res: String = r.get(12)?;
                Ok(ConfirmationEntry {
                    id: r.get(0)?,
                    facility: r.get(1)?,
                    processed_at: r.get(2)?,
                    confirmation_date: date_col(&cd)?,
                    reference_classification: ReferenceClassification::parse(&rc)
                        .map_err(|e| corrupt("reference_classification", e))?,
                    identity_method: im
                        .map(|m| IdentityMethod::parse(&m))
                        .transpose()
                        .map_err(|e| corrupt("identity_method", e))?,
                    staff_id: r.get(6)?,
                    card_serial: r.get(7)?,
                    person_id: r.get(8)?,
                    birthdate: opt_date_col(bd)?,
                    kana_key: r.get(10)?,
                    outcome: r.get(11)?,
                    result: serde_json::value::RawValue::from_string(res)
                        .map_err(|e| corrupt("result", e))?,
                })
            })
        })
    }
}

impl FacilityStore for SqliteStore {
    fn upsert_facility(&self, f: &Facility, token_hash: &str) -> Result<()> {
        self.with_writer(|w| {
            w.execute(
                "INSERT INTO facility (code, name, token_hash) VALUES (?1, ?2, ?3) \
                 ON CONFLICT(code) DO UPDATE SET name = excluded.name, token_hash = excluded.token_hash",
                params![f.code.as_str(), f.name, token_hash],
            )?;
            Ok(())
        })
    }

    fn revoke_facility_token(&self, code: &MedicalInstitutionCode) -> Result<bool> {
        self.revoke_token(code)
    }

    fn facility_by_token_hash(&self, token_hash: &str) -> Result<Option<Facility>> {
        self.with_reader(|c| {
            let mut st =
                c.prepare_cached("SELECT code, name FROM facility WHERE token_hash = ?1")?;
            let row: Option<(String, String)> = st
                .query_row([token_hash], |r| Ok((r.get(0)?, r.get(1)?)))
                .optional()?;
            row.map(|(code, name)| {
                Ok(Facility {
                    code: MedicalInstitutionCode::parse(&code)
                        .map_err(|e| corrupt("facility.code", e))?,
                    name,
                })
            })
            .transpose()
        })
    }
}

impl SqliteStore {
    fn revoke_token(&self, code: &MedicalInstitutionCode) -> Result<bool> {
        self.with_writer(|w| {
            // not a hex digest, so no token's hash ever equals it
            let n = w.execute(
                "UPDATE facility SET token_hash = 'revoked:' || code WHERE code = ?1",
                [code.as_str()],
            )?;
            Ok(n > 0)
        })
    }
}

/// One import transaction on the writer connection.
struct SqliteImport<'a> {
    guard: std::sync::MutexGuard<'a, Connection>,
    store: &'a SqliteStore,
    done: bool,
    /// the registry file left WAL mode for this initial load (see [`SqliteImport::leave_wal`])
    off_wal: bool,
    /// an initial load: the [`DEFERRED_INDEXES`] were dropped and are built at commit
    initial_load: bool,
    /// the foreign keys are not enforced row by row in this initial load, but checked as a
    /// whole before its commit (see [`SqliteImport::leave_wal`])
    keys_checked_at_commit: bool,
    /// [`ImportTx::prepare_commit`] was done, with the connection's count of changed rows
    /// then: the commit refuses a row written after it (it was not checked)
    prepared: Option<u64>,
    /// the cards of an initial load not written yet (see [`PendingCard`])
    pending_cards: Vec<PendingCard>,
    /// the persons of an initial load not written yet (see [`HeldPersons`])
    held: HeldPersons,
}

/// The persons of an initial load, held in memory and written at its end, in id order, when
/// its commit is prepared (or on the way, all those held, when [`HeldPersons::hold`] are
/// held). A card holder's post number comes with their qualification rows, after the cards
/// file: held, the person gets it in place and its row is written once, instead of inserted
/// and then updated (the `UPDATE` of a page written long before: ~5 % of a 1 M load). The
/// load's foreign keys are checked at commit ([`SqliteImport::leave_wal`]), after the
/// persons are written, so its qualifications and cards may be written before their persons.
/// The ids are handed out here, in order from the registry's next id, as SQLite would.
struct HeldPersons {
    /// persons held at most
    hold: usize,
    /// id of `rows[0]`; `None` while the import holds none (not an initial load)
    first: Option<PersonId>,
    /// each person with its My Number's keyed hash
    rows: Vec<(String, Person)>,
}

impl HeldPersons {
    fn index(&self, id: PersonId) -> Option<usize> {
        let i = usize::try_from(id.checked_sub(self.first?)?).ok()?;
        (i < self.rows.len()).then_some(i)
    }

    /// The id the next person held gets.
    fn next_id(&self) -> Option<PersonId> {
        Some(self.first? + self.rows.len() as PersonId)
    }

    fn get(&self, id: PersonId) -> Option<&Person> {
        self.index(id).map(|i| &self.rows[i].1)
    }

    fn get_mut(&mut self, id: PersonId) -> Option<&mut Person> {
        self.index(id).map(|i| &mut self.rows[i].1)
    }
}

/// A card of an initial load (with its public key), held until the load's end and then
/// written with the others in serial order. The file gives the cards in random serial
/// order, and inserting random keys into the `card` and `card_key` B-trees costs a page
/// search and often a page split per row once the trees outgrow the cache; sorted, both
/// are filled from left to right. Fixed-size (no allocation per card): a serial longer than
/// [`PendingCard::SERIAL_MAX`] bytes or a key that is not 64 lowercase hex digits is written
/// at once instead.
#[derive(Clone, Copy)]
struct PendingCard {
    serial: [u8; PendingCard::SERIAL_MAX],
    serial_len: u8,
    status: CertStatus,
    cert_expiry: NaiveDate,
    person_id: PersonId,
    public_key: [u8; 32],
}

impl PendingCard {
    /// The card file's serials are at most 32 ASCII letters or digits.
    const SERIAL_MAX: usize = 32;

    fn of(c: &CardCert, public_key: &str) -> Option<Self> {
        let s = c.serial.as_bytes();
        if s.len() > Self::SERIAL_MAX {
            return None;
        }
        let mut serial = [0u8; Self::SERIAL_MAX];
        serial[..s.len()].copy_from_slice(s);
        Some(PendingCard {
            serial,
            serial_len: s.len() as u8,
            status: c.status,
            cert_expiry: c.cert_expiry,
            person_id: c.person_id,
            public_key: hex32(public_key)?,
        })
    }

    /// The serial's bytes: sorted as bytes, serials sort as text (and as SQLite's `BINARY`
    /// collation sorts them), without checking UTF-8 at each comparison.
    fn serial_bytes(&self) -> &[u8] {
        &self.serial[..usize::from(self.serial_len)]
    }

    fn serial(&self) -> &str {
        // built from a `&str`, cut at its end
        std::str::from_utf8(self.serial_bytes()).unwrap_or_default()
    }
}

/// 64 lowercase hex digits as 32 bytes (`None` for anything else, so that writing the bytes
/// back as lowercase hex gives the same text).
fn hex32(s: &str) -> Option<[u8; 32]> {
    let b = s.as_bytes();
    if b.len() != 64 {
        return None;
    }
    let nibble = |c: u8| match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        _ => None,
    };
    let mut out = [0u8; 32];
    for (o, pair) in out.iter_mut().zip(b.chunks_exact(2)) {
        *o = (nibble(pair[0])? << 4) | nibble(pair[1])?;
    }
    Some(out)
}

fn hex_lower(b: &[u8; 32], out: &mut String) {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    out.clear();
    for &x in b {
        out.push(char::from(DIGITS[usize::from(x >> 4)]));
        out.push(char::from(DIGITS[usize::from(x & 15)]));
    }
}

/// The secondary indexes of the person and qualification tables, `(name, kind, definition)`:
/// dropped at the start of an initial load (inserting 10 million random keys into a B-tree
/// costs far more than sorting them once) and built again, inside the same transaction, before
/// its commit. The definitions are those of `person_hash_index.sql` (schema 6), `schema.sql` and
/// `outage.sql`.
const DEFERRED_INDEXES: &[(&str, &str, &str)] = &[
    (HASH_INDEX, "UNIQUE INDEX", "person (my_number_hash)"),
    (
        "person_by_kana_birth",
        "INDEX",
        "person (kana_key, birthdate)",
    ),
    (
        "outage_person_by_name_birth",
        "INDEX",
        "person (name_key, birthdate)",
    ),
    (
        "qualification_by_number",
        "INDEX",
        "qualification (insurer_number, number_key)",
    ),
];

/// The index that keeps each My Number's keyed hash to one person (schema 6); an initial load
/// builds it at commit.
const HASH_INDEX: &str = "person_by_my_number";

/// The insert of a qualification row, its 35 values in the table's order.
macro_rules! qualification_insert {
    () => {
        "INSERT INTO qualification (person_id, registered_name, insurer_number, \
                 insurer_name, card_classification, symbol, number, number_key, branch, \
                 family_class, insured_name, employer, qualification_date, disqualification_date, \
                 reason_of_loss, contribution_ratio, elderly_ratio, elderly_valid_from, \
                 elderly_valid_to, limit_class, preschool, card_issued_on, card_valid_from, \
                 card_valid_to, name_of_other, name_of_other_kana, sex2, elderly_issued_on, \
                 limit_certificate, limit_issued_on, limit_valid_from, limit_valid_to, \
                 limit_long_term_date, specific_diseases, registered_on) VALUES (?1, ?2, ?3, ?4, \
                 ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20, ?21, \
                 ?22, ?23, ?24, ?25, ?26, ?27, ?28, ?29, ?30, ?31, ?32, ?33, ?34, ?35)"
    };
}

impl SqliteImport<'_> {
    fn c(&self) -> &Connection {
        &self.guard
    }

    /// Writes this initial load through a rollback journal instead of the WAL, when the file
    /// can be had alone (no other connection of this or another process has it open; else
    /// the load stays in WAL mode). An initial load outgrows any page cache: in WAL mode the
    /// spilled pages go to the WAL, and each page read that misses the cache then probes
    /// the WAL index's hash tables, one per 4,096 frames (at 10 M persons the largest cost of
    /// the load), and the checkpoint copies every page a second time. With a rollback
    /// journal the new pages are written once, into the file (pages past the file's end at
    /// the start need no journal), and read back from it; a crash or a power cut before the
    /// commit leaves a hot journal that the next open rolls back (the journal is synced
    /// before any page of the file is overwritten), so the load is still all or nothing, and
    /// `synchronous=EXTRA` for the load makes its commit durable once it returns. Called
    /// before anything is written: the empty `BEGIN IMMEDIATE` is ended for the switch
    /// (which a transaction may not do) and begun again.
    ///
    /// Between the two the foreign keys are switched off for the load (which a transaction may
    /// not do either): enforced, every qualification and card row inserted looks its person
    /// up (about 4 % of a 10 M load's time). They are checked as a whole instead, once, when
    /// the commit is prepared ([`ImportTx::prepare_commit`]): a row whose person does not
    /// exist fails the load, as its insert would have. The registry is empty at the load's
    /// start, so the check sees only the load's rows.
    fn leave_wal(&mut self) -> Result<()> {
        self.guard.execute_batch("COMMIT")?;
        set_foreign_keys(&self.guard, false)?;
        self.keys_checked_at_commit = true;
        // the process's other connections to the file: the pooled readers and the checkpointer
        if let Ok(mut r) = self.store.readers.lock() {
            r.clear();
        }
        self.store.checkpointers[0].pause();
        let switched = self.switch_to_rollback_journal();
        if !self.off_wal {
            // stayed in WAL mode (or failed on the way): the checkpointer goes on
            self.store.checkpointers[0].resume()?;
        }
        switched?;
        self.guard.execute_batch("BEGIN IMMEDIATE")?;
        Ok(())
    }

    /// The switch of [`SqliteImport::leave_wal`]; sets `off_wal` when the file left WAL.
    fn switch_to_rollback_journal(&mut self) -> Result<()> {
        // another connection open on the file refuses the switch at once; waiting would not
        // close it
        self.guard.busy_timeout(std::time::Duration::ZERO)?;
        let mode = self
            .guard
            .query_row("PRAGMA journal_mode=DELETE", [], |r| r.get::<_, String>(0));
        self.guard.busy_timeout(BUSY_TIMEOUT)?;
        self.off_wal = matches!(&mode, Ok(m) if m.eq_ignore_ascii_case("delete"));
        if !self.off_wal {
            tracing::info!(
                "the registry file is open elsewhere: the initial load stays in WAL mode"
            );
            return Ok(());
        }
        // FULL syncs the journal and the file, but not the folder after the journal is
        // deleted at commit: a power cut right after could bring the journal back and roll a
        // reported commit back. EXTRA syncs the folder too.
        self.guard.pragma_update(None, "synchronous", "EXTRA")?;
        Ok(())
    }

    /// Puts the file back in WAL mode after the load's commit or rollback, and the
    /// checkpointer back on it.
    fn back_to_wal(&mut self) -> Result<()> {
        if !self.off_wal {
            return Ok(());
        }
        let mode: String = self
            .guard
            .query_row("PRAGMA journal_mode=WAL", [], |r| r.get(0))?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(StoreError::Conflict(format!(
                "could not switch the registry file back to WAL (got {mode})"
            )));
        }
        self.off_wal = false;
        self.guard.pragma_update(None, "synchronous", "FULL")?;
        self.store.checkpointers[0].resume()
    }

    /// The rows whose person does not exist, for the foreign keys an initial load did not
    /// enforce (see [`SqliteImport::leave_wal`]): 0 when every reference holds, else the
    /// broken rows of the tables checked row by row.
    ///
    /// `PRAGMA foreign_key_check` looks each row's person up: at 10 M persons 27 s, once the
    /// pages have left the cache. A load gives its persons the ids that follow each other
    /// (the table was empty), so when the ids are such a range, a table whose least and
    /// greatest person are in it has only persons that exist; the least and the greatest are
    /// read from an index that begins with the column when there is one (the qualifications'
    /// unique key), else by one scan. A table out of the range (or referencing another column
    /// of the person), or ids with a gap, are checked row by row by the pragma.
    fn broken_references(&self) -> Result<u64> {
        let c = self.c();
        // (uses the smallest index of the table: they are built by now)
        let (lo, hi, n): (Option<i64>, Option<i64>, i64) = c.query_row(
            "SELECT (SELECT min(id) FROM person), (SELECT max(id) FROM person), \
             (SELECT count(*) FROM person)",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )?;
        let range = match (lo, hi) {
            (Some(lo), Some(hi)) if hi - lo + 1 == n => Some(lo..=hi),
            // no person: no row may reference one
            (None, None) => None,
            _ => return broken_foreign_keys(c),
        };
        let mut st = c.prepare(
            "SELECT m.name, f.\"from\", coalesce(f.\"to\", 'id') = 'id' \
             FROM sqlite_master m, pragma_foreign_key_list(m.name) f \
             WHERE m.type = 'table' AND f.\"table\" = 'person' ORDER BY m.name",
        )?;
        let children = st
            .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get(1)?, r.get(2)?)))?
            .collect::<rusqlite::Result<Vec<(String, String, bool)>>>()?;
        let mut broken = 0;
        for (table, column, to_id) in children {
            use rusqlite::types::Value;
            let bounds: (Value, Value) = c.query_row(
                &format!(
                    "SELECT (SELECT min(\"{column}\") FROM \"{table}\"), \
                     (SELECT max(\"{column}\") FROM \"{table}\")"
                ),
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )?;
            // a text or blob sorts after every number, so it would be the greatest; the load
            // binds integer ids, so no fraction can sit between two of them
            let inside = match bounds {
                _ if !to_id => false,
                (Value::Null, Value::Null) => true,
                (Value::Integer(a), Value::Integer(b)) => range
                    .as_ref()
                    .is_some_and(|r| r.contains(&a) && r.contains(&b)),
                _ => false,
            };
            if !inside {
                broken += broken_foreign_keys_of(c, Some(&table))?;
            }
        }
        Ok(broken)
    }

    /// Refuses a lookup or an upsert by My Number during an initial load: the [`HASH_INDEX`]
    /// is built at its commit (the caller knows the persons it inserted and reads them back by
    /// id), as on PostgreSQL.
    fn not_by_hash_in_load(&self, what: &str) -> Result<()> {
        if self.initial_load {
            return Err(StoreError::Conflict(format!(
                "{what} is not available during an initial load"
            )));
        }
        Ok(())
    }

    /// Inserts a person row with its id, or (`None`) the id SQLite gives it next; returns it.
    fn insert_person_row(&self, id: Option<PersonId>, hash: &str, p: &Person) -> Result<PersonId> {
        let cols = PersonCols::of(p);
        let [hash, v @ ..] = cols.after(&hash);
        self.c()
            .prepare_cached(
                "INSERT INTO person (id, my_number_hash, name, name_kana, name_key, kana_key, \
                 sex, birthdate, post_number, address) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
            )?
            .execute([&id, hash, v[0], v[1], v[2], v[3], v[4], v[5], v[6], v[7]])?;
        Ok(self.c().last_insert_rowid())
    }

    /// Builds the indexes an initial load dropped, the sorter's runs bounded by
    /// [`SqliteStore::with_index_sort_runs`] and sorted by a helper thread per core (at most
    /// 4); the import's page cache and no helpers after.
    fn build_deferred_indexes(&mut self) -> Result<()> {
        let c = self.c();
        let helpers = std::thread::available_parallelism().map_or(1, |n| n.get().clamp(1, 4));
        c.pragma_update(None, "threads", helpers as i64)?;
        c.pragma_update(None, "cache_size", -self.store.index_sort_run_kib)?;
        let built = DEFERRED_INDEXES.iter().try_for_each(|(name, kind, on)| {
            c.execute_batch(&format!("CREATE {kind} IF NOT EXISTS {name} ON {on}"))
        });
        let set_back = c
            .pragma_update(None, "threads", 0)
            .and_then(|()| c.pragma_update(None, "cache_size", IMPORT_CACHE_KIB));
        // a failed build is the error to report, not what setting back met after it
        built?;
        Ok(set_back?)
    }

    /// Writes the persons held ([`HeldPersons`]) with their ids, in id order.
    fn write_held_persons(&mut self) -> Result<()> {
        let Some(first) = self.held.first.filter(|_| !self.held.rows.is_empty()) else {
            return Ok(());
        };
        let rows = std::mem::take(&mut self.held.rows);
        for (id, (hash, p)) in (first..).zip(&rows) {
            self.insert_person_row(Some(id), hash, p)?;
        }
        self.held.first = Some(first + rows.len() as PersonId);
        Ok(())
    }

    /// Writes the [`PendingCard`]s, sorted by serial: the `card` rows, then the `card_key`
    /// rows. Done at the first qualification (an import gives its cards first, and their
    /// memory is given back before the qualifications come), at commit, and before anything
    /// reads or writes a card, so that the transaction sees every card it was given. A serial
    /// given twice fails here (the primary key), as its second insert would have.
    fn write_pending_cards(&mut self) -> Result<()> {
        if self.pending_cards.is_empty() {
            return Ok(());
        }
        let mut cards = std::mem::take(&mut self.pending_cards);
        cards.sort_unstable_by(|a, b| a.serial_bytes().cmp(b.serial_bytes()));
        {
            let mut st = self.c().prepare_cached(
                "INSERT INTO card (serial, person_id, cert_expiry, status) VALUES (?1, ?2, ?3, ?4)",
            )?;
            for c in &cards {
                st.execute(params![
                    c.serial(),
                    c.person_id,
                    iso_sql(c.cert_expiry),
                    c.status.code()
                ])?;
            }
        }
        let mut st = self.c().prepare_cached(
            "INSERT INTO card_key (serial, public_key) VALUES (?1, ?2) \
             ON CONFLICT(serial) DO UPDATE SET public_key = excluded.public_key \
             WHERE public_key <> excluded.public_key",
        )?;
        let mut key = String::with_capacity(64);
        for c in &cards {
            hex_lower(&c.public_key, &mut key);
            st.execute(params![c.serial(), key])?;
        }
        Ok(())
    }

    /// Writes a qualification; with `check_existing` it first reads the row with the same key
    /// to report unchanged / updated (an upsert), without it it just inserts (a person new to
    /// the registry in this import has no rows yet).
    fn write_qualification(
        &mut self,
        person: PersonId,
        registered_name: &str,
        q: &Qualification,
        check_existing: bool,
    ) -> Result<UpsertOutcome> {
        // the load has moved on from its cards: write them now (the memory they take is
        // given back before the qualifications add theirs)
        self.write_pending_cards()?;
        let existing: Option<QualificationRecord> = if !check_existing {
            None
        } else {
            query_quals(
                self.c(),
                "person_id = ?1 AND insurer_number = ?2 AND qualification_date = ?3",
                params![person, q.insurer_number.as_str(), iso(q.qualification_date)],
            )?
            .into_iter()
            .next()
        };
        if let Some(e) = &existing
            && e.qualification == *q
            && e.registered_name == registered_name
        {
            return Ok(UpsertOutcome::Unchanged);
        }
        let d = &q.details;
        let lc = &d.limit_certificate;
        let diseases = if d.specific_diseases.is_empty() {
            None
        } else {
            Some(
                serde_json::to_string(&d.specific_diseases)
                    .map_err(|e| corrupt("specific_diseases", e))?,
            )
        };
        let vals = params![
            person,
            registered_name,
            q.insurer_number.as_str(),
            q.insurer_name,
            q.card_classification.code(),
            q.symbol.as_str(),
            q.number.as_str(),
            q.number.key(),
            q.branch.as_str(),
            q.family_class.code(),
            q.insured_name,
            q.employer,
            iso_sql(q.qualification_date),
            q.disqualification_date.map(iso_sql),
            q.reason_of_loss.map(|r| r.code()),
            q.contribution_ratio,
            q.elderly.as_ref().map(|e| e.ratio),
            q.elderly.as_ref().map(|e| iso_sql(e.valid_from)),
            q.elderly.as_ref().and_then(|e| e.valid_to.map(iso_sql)),
            q.limit_class.map(|l| l.code()),
            if q.preschool {
                1
            } else if d.in_school {
                2
            } else {
                0
            },
            q.card_dates.issued_on.map(iso_sql),
            q.card_dates.valid_from.map(iso_sql),
            q.card_dates.valid_to.map(iso_sql),
            d.name_of_other,
            d.name_of_other_kana,
            d.sex2.map(|x| x.code()),
            d.elderly_certificate_date.map(iso_sql),
            lc.classification.map(|c| c.code()),
            lc.issued_on.map(iso_sql),
            lc.valid_from.map(iso_sql),
            lc.valid_to.map(iso_sql),
            lc.long_term_date.map(iso_sql),
            diseases,
            d.registered_on.map(iso_sql),
        ];
        // a row of a person new to the registry is only inserted: a key met twice is an error
        // (the import checks for that before), and the statement is shorter to look up
        let sql = if check_existing {
            concat!(
                qualification_insert!(),
                " ON CONFLICT(person_id, insurer_number, qualification_date) DO UPDATE SET \
                 registered_name = excluded.registered_name, insurer_name = excluded.insurer_name, \
                 card_classification = excluded.card_classification, symbol = excluded.symbol, \
                 number = excluded.number, number_key = excluded.number_key, \
                 branch = excluded.branch, family_class = excluded.family_class, \
                 insured_name = excluded.insured_name, employer = excluded.employer, \
                 disqualification_date = excluded.disqualification_date, \
                 reason_of_loss = excluded.reason_of_loss, \
                 contribution_ratio = excluded.contribution_ratio, \
                 elderly_ratio = excluded.elderly_ratio, \
                 elderly_valid_from = excluded.elderly_valid_from, \
                 elderly_valid_to = excluded.elderly_valid_to, \
                 limit_class = excluded.limit_class, preschool = excluded.preschool, \
                 card_issued_on = excluded.card_issued_on, \
                 card_valid_from = excluded.card_valid_from, card_valid_to = excluded.card_valid_to, \
                 name_of_other = excluded.name_of_other, \
                 name_of_other_kana = excluded.name_of_other_kana, sex2 = excluded.sex2, \
                 elderly_issued_on = excluded.elderly_issued_on, \
                 limit_certificate = excluded.limit_certificate, \
                 limit_issued_on = excluded.limit_issued_on, \
                 limit_valid_from = excluded.limit_valid_from, \
                 limit_valid_to = excluded.limit_valid_to, \
                 limit_long_term_date = excluded.limit_long_term_date, \
                 specific_diseases = excluded.specific_diseases, \
                 registered_on = excluded.registered_on"
            )
        } else {
            qualification_insert!()
        };
        self.c().prepare_cached(sql)?.execute(vals)?;
        Ok(if existing.is_some() {
            UpsertOutcome::Updated
        } else {
            UpsertOutcome::Inserted
        })
    }
}

impl Drop for SqliteImport<'_> {
    fn drop(&mut self) {
        if !self.done {
            let _ = self.guard.execute_batch("ROLLBACK");
        }
        if let Err(e) = self.back_to_wal() {
            tracing::warn!(error = %e, "the registry file stays off WAL until it is opened again");
        }
        if self.keys_checked_at_commit
            && let Err(e) = set_foreign_keys(&self.guard, true)
        {
            tracing::error!(error = %e, "the registry writer's foreign keys stay off");
        }
        let _ = self
            .guard
            .pragma_update(None, "cache_size", NORMAL_CACHE_KIB);
    }
}

/// The most an initial load's index sorter holds in one sorted run while it builds the
/// [`DEFERRED_INDEXES`], in KiB. SQLite's sorter takes the connection's page cache size as
/// that bound (at most 512 MiB) and hands a run to a helper thread (`PRAGMA threads`) only
/// once it is full: with the import's cache of 2 GiB a 10 M-row index fills one run or two
/// and the helpers have nothing to do. With runs of 64 MiB the helpers sort and write each
/// run while the importing thread reads on, and merge them. The page cache is that small
/// while the indexes are built: an index's pages are written in key order, and the load's
/// dirty pages it pushes out are written then instead of at the commit.
pub const INDEX_SORT_RUN_KIB: i64 = 65_536;

/// Page cache of a connection in normal use, and of the writer during an import (whose
/// random-key index inserts want as many pages in memory as possible), in KiB (negative =
/// KiB for SQLite).
const NORMAL_CACHE_KIB: i64 = -8192;
const IMPORT_CACHE_KIB: i64 = -2_097_152;

impl ImportStore for SqliteStore {
    fn registry_indexes(&self) -> Result<Vec<String>> {
        self.with_reader(|c| {
            let mut st = c.prepare(
                "SELECT name FROM sqlite_master WHERE type = 'index' \
                 AND tbl_name IN ('person', 'qualification', 'card', 'card_key') ORDER BY name",
            )?;
            let names = st.query_map([], |r| r.get(0))?;
            Ok(names.collect::<rusqlite::Result<Vec<String>>>()?)
        })
    }

    fn begin_import(&self) -> Result<Box<dyn ImportTx + '_>> {
        let guard = self.writer.lock().map_err(|_| poisoned())?;
        guard.pragma_update(None, "cache_size", IMPORT_CACHE_KIB)?;
        guard.execute_batch("BEGIN IMMEDIATE")?;
        Ok(Box::new(SqliteImport {
            guard,
            store: self,
            done: false,
            off_wal: false,
            initial_load: false,
            keys_checked_at_commit: false,
            prepared: None,
            pending_cards: Vec::new(),
            held: HeldPersons {
                hold: self.initial_load_hold,
                first: None,
                rows: Vec::new(),
            },
        }))
    }
}

/// The columns of a person the row does not hold as they are: the name and kana keys, the
/// birth date's text.
/// A person's column values in the person table's order (`name` … `address`, with the
/// search keys), after a first value (its My Number hash, or its id): one list for the
/// inserts and the update.
struct PersonCols<'a> {
    p: &'a Person,
    name_key: String,
    kana_key: String,
    sex: &'static str,
    birthdate: IsoDate,
}

impl<'a> PersonCols<'a> {
    fn of(p: &'a Person) -> Self {
        PersonCols {
            p,
            name_key: kana::name_key(&p.name),
            kana_key: kana::kana_key(&p.name_kana),
            sex: p.sex.code(),
            birthdate: iso_sql(p.birthdate),
        }
    }

    fn after<'s>(&'s self, first: &'s dyn rusqlite::ToSql) -> [&'s dyn rusqlite::ToSql; 9] {
        [
            first,
            &self.p.name,
            &self.p.name_kana,
            &self.name_key,
            &self.kana_key,
            &self.sex,
            &self.birthdate,
            &self.p.post_number,
            &self.p.address,
        ]
    }
}

impl ImportTx for SqliteImport<'_> {
    fn registry_is_empty(&mut self) -> Result<bool> {
        Ok(self
            .c()
            .query_row("SELECT NOT EXISTS (SELECT 1 FROM person)", [], |r| r.get(0))?)
    }

    fn start_initial_load(&mut self) -> Result<()> {
        let require_empty = |tx: &mut Self| -> Result<()> {
            if !tx.registry_is_empty()? {
                return Err(StoreError::Conflict(
                    "an initial load needs an empty registry".into(),
                ));
            }
            Ok(())
        };
        require_empty(self)?;
        self.leave_wal()?;
        // again: another process may have written while the file changed its journal
        require_empty(self)?;
        for (name, _, _) in DEFERRED_INDEXES {
            self.c()
                .execute_batch(&format!("DROP INDEX IF EXISTS {name}"))?;
        }
        self.initial_load = true;
        // the foreign keys are checked at commit: the persons may wait for the other rows
        if self.keys_checked_at_commit {
            let next: PersonId =
                self.c()
                    .query_row("SELECT coalesce(max(id), 0) + 1 FROM person", [], |r| {
                        r.get(0)
                    })?;
            self.held.first = Some(next);
        }
        Ok(())
    }

    fn insert_new_person(&mut self, h: &MyNumberHash, p: &Person) -> Result<PersonId> {
        if self.held.first.is_some() {
            if self.held.rows.len() >= self.held.hold {
                self.write_held_persons()?;
            }
            if let Some(id) = self.held.next_id() {
                self.held.rows.push((h.as_str().to_owned(), p.clone()));
                return Ok(id);
            }
        }
        self.insert_person_row(None, h.as_str(), p)
    }

    fn person_by_hash(&mut self, h: &MyNumberHash) -> Result<Option<PersonRecord>> {
        self.not_by_hash_in_load("a person by My Number")?;
        let mut st = self.c().prepare_cached(&format!(
            "SELECT {PERSON_COLS} FROM person WHERE my_number_hash = ?1"
        ))?;
        let mut rows = st.query([h.as_str()])?;
        match rows.next()? {
            Some(r) => Ok(Some(person_from_row(r)?)),
            None => Ok(None),
        }
    }

    fn person_by_id(&mut self, id: PersonId) -> Result<Option<PersonRecord>> {
        if let Some(p) = self.held.get(id) {
            return Ok(Some(PersonRecord {
                id,
                person: p.clone(),
            }));
        }
        let mut st = self
            .c()
            .prepare_cached(&format!("SELECT {PERSON_COLS} FROM person WHERE id = ?1"))?;
        let mut rows = st.query([id])?;
        match rows.next()? {
            Some(r) => Ok(Some(person_from_row(r)?)),
            None => Ok(None),
        }
    }

    fn insert_person(&mut self, h: &MyNumberHash, p: &Person) -> Result<PersonId> {
        self.not_by_hash_in_load("an upsert of a person")?;
        let hash = h.as_str();
        let mut st = self.c().prepare_cached(
            "INSERT INTO person (my_number_hash, name, name_kana, name_key, kana_key, sex, \
             birthdate, post_number, address) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9) \
             ON CONFLICT(my_number_hash) DO UPDATE SET my_number_hash = excluded.my_number_hash \
             RETURNING id",
        )?;
        Ok(st.query_row(PersonCols::of(p).after(&hash), |r| r.get(0))?)
    }

    fn update_person(&mut self, id: PersonId, p: &Person) -> Result<()> {
        if let Some(held) = self.held.get_mut(id) {
            held.clone_from(p);
            return Ok(());
        }
        self.c().prepare_cached(
            "UPDATE person SET name = ?2, name_kana = ?3, name_key = ?4, kana_key = ?5, sex = ?6, \
             birthdate = ?7, post_number = ?8, address = ?9 WHERE id = ?1",
        )?
        .execute(PersonCols::of(p).after(&id))?;
        Ok(())
    }

    fn update_post_number(&mut self, id: PersonId, post_number: &str) -> Result<()> {
        if let Some(held) = self.held.get_mut(id) {
            held.post_number = Some(post_number.to_owned());
            return Ok(());
        }
        self.c()
            .prepare_cached("UPDATE person SET post_number = ?2 WHERE id = ?1")?
            .execute(params![id, post_number])?;
        Ok(())
    }

    fn upsert_insurer(&mut self, number: &InsurerNumber, name: &str) -> Result<()> {
        self.c()
            .prepare_cached(
                "INSERT INTO insurer (insurer_number, name, kind) VALUES (?1, ?2, ?3) \
                 ON CONFLICT(insurer_number) DO UPDATE SET name = excluded.name \
                 WHERE insurer.name <> excluded.name",
            )?
            .execute(params![
                number.as_str(),
                name,
                serde_json::to_value(number.kind())
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_string))
                    .unwrap_or_default()
            ])?;
        Ok(())
    }

    fn upsert_qualification(
        &mut self,
        person: PersonId,
        registered_name: &str,
        q: &Qualification,
    ) -> Result<UpsertOutcome> {
        self.write_qualification(person, registered_name, q, true)
    }

    fn insert_new_qualification(
        &mut self,
        person: PersonId,
        registered_name: &str,
        q: &Qualification,
    ) -> Result<()> {
        self.write_qualification(person, registered_name, q, false)
            .map(|_| ())
    }

    fn qualifications_of(
        &mut self,
        person: PersonId,
        insurer: &InsurerNumber,
    ) -> Result<Vec<QualificationRecord>> {
        query_quals(
            self.c(),
            "person_id = ?1 AND insurer_number = ?2",
            params![person, insurer.as_str()],
        )
    }

    fn upsert_card(&mut self, c: &CardCert) -> Result<UpsertOutcome> {
        self.write_pending_cards()?;
        let existing = self.card_by_serial(&c.serial)?;
        if existing.as_ref() == Some(c) {
            return Ok(UpsertOutcome::Unchanged);
        }
        self.c()
            .prepare_cached(
                "INSERT INTO card (serial, person_id, cert_expiry, status) VALUES (?1, ?2, ?3, ?4) \
                 ON CONFLICT(serial) DO UPDATE SET person_id = excluded.person_id, \
                 cert_expiry = excluded.cert_expiry, status = excluded.status",
            )?
            .execute(params![
                c.serial,
                c.person_id,
                iso_sql(c.cert_expiry),
                c.status.code()
            ])?;
        Ok(if existing.is_some() {
            UpsertOutcome::Updated
        } else {
            UpsertOutcome::Inserted
        })
    }

    fn card_by_serial(&mut self, serial: &str) -> Result<Option<CardCert>> {
        self.write_pending_cards()?;
        let mut st = self.c().prepare_cached(
            "SELECT serial, person_id, cert_expiry, status FROM card WHERE serial = ?1",
        )?;
        let mut rows = st.query([serial])?;
        match rows.next()? {
            Some(r) => Ok(Some(card_from_row(r)?)),
            None => Ok(None),
        }
    }

    fn set_card_key(&mut self, serial: &str, public_key: &str) -> Result<()> {
        self.write_pending_cards()?;
        crate::trust::set_card_key(self.c(), serial, public_key)
    }

    fn insert_new_card(&mut self, c: &CardCert, public_key: &str) -> Result<()> {
        if self.initial_load
            && let Some(p) = PendingCard::of(c, public_key)
        {
            self.pending_cards.push(p);
            return Ok(());
        }
        self.c()
            .prepare_cached(
                "INSERT INTO card (serial, person_id, cert_expiry, status) VALUES (?1, ?2, ?3, ?4)",
            )?
            .execute(params![
                c.serial,
                c.person_id,
                iso_sql(c.cert_expiry),
                c.status.code()
            ])?;
        // a key may be registered without its card (keys are kept apart, see trust.rs)
        crate::trust::set_card_key(self.c(), &c.serial, public_key)
    }

    fn prepare_commit(&mut self) -> Result<()> {
        if self.prepared.is_some() {
            return Ok(());
        }
        self.write_held_persons()?;
        self.write_pending_cards()?;
        if self.initial_load {
            self.build_deferred_indexes()?;
        }
        if self.keys_checked_at_commit {
            let broken = self.broken_references()?;
            if broken > 0 {
                return Err(StoreError::Conflict(format!(
                    "{broken} rows of the initial load reference a person that does not exist"
                )));
            }
        }
        self.prepared = Some(self.guard.total_changes());
        Ok(())
    }

    fn commit(mut self: Box<Self>) -> Result<()> {
        self.prepare_commit()?;
        if self.prepared != Some(self.guard.total_changes())
            || !self.pending_cards.is_empty()
            || !self.held.rows.is_empty()
        {
            return Err(StoreError::Conflict(
                "rows were written after the import's commit was prepared".into(),
            ));
        }
        self.guard.execute_batch("COMMIT")?;
        self.done = true;
        // back to WAL when dropped (a failure there does not undo the commit)
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iso_dates_are_written_as_chrono_writes_them() {
        for s in [
            "0001-01-01",
            "1926-12-25",
            "1989-01-08",
            "2026-11-30",
            "9999-12-31",
        ] {
            let d = NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap();
            assert_eq!(iso(d), s);
            assert_eq!(iso(d), d.format("%Y-%m-%d").to_string());
        }
        let d = NaiveDate::from_ymd_opt(-5, 3, 1).unwrap();
        assert_eq!(iso(d), d.format("%Y-%m-%d").to_string());
    }
}
