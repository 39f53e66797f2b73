//! Medical information under consent (R2): the drug history, diagnosis / procedure items and
//! specific health checkups held per person, the consents given at the reader, and the record
//! of every view. Schema in `medinfo.sql` (SQLite; the consents and views in the history file
//! since its schema 2, `logs.sql`) and `postgres/migrations/V4__medinfo.sql`.
//!
//! Each record is stored with its key columns (person, date) and the whole record as JSON, so
//! that the searches use the index and the record's shape lives in one place
//! (`onshi_domain::medinfo`).

use chrono::{NaiveDate, NaiveDateTime};
use onshi_domain::medinfo::{
    CheckupItem, ConsentGrant, DiagnosisRecord, DrugRecord, MedicalInfoKind, MedicalRecords,
    MedicalView,
};
use rusqlite::{OptionalExtension, params};

use crate::{PersonId, Result, SqliteStore, StoreError};

pub(crate) const SCHEMA: &str = include_str!("medinfo.sql");

/// Whose views to list: a facility sees the views it made, a patient every view of theirs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ViewsOf<'a> {
    Facility(&'a str),
    Person(PersonId),
}

/// The medical information, the consents and the views.
pub trait MedicalInfoStore: Send + Sync {
    /// Adds the records of many persons in one transaction (all or nothing).
    fn add_medical_records(&self, batch: &[(PersonId, MedicalRecords)]) -> Result<()>;
    /// The person's records with a date in `from ..= to` (either end open), oldest first.
    fn medical_records(
        &self,
        person: PersonId,
        from: Option<NaiveDate>,
        to: Option<NaiveDate>,
    ) -> Result<MedicalRecords>;
    /// Records consents (one transaction).
    fn record_consents(&self, grants: &[ConsentGrant]) -> Result<()>;
    /// The latest consent of this kind the person gave this facility.
    fn latest_consent(
        &self,
        person: PersonId,
        facility: &str,
        kind: MedicalInfoKind,
    ) -> Result<Option<ConsentGrant>>;
    /// Records one view; returns its id.
    fn record_view(&self, v: &MedicalView) -> Result<i64>;
    /// Views, newest first.
    fn medical_views(&self, of: ViewsOf<'_>, limit: u32) -> Result<Vec<MedicalView>>;
}

/// Writes consents in the caller's transaction of the history file.
pub(crate) fn insert_consents(
    tx: &rusqlite::Transaction<'_>,
    grants: &[ConsentGrant],
) -> Result<()> {
    if grants.is_empty() {
        return Ok(());
    }
    let mut st = tx.prepare_cached(
        "INSERT INTO med_consent (person_id, facility, kind, given_at, available_until) \
         VALUES (?1, ?2, ?3, ?4, ?5)",
    )?;
    for g in grants {
        st.execute(params![
            g.person_id,
            g.facility,
            g.kind.id(),
            ts(g.given_at),
            ts(g.available_until)
        ])?;
    }
    Ok(())
}

pub(crate) fn to_json<T: serde::Serialize>(v: &T) -> Result<String> {
    serde_json::to_string(v).map_err(|e| StoreError::Corrupt(format!("medical record: {e}")))
}

pub(crate) fn from_json<T: serde::de::DeserializeOwned>(s: &str) -> Result<T> {
    serde_json::from_str(s).map_err(|e| StoreError::Corrupt(format!("medical record: {e}")))
}

pub(crate) fn kind_col(s: &str) -> Result<MedicalInfoKind> {
    MedicalInfoKind::parse(s)
        .ok_or_else(|| StoreError::Corrupt(format!("medical information kind {s:?}")))
}

const TS: &str = "%Y-%m-%dT%H:%M:%S";

fn ts(t: NaiveDateTime) -> String {
    t.format(TS).to_string()
}

fn ts_col(s: &str) -> Result<NaiveDateTime> {
    NaiveDateTime::parse_from_str(s, TS).map_err(|e| StoreError::Corrupt(format!("time {s}: {e}")))
}

fn day(d: NaiveDate) -> String {
    d.format("%Y-%m-%d").to_string()
}

impl MedicalInfoStore for SqliteStore {
    fn add_medical_records(&self, batch: &[(PersonId, MedicalRecords)]) -> Result<()> {
        self.with_writer(|w| {
            let tx = w.transaction()?;
            {
                let mut drug = tx.prepare_cached(
                    "INSERT INTO med_drug (person_id, source, dispensed_on, body) \
                     VALUES (?1, ?2, ?3, ?4)",
                )?;
                let mut diag = tx.prepare_cached(
                    "INSERT INTO med_diagnosis (person_id, treated_on, operation, body) \
                     VALUES (?1, ?2, ?3, ?4)",
                )?;
                let mut chk = tx.prepare_cached(
                    "INSERT INTO med_checkup (person_id, checked_on, body) VALUES (?1, ?2, ?3)",
                )?;
                for (p, r) in batch {
                    for d in &r.drugs {
                        drug.execute(params![p, d.source.id(), day(d.dispensed_on), to_json(d)?])?;
                    }
                    for d in &r.diagnoses {
                        diag.execute(params![p, day(d.treated_on), d.operation, to_json(d)?])?;
                    }
                    for c in &r.checkups {
                        chk.execute(params![p, day(c.checked_on), to_json(c)?])?;
                    }
                }
            }
            tx.commit()?;
            Ok(())
        })
    }

