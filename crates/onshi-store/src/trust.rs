//! The central's side of the trust chain: the public keys of the cards' certificates, the
//! certified readers registered per facility (device keys, revocation) and the record of
//! refused assertions. Schema in `trust.sql`, kept apart from the registry tables.

use rusqlite::{Connection, OptionalExtension, params};
use serde::{Deserialize, Serialize};

use crate::{Result, SqliteStore};

pub(crate) const SCHEMA: &str = include_str!("trust.sql");

/// A certified reader as the central knows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReaderRecord {
    pub id: String,
    /// 医療機関コード of the facility it is registered for
    pub facility: String,
    /// ed25519 public key, hex
    pub public_key: String,
    pub revoked: bool,
}

/// Card keys, readers and refusals.
pub trait TrustStore: Send + Sync {
    /// The public key (hex) of the card's certificate, if one was registered.
    fn card_public_key(&self, serial: &str) -> Result<Option<String>>;
    fn reader(&self, id: &str) -> Result<Option<ReaderRecord>>;
    /// [`TrustStore::card_public_key`] for async callers (see [`crate::StoreFuture`]).
    fn card_public_key_async<'a>(
        &'a self,
        serial: &'a str,
    ) -> crate::StoreFuture<'a, Option<String>> {
        crate::ready(self.card_public_key(serial))
    }
    /// [`TrustStore::reader`] for async callers (see [`crate::StoreFuture`]).
    fn reader_async<'a>(&'a self, id: &'a str) -> crate::StoreFuture<'a, Option<ReaderRecord>> {
        crate::ready(self.reader(id))
    }
    /// Registers (or re-registers, un-revoking) a reader for a facility.
    fn register_reader(&self, r: &ReaderRecord) -> Result<()>;
    /// Revokes a reader; `facility` restricts it to that facility's readers. Returns whether
    /// a reader was revoked.
    fn revoke_reader(&self, id: &str, facility: Option<&str>) -> Result<bool>;
    fn record_refusal(
        &self,
        facility: &str,
        reader_id: Option<&str>,
        card_serial: Option<&str>,
        reason: &str,
    ) -> Result<()>;
    /// The refusals recorded, newest first: (facility, reader, card, reason).
    fn refusals(&self, limit: u32) -> Result<Vec<Refusal>>;
}

/// One refused assertion.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Refusal {
    pub at: String,
    pub facility: String,
    pub reader_id: Option<String>,
    pub card_serial: Option<String>,
    pub reason: String,
}

pub(crate) fn set_card_key(c: &Connection, serial: &str, public_key: &str) -> Result<()> {
    c.prepare_cached(
        "INSERT INTO card_key (serial, public_key) VALUES (?1, ?2) \
         ON CONFLICT(serial) DO UPDATE SET public_key = excluded.public_key \
         WHERE public_key <> excluded.public_key",
    )?
    .execute(params![serial, public_key])?;
    Ok(())
}

impl TrustStore for SqliteStore {
    fn card_public_key(&self, serial: &str) -> Result<Option<String>> {
        self.with_reader(|c| {
            Ok(
                c.prepare_cached("SELECT public_key FROM card_key WHERE serial = ?1")?
                    .query_row([serial], |r| r.get(0))
                    .optional()?,
            )
        })
    }

    fn reader(&self, id: &str) -> Result<Option<ReaderRecord>> {
        self.with_reader(|c| {
            Ok(c.prepare_cached(
                "SELECT id, facility, public_key, revoked_at IS NOT NULL FROM reader WHERE id = ?1",
            )?
            .query_row([id], |r| {
                Ok(ReaderRecord {
                    id: r.get(0)?,
                    facility: r.get(1)?,
                    public_key: r.get(2)?,
                    revoked: r.get(3)?,
                })
            })
            .optional()?)
        })
    }

    fn register_reader(&self, r: &ReaderRecord) -> Result<()> {
        self.with_writer(|w| {
            w.execute(
                "INSERT INTO reader (id, facility, public_key) VALUES (?1, ?2, ?3) \
                 ON CONFLICT(id) DO UPDATE SET facility = excluded.facility, \
                 public_key = excluded.public_key, revoked_at = NULL, \
                 registered_at = strftime('%Y-%m-%dT%H:%M:%SZ', 'now')",
                params![r.id, r.facility, r.public_key],
            )?;
            Ok(())
        })
    }

    fn revoke_reader(&self, id: &str, facility: Option<&str>) -> Result<bool> {
        self.with_writer(|w| {
            let n = w.execute(
                "UPDATE reader SET revoked_at = strftime('%Y-%m-%dT%H:%M:%SZ', 'now') \
                 WHERE id = ?1 AND revoked_at IS NULL AND (?2 IS NULL OR facility = ?2)",
                params![id, facility],
            )?;
            Ok(n > 0)
        })
    }

    fn record_refusal(
        &self,
        facility: &str,
        reader_id: Option<&str>,
        card_serial: Option<&str>,
        reason: &str,
    ) -> Result<()> {
        self.with_writer(|w| {
            w.execute(
                "INSERT INTO assertion_refusal (facility, reader_id, card_serial, reason) \
                 VALUES (?1, ?2, ?3, ?4)",
                params![facility, reader_id, card_serial, reason],
            )?;
            Ok(())
        })
    }

    fn refusals(&self, limit: u32) -> Result<Vec<Refusal>> {
        self.with_reader(|c| {
            let mut st = c.prepare_cached(
                "SELECT at, facility, reader_id, card_serial, reason FROM assertion_refusal \
                 ORDER BY id DESC LIMIT ?1",
            )?;
            let rows = st.query_map([limit], |r| {
                Ok(Refusal {
                    at: r.get(0)?,
                    facility: r.get(1)?,
                    reader_id: r.get(2)?,
                    card_serial: r.get(3)?,
                    reason: r.get(4)?,
                })
            })?;
            Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
        })
    }
}
