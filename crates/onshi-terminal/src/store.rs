//! The terminal's own SQLite file: the journal of answered request files (exactly-once across
//! restarts), the confirmation history at the terminal (資格確認履歴, R6), the registered
//! 照会番号, bulk receptions and their entries, and counters (face-file sequence).
//!
//! One connection behind a mutex; WAL with `synchronous=FULL`, so what a call returned is on
//! disk.

use std::path::Path;
use std::sync::{Arc, Mutex};

use rusqlite::{Connection, OptionalExtension, params};
use serde::{Deserialize, Serialize};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("terminal store: {0}")]
    Sql(#[from] rusqlite::Error),
    #[error("terminal store: the connection lock is poisoned")]
    Poisoned,
    #[error("terminal store: {0}")]
    Json(#[from] serde_json::Error),
}

type Result<T> = std::result::Result<T, StoreError>;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS answered (
  file_name TEXT NOT NULL,
  request_hash TEXT NOT NULL,
  response_file TEXT NOT NULL,
  answered_at TEXT NOT NULL,
  segment_of_result TEXT NOT NULL,
  -- 'staged': the answer's staging file is written, its move into res/ may or may not have
  -- happened; 'done': answered
  state TEXT NOT NULL,
  PRIMARY KEY (file_name, request_hash)
);
CREATE TABLE IF NOT EXISTS history (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  processed_at TEXT NOT NULL,
  source TEXT NOT NULL,
  file_name TEXT,
  reference_classification TEXT,
  card_serial TEXT,
  identity_method TEXT,
  staff_id TEXT,
  confirmation_date TEXT NOT NULL,
  birthdate TEXT,
  kana_key TEXT,
  name TEXT,
  segment_of_result TEXT NOT NULL,
  validity TEXT,
  error_code TEXT,
  error_class TEXT,
  insurer_number TEXT,
  insured_card_symbol TEXT,
  insured_identification_number TEXT,
  insured_branch_number TEXT,
  disqualification_date TEXT,
  consents TEXT,
  response TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS history_date ON history (confirmation_date);
CREATE INDEX IF NOT EXISTS history_birth_kana ON history (birthdate, kana_key);
CREATE TABLE IF NOT EXISTS reference_numbers (
  qual_key TEXT PRIMARY KEY,
  reference_number TEXT NOT NULL,
  registered_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS bulk_reception (
  reception_number TEXT PRIMARY KEY,
  request_file TEXT NOT NULL,
  request_hash TEXT NOT NULL,
  created_at TEXT NOT NULL,
  total INTEGER NOT NULL,
  UNIQUE (request_file, request_hash)
);
CREATE TABLE IF NOT EXISTS bulk_entry (
  reception_number TEXT NOT NULL,
  seq INTEGER NOT NULL,
  request TEXT NOT NULL,
  result TEXT,
  PRIMARY KEY (reception_number, seq)
);
CREATE TABLE IF NOT EXISTS counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
";

/// A row of the terminal's confirmation history.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct HistoryRow {
    pub id: i64,
    /// ISO 8601 with offset (JST)
    pub processed_at: String,
    /// `face` (the reader), `req` (a request file) or `bulk`
    pub source: String,
    pub file_name: Option<String>,
    pub reference_classification: Option<String>,
    pub card_serial: Option<String>,
    pub identity_method: Option<String>,
    /// who ticked 目視で本人確認完了 (R3)
    pub staff_id: Option<String>,
    /// yyyyMMdd
    pub confirmation_date: String,
    pub birthdate: Option<String>,
    pub kana_key: Option<String>,
    pub name: Option<String>,
    pub segment_of_result: String,
    pub validity: Option<String>,
    pub error_code: Option<String>,
    pub error_class: Option<String>,
    /// the qualification shown — for 資格（無効） the lost one, with its old numbers (R6)
    pub insurer_number: Option<String>,
    pub insured_card_symbol: Option<String>,
    pub insured_identification_number: Option<String>,
    pub insured_branch_number: Option<String>,
    pub disqualification_date: Option<String>,
    /// consents given at the reader (JSON), for later use
    pub consents: Option<serde_json::Value>,
    /// the answer as written (the XML message as JSON)
    pub response: serde_json::Value,
}

/// Filters of the history list.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct HistoryQuery {
    /// yyyyMMdd, inclusive
    pub from: Option<String>,
    pub to: Option<String>,
    pub birthdate: Option<String>,
    /// normalised kana key (see `onshi_domain::kana::kana_key`)
    pub kana_key: Option<String>,
    pub card_serial: Option<String>,
    pub limit: Option<u32>,
}

/// A bulk entry as stored.
#[derive(Debug, Clone)]
pub struct BulkEntry {
    pub reception_number: String,
    pub seq: u32,
    pub request: String,
    pub result: Option<String>,
}

#[derive(Clone)]
pub struct TerminalStore {
    conn: Arc<Mutex<Connection>>,
}

impl TerminalStore {
    pub fn open(path: &Path) -> Result<Self> {
        let conn = Connection::open(path)?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "FULL")?;
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        conn.execute_batch(SCHEMA)?;
        Ok(TerminalStore {
            conn: Arc::new(Mutex::new(conn)),
        })
    }

    /// Opens an existing store for reading (the `history` command).
    pub fn open_read_only(path: &Path) -> Result<Self> {
        let conn = Connection::open_with_flags(path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)?;
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        Ok(TerminalStore {
            conn: Arc::new(Mutex::new(conn)),
        })
    }

    fn with<T>(&self, f: impl FnOnce(&mut Connection) -> Result<T>) -> Result<T> {
        let mut c = self.conn.lock().map_err(|_| StoreError::Poisoned)?;
        f(&mut c)
    }

    /// The journal state of a request (`staged` or `done`), `None` when never answered.
    pub fn journal_state(&self, file_name: &str, hash: &str) -> Result<Option<String>> {
        self.with(|c| {
            Ok(c.query_row(
                "SELECT state FROM answered WHERE file_name = ?1 AND request_hash = ?2",
                params![file_name, hash],
                |r| r.get(0),
            )
            .optional()?)
        })
    }

    /// Records the journal state of a request's answer.
    pub fn set_journal(
        &self,
        file_name: &str,
        hash: &str,
        response_file: &str,
        at: &str,
        segment: &str,
        state: &str,
    ) -> Result<()> {
        self.with(|c| {
            c.execute(
                "INSERT INTO answered (file_name, request_hash, response_file, answered_at, segment_of_result, state)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)
                 ON CONFLICT(file_name, request_hash) DO UPDATE SET state = ?6",
                params![file_name, hash, response_file, at, segment, state],
            )?;
            Ok(())
        })
    }

    /// Next value of a named counter (starts at 1, never reused).
    pub fn next(&self, name: &str) -> Result<u64> {
        self.with(|c| {
            let v: i64 = c.query_row(
                "INSERT INTO counters (name, value) VALUES (?1, 1)
                 ON CONFLICT(name) DO UPDATE SET value = value + 1 RETURNING value",
                params![name],
                |r| r.get(0),
            )?;
            Ok(u64::try_from(v).unwrap_or(0))
        })
    }

    pub fn add_history(&self, h: &HistoryRow) -> Result<i64> {
        let consents = h.consents.as_ref().map(|v| v.to_string());
        let response = h.response.to_string();
        self.with(|c| {
            c.execute(
                "INSERT INTO history (processed_at, source, file_name, reference_classification, card_serial,
                   identity_method, staff_id, confirmation_date, birthdate, kana_key, name, segment_of_result,
                   validity, error_code, error_class, insurer_number, insured_card_symbol,
                   insured_identification_number, insured_branch_number, disqualification_date, consents, response)
                 VALUES (?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,?12,?13,?14,?15,?16,?17,?18,?19,?20,?21,?22)",
                params![
                    h.processed_at, h.source, h.file_name, h.reference_classification, h.card_serial,
                    h.identity_method, h.staff_id, h.confirmation_date, h.birthdate, h.kana_key, h.name,
                    h.segment_of_result, h.validity, h.error_code, h.error_class, h.insurer_number,
                    h.insured_card_symbol, h.insured_identification_number, h.insured_branch_number,
                    h.disqualification_date, consents, response
                ],
            )?;
            Ok(c.last_insert_rowid())
        })
    }

    /// The history, newest first.
    pub fn history(&self, q: &HistoryQuery) -> Result<Vec<HistoryRow>> {
        self.with(|c| {
            let mut sql = String::from(
                "SELECT id, processed_at, source, file_name, reference_classification, card_serial,
                   identity_method, staff_id, confirmation_date, birthdate, kana_key, name, segment_of_result,
                   validity, error_code, error_class, insurer_number, insured_card_symbol,
                   insured_identification_number, insured_branch_number, disqualification_date, consents, response
                 FROM history WHERE 1=1",
            );
            let mut args: Vec<String> = Vec::new();
            for (cond, v) in [
                (" AND confirmation_date >= ?", &q.from),
                (" AND confirmation_date <= ?", &q.to),
                (" AND birthdate = ?", &q.birthdate),
                (" AND kana_key = ?", &q.kana_key),
                (" AND card_serial = ?", &q.card_serial),
            ] {
                if let Some(v) = v {
                    sql.push_str(cond);
                    args.push(v.clone());
                }
            }
            sql.push_str(" ORDER BY id DESC LIMIT ?");
            let limit = q.limit.unwrap_or(100).min(10_000);
            args.push(limit.to_string());
            let mut st = c.prepare(&sql)?;
            let rows = st.query_map(rusqlite::params_from_iter(args.iter()), |r| {
                let consents: Option<String> = r.get(21)?;
                let response: String = r.get(22)?;
                Ok(HistoryRow {
                    id: r.get(0)?,
                    processed_at: r.get(1)?,
                    source: r.get(2)?,
                    file_name: r.get(3)?,
                    reference_classification: r.get(4)?,
                    card_serial: r.get(5)?,
                    identity_method: r.get(6)?,
                    staff_id: r.get(7)?,
                    confirmation_date: r.get(8)?,
                    birthdate: r.get(9)?,
                    kana_key: r.get(10)?,
                    name: r.get(11)?,
                    segment_of_result: r.get(12)?,
                    validity: r.get(13)?,
                    error_code: r.get(14)?,
                    error_class: r.get(15)?,
                    insurer_number: r.get(16)?,
                    insured_card_symbol: r.get(17)?,
                    insured_identification_number: r.get(18)?,
                    insured_branch_number: r.get(19)?,
                    disqualification_date: r.get(20)?,
                    consents: consents.and_then(|s| serde_json::from_str(&s).ok()),
                    response: serde_json::from_str(&response).unwrap_or(serde_json::Value::Null),
                })
            })?;
            Ok(rows.collect::<std::result::Result<Vec<_>, _>>()?)
        })
    }

    pub fn register_reference(&self, key: &str, number: &str, at: &str) -> Result<()> {
        self.with(|c| {
            c.execute(
                "INSERT INTO reference_numbers (qual_key, reference_number, registered_at) VALUES (?1, ?2, ?3)
                 ON CONFLICT(qual_key) DO UPDATE SET reference_number = ?2, registered_at = ?3",
                params![key, number, at],
            )?;
            Ok(())
        })
    }

    pub fn reference(&self, key: &str) -> Result<Option<String>> {
        self.with(|c| {
            Ok(c.query_row(
                "SELECT reference_number FROM reference_numbers WHERE qual_key = ?1",
                params![key],
                |r| r.get(0),
            )
            .optional()?)
        })
    }

    /// Creates a bulk reception with its entries in one transaction; the same request file
    /// (name and content) gets the same reception back.
    pub fn create_bulk(
        &self,
        reception_number: &str,
        request_file: &str,
        hash: &str,
        at: &str,
        entries: &[String],
    ) -> Result<String> {
        self.with(|c| {
            let tx = c.transaction()?;
            let existing: Option<String> = tx
                .query_row(
                    "SELECT reception_number FROM bulk_reception WHERE request_file = ?1 AND request_hash = ?2",
                    params![request_file, hash],
                    |r| r.get(0),
                )
                .optional()?;
            if let Some(r) = existing {
                return Ok(r);
            }
            tx.execute(
                "INSERT INTO bulk_reception (reception_number, request_file, request_hash, created_at, total) VALUES (?1,?2,?3,?4,?5)",
                params![reception_number, request_file, hash, at, entries.len() as i64],
            )?;
            {
                let mut st = tx.prepare(
                    "INSERT INTO bulk_entry (reception_number, seq, request) VALUES (?1, ?2, ?3)",
                )?;
                for (i, e) in entries.iter().enumerate() {
                    st.execute(params![reception_number, (i + 1) as i64, e])?;
                }
            }
            tx.commit()?;
            Ok(reception_number.to_string())
        })
    }

    /// Entries of a reception (`None` when the reception is unknown).
    pub fn bulk_entries(&self, reception_number: &str) -> Result<Option<Vec<BulkEntry>>> {
        self.with(|c| {
            let known = c
                .query_row(
                    "SELECT 1 FROM bulk_reception WHERE reception_number = ?1",
                    params![reception_number],
                    |_| Ok(()),
                )
                .optional()?
                .is_some();
            if !known {
                return Ok(None);
            }
            let mut st = c.prepare(
                "SELECT reception_number, seq, request, result FROM bulk_entry WHERE reception_number = ?1 ORDER BY seq",
            )?;
            let rows = st.query_map(params![reception_number], row_entry)?;
            Ok(Some(rows.collect::<std::result::Result<Vec<_>, _>>()?))
        })
    }

    /// Up to `n` entries still to confirm, oldest first.
    pub fn pending_bulk(&self, n: u32) -> Result<Vec<BulkEntry>> {
        self.with(|c| {
            let mut st = c.prepare(
                "SELECT reception_number, seq, request, result FROM bulk_entry WHERE result IS NULL ORDER BY rowid LIMIT ?1",
            )?;
            let rows = st.query_map(params![n], row_entry)?;
            Ok(rows.collect::<std::result::Result<Vec<_>, _>>()?)
        })
    }

    pub fn set_bulk_result(&self, reception_number: &str, seq: u32, result: &str) -> Result<()> {
        self.with(|c| {
            c.execute(
                "UPDATE bulk_entry SET result = ?3 WHERE reception_number = ?1 AND seq = ?2",
                params![reception_number, seq, result],
            )?;
            Ok(())
        })
    }
}

fn row_entry(r: &rusqlite::Row<'_>) -> rusqlite::Result<BulkEntry> {
    Ok(BulkEntry {
        reception_number: r.get(0)?,
        seq: r.get::<_, i64>(1).map(|v| u32::try_from(v).unwrap_or(0))?,
        request: r.get(2)?,
        result: r.get(3)?,
    })
}