    fn medical_records(
        &self,
        person: PersonId,
        from: Option<NaiveDate>,
        to: Option<NaiveDate>,
    ) -> Result<MedicalRecords> {
        let (from, to) = (
            from.map(day).unwrap_or_else(|| "0000-01-01".into()),
            to.map(day).unwrap_or_else(|| "9999-12-31".into()),
        );
        self.with_reader(|c| {
            let mut out = MedicalRecords::default();
            for (table, col) in [
                ("med_drug", "dispensed_on"),
                ("med_diagnosis", "treated_on"),
                ("med_checkup", "checked_on"),
            ] {
                let mut st = c.prepare_cached(&format!(
                    "SELECT body FROM {table} WHERE person_id = ?1 AND {col} BETWEEN ?2 AND ?3 \
                     ORDER BY {col}, id"
                ))?;
                let rows = st.query_map(params![person, from, to], |r| r.get::<_, String>(0))?;
                for body in rows {
                    let body = body?;
                    match table {
                        "med_drug" => out.drugs.push(from_json::<DrugRecord>(&body)?),
                        "med_diagnosis" => out.diagnoses.push(from_json::<DiagnosisRecord>(&body)?),
                        _ => out.checkups.push(from_json::<CheckupItem>(&body)?),
                    }
                }
            }
            Ok(out)
        })
    }

    fn record_consents(&self, grants: &[ConsentGrant]) -> Result<()> {
        self.with_history_writer(|w| {
            let tx = w.transaction()?;
            insert_consents(&tx, grants)?;
            tx.commit()?;
            Ok(())
        })
    }

    fn latest_consent(
        &self,
        person: PersonId,
        facility: &str,
        kind: MedicalInfoKind,
    ) -> Result<Option<ConsentGrant>> {
        self.with_history_reader(|c| {
            let row = c
                .prepare_cached(
                    "SELECT given_at, available_until FROM med_consent \
                     WHERE person_id = ?1 AND facility = ?2 AND kind = ?3 \
                     ORDER BY given_at DESC, id DESC LIMIT 1",
                )?
                .query_row(params![person, facility, kind.id()], |r| {
                    Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?))
                })
                .optional()?;
            row.map(|(g, a)| {
                Ok(ConsentGrant {
                    person_id: person,
                    facility: facility.to_string(),
                    kind,
                    given_at: ts_col(&g)?,
                    available_until: ts_col(&a)?,
                })
            })
            .transpose()
        })
    }

    fn record_view(&self, v: &MedicalView) -> Result<i64> {
        self.with_history_writer(|w| {
            w.prepare_cached(
                "INSERT INTO med_view (at, facility, person_id, kind, channel, granted) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            )?
            .execute(params![
                ts(v.at),
                v.facility,
                v.person_id,
                v.kind.id(),
                v.channel,
                v.granted
            ])?;
            Ok(w.last_insert_rowid())
        })
    }

    fn medical_views(&self, of: ViewsOf<'_>, limit: u32) -> Result<Vec<MedicalView>> {
        let (sql, arg): (&str, rusqlite::types::Value) = match of {
            ViewsOf::Facility(f) => ("facility = ?1", f.to_string().into()),
            ViewsOf::Person(p) => ("person_id = ?1", p.into()),
        };
        self.with_history_reader(|c| {
            let mut st = c.prepare_cached(&format!(
                "SELECT id, at, facility, person_id, kind, channel, granted FROM med_view \
                 WHERE {sql} ORDER BY id DESC LIMIT ?2"
            ))?;
            let rows = st.query_map(params![arg, limit], |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, i64>(3)?,
                    r.get::<_, String>(4)?,
                    r.get::<_, String>(5)?,
                    r.get::<_, bool>(6)?,
                ))
            })?;
            rows.map(|row| {
                let (id, at, facility, person_id, kind, channel, granted) = row?;
                Ok(MedicalView {
                    id,
                    at: ts_col(&at)?,
                    facility,
                    person_id,
                    kind: kind_col(&kind)?,
                    channel,
                    granted,
                })
            })
            .collect()
        })
    }
}
