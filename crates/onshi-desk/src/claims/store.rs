//! The facility's claims file (`claims.sqlite` beside `desk.sqlite`): what each visit
//! contributes, the claim settings, the months closed with their claims frozen, the payers'
//! settlements, and the log of 申立書 purges (R27: when and why, never what).
//!
//! `secure_delete` is on: a purged 摘要 does not linger in freed pages.

use std::path::Path;
use std::sync::{Arc, Mutex};

use rusqlite::{Connection, OptionalExtension, params};

use super::build::FiledClaim;
use super::content::VisitContent;
use super::{ClaimsError, FacilityClaimSettings, now_jst};

const SCHEMA: &str = "
PRAGMA secure_delete = ON;
PRAGMA journal_mode = WAL;
PRAGMA synchronous = FULL;
CREATE TABLE IF NOT EXISTS visit_content (
    visit_id INTEGER PRIMARY KEY,
    content TEXT NOT NULL,
    charged_yen INTEGER NOT NULL,
    recorded_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS visit_patient (
    visit_id INTEGER PRIMARY KEY,
    sex TEXT,
    name_kana TEXT,
    family INTEGER
);
CREATE TABLE IF NOT EXISTS setting (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    value TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS claim_month (
    service_month TEXT PRIMARY KEY,
    closed_at TEXT NOT NULL,
    billing_month TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS filed_claim (
    id INTEGER PRIMARY KEY,
    service_month TEXT NOT NULL,
    billing_month TEXT NOT NULL,
    payer TEXT NOT NULL,
    kind TEXT NOT NULL,
    receipt_number INTEGER NOT NULL,
    claim TEXT NOT NULL,
    uses_moushitatesho INTEGER NOT NULL,
    status TEXT NOT NULL DEFAULT 'filed',
    settled_at TEXT,
    settlement TEXT,
    UNIQUE (billing_month, payer, kind, receipt_number)
);
CREATE INDEX IF NOT EXISTS filed_claim_month ON filed_claim (service_month);
CREATE TABLE IF NOT EXISTS filed_file (
    billing_month TEXT NOT NULL,
    payer TEXT NOT NULL,
    kind TEXT NOT NULL,
    service_month TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    claims INTEGER NOT NULL,
    points INTEGER NOT NULL,
    created_at TEXT NOT NULL,
    PRIMARY KEY (billing_month, payer, kind)
);
CREATE TABLE IF NOT EXISTS settlement (
    id INTEGER PRIMARY KEY,
    received_at TEXT NOT NULL,
    payer TEXT NOT NULL,
    billing_month TEXT NOT NULL,
    file_sha256 TEXT NOT NULL,
    claims INTEGER NOT NULL,
    UNIQUE (payer, billing_month, file_sha256)
);
CREATE TABLE IF NOT EXISTS purge_log (
    id INTEGER PRIMARY KEY,
    visit_id INTEGER NOT NULL,
    at TEXT NOT NULL,
    reason TEXT NOT NULL
);
";

/// What the card's confirmation result says of the patient, for the claim's RE record.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CardPatient {
    /// 男女区分 `1` / `2`.
    pub sex: Option<String>,
    /// カナ氏名 as the result gave it (half-width).
    pub name_kana: Option<String>,
    /// 本人家族: `true` for 家族.
    pub family: Option<bool>,
}

/// A claim as frozen at month close.
#[derive(Debug, Clone)]
pub struct StoredClaim {
    pub id: i64,
    pub service_month: String,
    pub billing_month: String,
    pub payer: String,
    /// `claim` (the month's first filing) or `reclaim`.
    pub kind: String,
    pub receipt_number: u32,
    pub claim: FiledClaim,
    pub uses_moushitatesho: bool,
    /// `filed`, `settled` or `returned`.
    pub status: String,
    pub settled_at: Option<String>,
}

/// A file as filed.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct StoredFile {
    pub billing_month: String,
    pub payer: String,
    pub kind: String,
    pub service_month: String,
    pub sha256: String,
    pub claims: u32,
    pub points: u64,
    pub created_at: String,
}

/// One purge of a 申立書 (R27): which visit, when, why — never the data.
#[derive(Debug, Clone, serde::Serialize)]
pub struct PurgeRecord {
    pub visit_id: i64,
    pub at: String,
    pub reason: String,
}

/// A `filed_file` row in the column order of [`FILE_COLUMNS`].
fn file_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<StoredFile> {
    Ok(StoredFile {
        billing_month: r.get(0)?,
        payer: r.get(1)?,
        kind: r.get(2)?,
        service_month: r.get(3)?,
        sha256: r.get(4)?,
        claims: r.get(5)?,
        points: r.get::<_, i64>(6)? as u64,
        created_at: r.get(7)?,
    })
}

/// The columns [`file_row`] reads.
const FILE_COLUMNS: &str =
    "billing_month, payer, kind, service_month, sha256, claims, points, created_at";

#[derive(Clone)]
pub struct ClaimStore {
    conn: Arc<Mutex<Connection>>,
}

impl ClaimStore {
    pub fn open(path: &Path) -> Result<Self, ClaimsError> {
        let conn = Connection::open(path)?;
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        conn.execute_batch(SCHEMA)?;
        Ok(ClaimStore {
            conn: Arc::new(Mutex::new(conn)),
        })
    }

    fn with<T>(
        &self,
        f: impl FnOnce(&mut Connection) -> Result<T, ClaimsError>,
    ) -> Result<T, ClaimsError> {
        let mut c = self.conn.lock().map_err(|_| ClaimsError::Poisoned)?;
        f(&mut c)
    }

    pub fn settings(&self) -> Result<FacilityClaimSettings, ClaimsError> {
        self.with(|c| {
            let v: Option<String> = c
                .query_row("SELECT value FROM setting WHERE id = 1", [], |r| r.get(0))
                .optional()?;
            Ok(match v {
                Some(v) => serde_json::from_str(&v)?,
                None => FacilityClaimSettings::default(),
            })
        })
    }

    pub fn set_settings(&self, s: &FacilityClaimSettings) -> Result<(), ClaimsError> {
        let v = serde_json::to_string(s)?;
        self.with(|c| {
            c.execute(
                "INSERT INTO setting (id, value) VALUES (1, ?1) ON CONFLICT(id) DO UPDATE SET value = excluded.value",
                params![v],
            )?;
            Ok(())
        })
    }

    /// Records a visit's content. The amount charged at the window is kept as first recorded
    /// (R11): a different amount is refused.
    pub fn put_content(&self, visit_id: i64, content: &VisitContent) -> Result<(), ClaimsError> {
        let json = serde_json::to_string(content)?;
        self.with(|c| {
            let tx = c.transaction()?;
            let existing: Option<i64> = tx
                .query_row(
                    "SELECT charged_yen FROM visit_content WHERE visit_id = ?1",
                    params![visit_id],
                    |r| r.get(0),
                )
                .optional()?;
            if let Some(yen) = existing
                && yen != i64::from(content.charged_yen)
            {
                return Err(ClaimsError::ChargedIsFact {
                    visit_id,
                    recorded: yen,
                    given: i64::from(content.charged_yen),
                });
            }
            let now = now_jst();
            tx.execute(
                "INSERT INTO visit_content (visit_id, content, charged_yen, recorded_at, updated_at) VALUES (?1, ?2, ?3, ?4, ?4)
                 ON CONFLICT(visit_id) DO UPDATE SET content = excluded.content, updated_at = excluded.updated_at",
                params![visit_id, json, content.charged_yen, now],
            )?;
            tx.commit()?;
            Ok(())
        })
    }

    /// The patient facts the card's result gave (男女区分, カナ氏名, 本人家族).
    pub fn put_patient(&self, visit_id: i64, p: &CardPatient) -> Result<(), ClaimsError> {
        self.with(|c| {
            c.execute(
                "INSERT INTO visit_patient (visit_id, sex, name_kana, family) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT(visit_id) DO UPDATE SET sex = excluded.sex, name_kana = excluded.name_kana, family = excluded.family",
                params![visit_id, p.sex, p.name_kana, p.family],
            )?;
            Ok(())
        })
    }

    pub fn patient(&self, visit_id: i64) -> Result<Option<CardPatient>, ClaimsError> {
        self.with(|c| {
            Ok(c.query_row(
                "SELECT sex, name_kana, family FROM visit_patient WHERE visit_id = ?1",
                params![visit_id],
                |r| {
                    Ok(CardPatient {
                        sex: r.get(0)?,
                        name_kana: r.get(1)?,
                        family: r.get(2)?,
                    })
                },
            )
            .optional()?)
        })
    }

    pub fn content(&self, visit_id: i64) -> Result<Option<VisitContent>, ClaimsError> {
        self.with(|c| {
            let v: Option<String> = c
                .query_row(
                    "SELECT content FROM visit_content WHERE visit_id = ?1",
                    params![visit_id],
                    |r| r.get(0),
                )
                .optional()?;
            Ok(v.map(|v| serde_json::from_str(&v)).transpose()?)
        })
    }

    /// When a month was closed, with its billing month.
    pub fn closed(&self, service_month: &str) -> Result<Option<(String, String)>, ClaimsError> {
        self.with(|c| {
            Ok(c.query_row(
                "SELECT closed_at, billing_month FROM claim_month WHERE service_month = ?1",
                params![service_month],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?)
        })
    }

    /// Freezes a month: its claims and the files' digests, in one transaction. A month closed
    /// already is left as it is (closing is idempotent).
    pub fn freeze(
        &self,
        service_month: &str,
        billing_month: &str,
        kind: &str,
        claims: &[(String, u32, FiledClaim)],
        files: &[StoredFile],
        mark_closed: bool,
    ) -> Result<bool, ClaimsError> {
        self.with(|c| {
            let tx = c.transaction()?;
            if mark_closed {
                let n = tx.execute(
                    "INSERT OR IGNORE INTO claim_month (service_month, closed_at, billing_month) VALUES (?1, ?2, ?3)",
                    params![service_month, now_jst(), billing_month],
                )?;
                if n == 0 {
                    return Ok(false);
                }
            }
            for (payer, number, claim) in claims {
                tx.execute(
                    "INSERT INTO filed_claim (service_month, billing_month, payer, kind, receipt_number, claim, uses_moushitatesho) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                    params![
                        service_month,
                        billing_month,
                        payer,
                        kind,
                        number,
                        serde_json::to_string(claim)?,
                        claim.uses_moushitatesho
                    ],
                )?;
            }
            for f in files {
                tx.execute(
                    "INSERT INTO filed_file (billing_month, payer, kind, service_month, sha256, claims, points, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                    params![f.billing_month, f.payer, f.kind, f.service_month, f.sha256, f.claims, f.points as i64, f.created_at],
                )?;
            }
            tx.commit()?;
            Ok(true)
        })
    }

    fn claims_where(
        &self,
        sql_where: &str,
        p: &[&dyn rusqlite::ToSql],
    ) -> Result<Vec<StoredClaim>, ClaimsError> {
        self.with(|c| {
            let mut stmt = c.prepare(&format!(
                "SELECT id, service_month, billing_month, payer, kind, receipt_number, claim, uses_moushitatesho, status, settled_at FROM filed_claim WHERE {sql_where} ORDER BY billing_month, payer, kind, receipt_number"
            ))?;
            let rows = stmt
                .query_map(p, |r| {
                    Ok((
                        r.get::<_, i64>(0)?,
                        r.get::<_, String>(1)?,
                        r.get::<_, String>(2)?,
                        r.get::<_, String>(3)?,
                        r.get::<_, String>(4)?,
                        r.get::<_, u32>(5)?,
                        r.get::<_, String>(6)?,
                        r.get::<_, bool>(7)?,
                        r.get::<_, String>(8)?,
                        r.get::<_, Option<String>>(9)?,
                    ))
                })?
                .collect::<Result<Vec<_>, _>>()?;
            rows.into_iter()
                .map(|r| {
                    Ok(StoredClaim {
                        id: r.0,
                        service_month: r.1,
                        billing_month: r.2,
                        payer: r.3,
                        kind: r.4,
                        receipt_number: r.5,
                        claim: serde_json::from_str(&r.6)?,
                        uses_moushitatesho: r.7,
                        status: r.8,
                        settled_at: r.9,
                    })
                })
                .collect()
        })
    }

    /// The claims filed for a service month (first filing and re-claims).
    pub fn filed_claims(&self, service_month: &str) -> Result<Vec<StoredClaim>, ClaimsError> {
        self.claims_where("service_month = ?1", &[&service_month])
    }

    /// The claims of one filed file.
    pub fn claims_of_file(
        &self,
        billing_month: &str,
        payer: &str,
        kind: &str,
    ) -> Result<Vec<StoredClaim>, ClaimsError> {
        self.claims_where(
            "billing_month = ?1 AND payer = ?2 AND kind = ?3",
            &[&billing_month, &payer, &kind],
        )
    }

    pub fn files(&self, service_month: &str) -> Result<Vec<StoredFile>, ClaimsError> {
        self.with(|c| {
            let mut stmt = c.prepare(&format!(
                "SELECT {FILE_COLUMNS} FROM filed_file WHERE service_month = ?1 ORDER BY billing_month, kind, payer"
            ))?;
            let rows = stmt
                .query_map(params![service_month], file_row)?
                .collect::<Result<Vec<_>, _>>()?;
            Ok(rows)
        })
    }

    /// The file a payer's statement is about, found by its digest.
    pub fn file_by_digest(&self, sha256: &str) -> Result<Option<StoredFile>, ClaimsError> {
        self.with(|c| {
            Ok(c.query_row(
                &format!("SELECT {FILE_COLUMNS} FROM filed_file WHERE sha256 = ?1"),
                params![sha256],
                file_row,
            )
            .optional()?)
        })
    }

    /// Records a statement once; `false` when the same statement was taken before.
    pub fn record_settlement(
        &self,
        payer: &str,
        billing_month: &str,
        sha256: &str,
        outcomes: &[(i64, String, String)],
    ) -> Result<bool, ClaimsError> {
        self.with(|c| {
            let tx = c.transaction()?;
            let n = tx.execute(
                "INSERT OR IGNORE INTO settlement (received_at, payer, billing_month, file_sha256, claims) VALUES (?1, ?2, ?3, ?4, ?5)",
                params![now_jst(), payer, billing_month, sha256, outcomes.len() as i64],
            )?;
            if n == 0 {
                return Ok(false);
            }
            for (id, status, detail) in outcomes {
                tx.execute(
                    "UPDATE filed_claim SET status = ?2, settled_at = ?3, settlement = ?4 WHERE id = ?1",
                    params![id, status, now_jst(), detail],
                )?;
            }
            tx.commit()?;
            Ok(true)
        })
    }

    /// Replaces a frozen claim's 不詳 comments once its 申立書 is purged (R27): the address,
    /// 事業所名 and phone do not stay in the claims file either.
    pub fn redact_claim(&self, id: i64, claim: &FiledClaim) -> Result<(), ClaimsError> {
        let json = serde_json::to_string(claim)?;
        self.with(|c| {
            c.execute(
                "UPDATE filed_claim SET claim = ?2 WHERE id = ?1",
                params![id, json],
            )?;
            Ok(())
        })
    }

    pub fn log_purge(&self, visit_id: i64, reason: &str) -> Result<(), ClaimsError> {
        self.with(|c| {
            c.execute(
                "INSERT INTO purge_log (visit_id, at, reason) VALUES (?1, ?2, ?3)",
                params![visit_id, now_jst(), reason],
            )?;
            Ok(())
        })
    }

    pub fn purges(&self) -> Result<Vec<PurgeRecord>, ClaimsError> {
        self.with(|c| {
            let mut stmt = c.prepare("SELECT visit_id, at, reason FROM purge_log ORDER BY id")?;
            let rows = stmt
                .query_map([], |r| {
                    Ok(PurgeRecord {
                        visit_id: r.get(0)?,
                        at: r.get(1)?,
                        reason: r.get(2)?,
                    })
                })?
                .collect::<Result<Vec<_>, _>>()?;
            Ok(rows)
        })
    }

    /// Drops freed pages after a purge.
    pub fn vacuum(&self) -> Result<(), ClaimsError> {
        self.with(|c| {
            c.execute_batch(
                "PRAGMA wal_checkpoint(TRUNCATE); VACUUM; PRAGMA wal_checkpoint(TRUNCATE);",
            )?;
            Ok(())
        })
    }
}
