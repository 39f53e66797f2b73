//! The trust chain's tables (card keys, certified readers, refused assertions) on PostgreSQL.

use deadpool_postgres::ClientWrapper;

use super::{PostgresStore, hot_future};
use crate::trust::{ReaderRecord, Refusal, TrustStore};
use crate::{Result, StoreFuture};

/// Times as the SQLite store writes them (`YYYY-MM-DDTHH:MM:SS.sssZ`, UTC).
const AT_UTC: &str = r#"to_char(at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')"#;

async fn card_public_key(c: &ClientWrapper, serial: &str) -> Result<Option<String>> {
    let st = c
        .prepare_cached("SELECT public_key FROM card_key WHERE serial = $1")
        .await?;
    c.query_opt(&st, &[&serial])
        .await?
        .map(|r| Ok(r.try_get(0)?))
        .transpose()
}

async fn reader(c: &ClientWrapper, id: &str) -> Result<Option<ReaderRecord>> {
    let st = c
        .prepare_cached(
            "SELECT id, facility, public_key, revoked_at IS NOT NULL FROM reader WHERE id = $1",
        )
        .await?;
    c.query_opt(&st, &[&id])
        .await?
        .map(|r| {
            Ok(ReaderRecord {
                id: r.try_get(0)?,
                facility: r.try_get(1)?,
                public_key: r.try_get(2)?,
                revoked: r.try_get(3)?,
            })
        })
        .transpose()
}

impl TrustStore for PostgresStore {
    /// On the replica when there is one: the keys are written with the cards, by the import.
    fn card_public_key(&self, serial: &str) -> Result<Option<String>> {
        self.read(async |c| card_public_key(c, serial).await)
    }

    fn card_public_key_async<'a>(&'a self, serial: &'a str) -> StoreFuture<'a, Option<String>> {
        hot_future!(self, registry, self.card_public_key(serial), |c| {
            card_public_key(c, serial).await
        })
    }

    fn reader(&self, id: &str) -> Result<Option<ReaderRecord>> {
        self.primary_read(async |c| reader(c, id).await)
    }

    fn reader_async<'a>(&'a self, id: &'a str) -> StoreFuture<'a, Option<ReaderRecord>> {
        hot_future!(self, primary, self.reader(id), |c| reader(c, id).await)
    }

    fn register_reader(&self, r: &ReaderRecord) -> Result<()> {
        self.block(async {
            let c = self.conn().await?;
            c.execute(
                "INSERT INTO reader (id, facility, public_key) VALUES ($1, $2, $3) \
                 ON CONFLICT (id) DO UPDATE SET facility = EXCLUDED.facility, \
                 public_key = EXCLUDED.public_key, revoked_at = NULL, registered_at = now()",
                &[&r.id, &r.facility, &r.public_key],
            )
            .await?;
            Ok(())
        })
    }

    fn revoke_reader(&self, id: &str, facility: Option<&str>) -> Result<bool> {
        self.block(async {
            let c = self.conn().await?;
            let n = c
                .execute(
                    "UPDATE reader SET revoked_at = now() WHERE id = $1 AND revoked_at IS NULL \
                     AND ($2::text IS NULL OR facility = $2)",
                    &[&id, &facility],
                )
                .await?;
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
        self.block(async {
            let c = self.conn().await?;
            c.execute(
                "INSERT INTO assertion_refusal (facility, reader_id, card_serial, reason) \
                 VALUES ($1, $2, $3, $4)",
                &[&facility, &reader_id, &card_serial, &reason],
            )
            .await?;
            Ok(())
        })
    }

    fn refusals(&self, limit: u32) -> Result<Vec<Refusal>> {
        self.block(async {
            let c = self.conn().await?;
            let rows = c
                .query(
                    &format!(
                        "SELECT {AT_UTC}, facility, reader_id, card_serial, reason \
                         FROM assertion_refusal ORDER BY id DESC LIMIT $1"
                    ),
                    &[&i64::from(limit)],
                )
                .await?;
            rows.iter()
                .map(|r| {
                    Ok(Refusal {
                        at: r.try_get(0)?,
                        facility: r.try_get(1)?,
                        reader_id: r.try_get(2)?,
                        card_serial: r.try_get(3)?,
                        reason: r.try_get(4)?,
                    })
                })
                .collect()
        })
    }
}
