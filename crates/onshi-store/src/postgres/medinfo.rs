//! The medical-information tables (R2) on PostgreSQL (`migrations/V4__medinfo.sql`).

use chrono::{NaiveDate, NaiveDateTime};
use onshi_domain::medinfo::{ConsentGrant, MedicalInfoKind, MedicalRecords, MedicalView};

use super::PostgresStore;
use crate::medinfo::{MedicalInfoStore, ViewsOf, from_json, kind_col, to_json};
use crate::{PersonId, Result};

impl MedicalInfoStore for PostgresStore {
    fn add_medical_records(&self, batch: &[(PersonId, MedicalRecords)]) -> Result<()> {
        self.block(async {
            let mut c = self.conn().await?;
            let tx = c.transaction().await?;
            let drug = tx
                .prepare(
                    "INSERT INTO med_drug (person_id, source, dispensed_on, body) \
                     VALUES ($1, $2, $3, $4)",
                )
                .await?;
            let diag = tx
                .prepare(
                    "INSERT INTO med_diagnosis (person_id, treated_on, operation, body) \
                     VALUES ($1, $2, $3, $4)",
                )
                .await?;
            let chk = tx
                .prepare(
                    "INSERT INTO med_checkup (person_id, checked_on, body) VALUES ($1, $2, $3)",
                )
                .await?;
            for (p, r) in batch {
                for d in &r.drugs {
                    tx.execute(&drug, &[p, &d.source.id(), &d.dispensed_on, &to_json(d)?])
                        .await?;
                }
                for d in &r.diagnoses {
                    tx.execute(&diag, &[p, &d.treated_on, &d.operation, &to_json(d)?])
                        .await?;
                }
                for k in &r.checkups {
                    tx.execute(&chk, &[p, &k.checked_on, &to_json(k)?]).await?;
                }
            }
            tx.commit().await?;
            Ok(())
        })
    }

    fn medical_records(
        &self,
        person: PersonId,
        from: Option<NaiveDate>,
        to: Option<NaiveDate>,
    ) -> Result<MedicalRecords> {
        self.block(async {
            let c = self.conn().await?;
            let mut out = MedicalRecords::default();
            for (table, col) in [
                ("med_drug", "dispensed_on"),
                ("med_diagnosis", "treated_on"),
                ("med_checkup", "checked_on"),
            ] {
                let st = c
                    .prepare_cached(&format!(
                        "SELECT body FROM {table} WHERE person_id = $1 \
                         AND ($2::date IS NULL OR {col} >= $2) \
                         AND ($3::date IS NULL OR {col} <= $3) ORDER BY {col}, id"
                    ))
                    .await?;
                for r in c.query(&st, &[&person, &from, &to]).await? {
                    let body: String = r.try_get(0)?;
                    match table {
                        "med_drug" => out.drugs.push(from_json(&body)?),
                        "med_diagnosis" => out.diagnoses.push(from_json(&body)?),
                        _ => out.checkups.push(from_json(&body)?),
                    }
                }
            }
            Ok(out)
        })
    }

    fn record_consents(&self, grants: &[ConsentGrant]) -> Result<()> {
        self.block(async {
            let c = self.conn().await?;
            // one statement: committed as one
            insert_consents(&c, grants).await
        })
    }

    fn latest_consent(
        &self,
        person: PersonId,
        facility: &str,
        kind: MedicalInfoKind,
    ) -> Result<Option<ConsentGrant>> {
        self.block(async {
            let c = self.conn().await?;
            let st = c
                .prepare_cached(
                    "SELECT given_at, available_until FROM med_consent \
                     WHERE person_id = $1 AND facility = $2 AND kind = $3 \
                     ORDER BY given_at DESC, id DESC LIMIT 1",
                )
                .await?;
            c.query_opt(&st, &[&person, &facility, &kind.id()])
                .await?
                .map(|r| {
                    Ok(ConsentGrant {
                        person_id: person,
                        facility: facility.to_string(),
                        kind,
                        given_at: r.try_get::<_, NaiveDateTime>(0)?,
                        available_until: r.try_get::<_, NaiveDateTime>(1)?,
                    })
                })
                .transpose()
        })
    }

    fn record_view(&self, v: &MedicalView) -> Result<i64> {
        self.block(async {
            let c = self.conn().await?;
            let r = c
                .query_one(
                    "INSERT INTO med_view (at, facility, person_id, kind, channel, granted) \
                     VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
                    &[
                        &v.at,
                        &v.facility,
                        &v.person_id,
                        &v.kind.id(),
                        &v.channel,
                        &v.granted,
                    ],
                )
                .await?;
            Ok(r.try_get(0)?)
        })
    }

    fn medical_views(&self, of: ViewsOf<'_>, limit: u32) -> Result<Vec<MedicalView>> {
        self.block(async {
            let c = self.conn().await?;
            let cols = "SELECT id, at, facility, person_id, kind, channel, granted FROM med_view";
            let limit = i64::from(limit);
            let rows = match of {
                ViewsOf::Facility(f) => {
                    c.query(
                        &format!("{cols} WHERE facility = $1 ORDER BY id DESC LIMIT $2"),
                        &[&f, &limit],
                    )
                    .await?
                }
                ViewsOf::Person(p) => {
                    c.query(
                        &format!("{cols} WHERE person_id = $1 ORDER BY id DESC LIMIT $2"),
                        &[&p, &limit],
                    )
                    .await?
                }
            };
            rows.iter()
                .map(|r| {
                    Ok(MedicalView {
                        id: r.try_get(0)?,
                        at: r.try_get(1)?,
                        facility: r.try_get(2)?,
                        person_id: r.try_get(3)?,
                        kind: kind_col(&r.try_get::<_, String>(4)?)?,
                        channel: r.try_get(5)?,
                        granted: r.try_get(6)?,
                    })
                })
                .collect()
        })
    }
}

/// Writes consents with one statement on `c` (a connection, or the transaction of the
/// confirmations that carry them).
pub(super) async fn insert_consents<C: deadpool_postgres::GenericClient>(
    c: &C,
    grants: &[ConsentGrant],
) -> Result<()> {
    if grants.is_empty() {
        return Ok(());
    }
    let person: Vec<PersonId> = grants.iter().map(|g| g.person_id).collect();
    let facility: Vec<&str> = grants.iter().map(|g| g.facility.as_str()).collect();
    let kind: Vec<&str> = grants.iter().map(|g| g.kind.id()).collect();
    let given: Vec<NaiveDateTime> = grants.iter().map(|g| g.given_at).collect();
    let until: Vec<NaiveDateTime> = grants.iter().map(|g| g.available_until).collect();
    let st = c
        .prepare_cached(
            "INSERT INTO med_consent (person_id, facility, kind, given_at, available_until) \
             SELECT * FROM unnest($1::int8[], $2::text[], $3::text[], $4::timestamp[], \
             $5::timestamp[])",
        )
        .await?;
    c.execute(&st, &[&person, &facility, &kind, &given, &until])
        .await?;
    Ok(())
}
