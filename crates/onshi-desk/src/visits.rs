//! Visits: one record per reception, in the desk's own SQLite file beside the terminal's data
//! (`desk.sqlite`). A visit keeps its [`Situation`] (the decision is recomputed from it by the
//! one engine, `onshi_domain::desk::assess`), a log of each step — who did what, when, and the
//! decision it led to — and, once the patient has paid, the claim basis. A clerk reopens a
//! visit to add what is learned afterwards (事後的な確認, numbers the patient brings later, R20).
//!
//! The 被保険者資格申立書 lives in a table of its own so that it can be deleted completely once
//! the claim is settled (R27, [`VisitStore::purge_moushitatesho`]): the row is deleted, the
//! 摘要 text copied into the stored claim is cleared, and SQLite's `secure_delete` overwrites
//! the freed pages, so the declaration does not linger in the file.

use std::path::Path;
use std::sync::{Arc, Mutex};

use chrono::NaiveDate;
use onshi_central::clock::{Clock, SystemClock};
use onshi_domain::desk::{Claim, Decision, FacilityType, Moushitatesho, Presented, Situation};
use rusqlite::{Connection, OptionalExtension, params};
use serde::{Deserialize, Serialize};

/// Errors of the visit store.
#[derive(Debug, thiserror::Error)]
pub enum VisitError {
    #[error("visit store: {0}")]
    Sql(#[from] rusqlite::Error),
    #[error("visit store: stored JSON unreadable: {0}")]
    Json(#[from] serde_json::Error),
    #[error("visit {0} not found")]
    NotFound(i64),
    #[error("visit store: lock poisoned")]
    Poisoned,
    #[error("{0}")]
    Other(String),
}

const SCHEMA: &str = include_str!("visits.sql");

/// One step of a visit: who did what and what the engine said next.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StepRecord {
    pub at: String,
    pub staff: Option<String>,
    /// What was done, in Japanese (no content of the 申立書).
    pub action: String,
    /// The decision's next step code after it.
    pub next_step: String,
    pub share_percent: Option<u8>,
    pub claim_basis: Option<String>,
    pub rules: Vec<String>,
}

/// A visit as stored.
#[derive(Debug, Clone)]
pub struct Visit {
    pub id: i64,
    pub created_at: String,
    pub service_date: NaiveDate,
    pub facility: FacilityType,
    /// The patient's name as the card's result gave it, when it did.
    pub patient_label: Option<String>,
    pub birth_date: Option<NaiveDate>,
    /// The situation with the 申立書 put back in (or an empty one once purged).
    pub situation: Situation,
    pub charged_at: Option<String>,
    pub charged_percent: Option<u8>,
    /// The claim basis stored when the patient paid (and updated by later steps).
    pub claim: Option<Claim>,
    /// When the 申立書 was deleted (R27).
    pub form_purged_at: Option<String>,
    /// The card placed on the reader, when one was.
    pub card_serial: Option<String>,
    pub steps: Vec<StepRecord>,
}

/// A short line of the visit list.
#[derive(Debug, Clone)]
pub struct VisitSummary {
    pub id: i64,
    pub created_at: String,
    pub service_date: NaiveDate,
    pub patient_label: Option<String>,
    pub birth_date: Option<NaiveDate>,
    pub charged_percent: Option<u8>,
    pub claim: Option<Claim>,
    pub form_state: String,
}

/// A visit recorded while the central was unreachable (事後確認, R12, R17): on the worklist
/// until staff confirm it afterwards, by the outage-mode search or by card.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct AfterFact {
    pub visit_id: i64,
    /// when the central was found unreachable for this visit
    pub since: String,
    /// why, in Japanese
    pub cause: String,
    pub resolved_at: Option<String>,
    /// `outage_search` (システム障害時モードの検索) or `card` (マイナ保険証でのオンライン資格確認)
    pub source: Option<String>,
    /// for `outage_search`: the central's audit id of the search or choice
    pub audit_id: Option<i64>,
    pub staff: Option<String>,
}

/// The visit store (one SQLite file; one connection behind a mutex — a desk's load).
#[derive(Clone)]
pub struct VisitStore {
    conn: Arc<Mutex<Connection>>,
    /// Where the time of each step comes from (the terminal's clock at the desk; tests pin it).
    clock: Arc<dyn Clock>,
}

fn facility_code(f: FacilityType) -> &'static str {
    match f {
        FacilityType::Clinic => "clinic",
        FacilityType::Pharmacy => "pharmacy",
    }
}

fn form_state(s: &Situation) -> &'static str {
    match s.moushitatesho {
        Presented::NotAsked => "not_asked",
        Presented::Absent => "absent",
        Presented::Shown(_) => "shown",
    }
}

/// The situation as stored: without the 申立書's content (kept in its own table).
fn stored_situation(s: &Situation) -> Result<String, VisitError> {
    let mut bare = s.clone();
    if matches!(bare.moushitatesho, Presented::Shown(_)) {
        bare.moushitatesho = Presented::NotAsked;
    }
    Ok(serde_json::to_string(&bare)?)
}

impl VisitStore {
    /// Opens (or creates) the store at `path`.
    pub fn open(path: &Path) -> Result<Self, VisitError> {
        Self::open_with_clock(path, Arc::new(SystemClock))
    }

    /// Opens (or creates) the store at `path`, stamping steps with `clock`.
    pub fn open_with_clock(path: &Path, clock: Arc<dyn Clock>) -> Result<Self, VisitError> {
        let conn = Connection::open(path)?;
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        conn.execute_batch(SCHEMA)?;
        Ok(VisitStore {
            conn: Arc::new(Mutex::new(conn)),
            clock,
        })
    }

    /// Now in Japan, as stored (`2026-11-25T10:15:02+09:00`).
    fn now_jst(&self) -> String {
        self.clock
            .now_jst()
            .format("%Y-%m-%dT%H:%M:%S%:z")
            .to_string()
    }

    fn with<T>(
        &self,
        f: impl FnOnce(&mut Connection) -> Result<T, VisitError>,
    ) -> Result<T, VisitError> {
        let mut c = self.conn.lock().map_err(|_| VisitError::Poisoned)?;
        f(&mut c)
    }

    /// Starts a visit with its first situation.
    pub fn create(
        &self,
        s: &Situation,
        staff: Option<&str>,
        d: &Decision,
    ) -> Result<i64, VisitError> {
        let json = stored_situation(s)?;
        let id = self.with(|c| {
            c.execute(
                "INSERT INTO visit (created_at, service_date, facility, situation) VALUES (?1, ?2, ?3, ?4)",
                params![self.now_jst(), s.service_date.to_string(), facility_code(s.facility), json],
            )?;
            Ok(c.last_insert_rowid())
        })?;
        self.update(id, s, staff, "受付を開始", d)?;
        Ok(id)
    }

    /// Records a new situation after a step, with who did it and the decision it gives.
    pub fn update(
        &self,
        id: i64,
        s: &Situation,
        staff: Option<&str>,
        action: &str,
        d: &Decision,
    ) -> Result<(), VisitError> {
        let json = stored_situation(s)?;
        let form = s
            .moushitatesho
            .shown()
            .map(serde_json::to_string)
            .transpose()?;
        let state = form_state(s);
        self.with(|c| {
            let tx = c.transaction()?;
            let n = tx.execute(
                "UPDATE visit SET situation = ?2, form_state = CASE WHEN form_state = 'purged' AND ?3 = 'not_asked' THEN 'purged' ELSE ?3 END WHERE id = ?1",
                params![id, json, state],
            )?;
            if n == 0 {
                return Err(VisitError::NotFound(id));
            }
            if let Some(form) = form {
                tx.execute(
                    "INSERT INTO moushitatesho (visit_id, form, received_at) VALUES (?1, ?2, ?3)
                     ON CONFLICT(visit_id) DO UPDATE SET form = excluded.form",
                    params![id, form, self.now_jst()],
                )?;
            }
            tx.commit()?;
            Ok(())
        })?;
        if let Some(f) = s.equipment_failure
            && !f.oqs_reachable()
        {
            self.mark_unconfirmed(id, &format!("{}（中央に接続できない）", f.cause.label()))?;
        }
        self.log(id, staff, action, d)
    }

    /// Puts a visit on the 事後確認 worklist (kept once; a resolved visit stays resolved).
    pub fn mark_unconfirmed(&self, id: i64, cause: &str) -> Result<(), VisitError> {
        self.with(|c| {
            c.execute(
                "INSERT OR IGNORE INTO unconfirmed (visit_id, since, cause) VALUES (?1, ?2, ?3)",
                params![id, self.now_jst(), cause],
            )?;
            Ok(())
        })
    }

    /// Records how an unconfirmed visit was confirmed afterwards.
    pub fn resolve(
        &self,
        id: i64,
        source: &str,
        audit_id: Option<i64>,
        staff: Option<&str>,
    ) -> Result<(), VisitError> {
        self.with(|c| {
            let n = c.execute(
                "UPDATE unconfirmed SET resolved_at = ?2, source = ?3, audit_id = ?4, staff = ?5 WHERE visit_id = ?1 AND resolved_at IS NULL",
                params![id, self.now_jst(), source, audit_id, staff],
            )?;
            if n == 0 {
                return Err(VisitError::NotFound(id));
            }
            Ok(())
        })
    }

    /// The 事後確認 record of a visit, if it has one.
    pub fn after_fact(&self, id: i64) -> Result<Option<AfterFact>, VisitError> {
        self.with(|c| {
            Ok(c.query_row(
                "SELECT visit_id, since, cause, resolved_at, source, audit_id, staff FROM unconfirmed WHERE visit_id = ?1",
                params![id],
                after_fact_row,
            )
            .optional()?)
        })
    }

    /// The worklist: visits still unconfirmed, oldest first.
    pub fn unconfirmed(&self, limit: u32) -> Result<Vec<AfterFact>, VisitError> {
        self.with(|c| {
            let mut stmt = c.prepare(
                "SELECT visit_id, since, cause, resolved_at, source, audit_id, staff FROM unconfirmed WHERE resolved_at IS NULL ORDER BY visit_id LIMIT ?1",
            )?;
            let rows = stmt
                .query_map(params![limit], after_fact_row)?
                .collect::<Result<Vec<_>, _>>()?;
            Ok(rows)
        })
    }

    /// Sets the patient's name and birth date as the card's result gave them.
    pub fn set_patient(
        &self,
        id: i64,
        label: Option<&str>,
        birth: Option<NaiveDate>,
    ) -> Result<(), VisitError> {
        self.with(|c| {
            c.execute(
                "UPDATE visit SET patient_label = COALESCE(?2, patient_label), birth_date = COALESCE(?3, birth_date) WHERE id = ?1",
                params![id, label, birth.map(|b| b.to_string())],
            )?;
            Ok(())
        })
    }

    /// The card placed on the reader for this visit.
    pub fn set_card(&self, id: i64, serial: &str) -> Result<(), VisitError> {
        self.with(|c| {
            c.execute(
                "UPDATE visit SET card_serial = ?2 WHERE id = ?1",
                params![id, serial],
            )?;
            Ok(())
        })
    }

    pub fn card_of(&self, id: i64) -> Result<Option<String>, VisitError> {
        self.with(|c| {
            Ok(c.query_row(
                "SELECT card_serial FROM visit WHERE id = ?1",
                params![id],
                |r| r.get::<_, Option<String>>(0),
            )
            .optional()?
            .flatten())
        })
    }

    /// The patient paid: stores the share and the claim basis (R17–R20).
    pub fn charge(&self, id: i64, staff: Option<&str>, d: &Decision) -> Result<(), VisitError> {
        let claim = d.claim.as_ref().map(serde_json::to_string).transpose()?;
        let percent = d.share.as_ref().map(|s| s.percent);
        self.with(|c| {
            let n = c.execute(
                "UPDATE visit SET charged_at = COALESCE(charged_at, ?2), charged_percent = ?3, claim = ?4 WHERE id = ?1",
                params![id, self.now_jst(), percent, claim],
            )?;
            if n == 0 {
                return Err(VisitError::NotFound(id));
            }
            Ok(())
        })?;
        let label = match percent {
            Some(100) => "10割で会計".to_string(),
            Some(p) => format!("{}割で会計", p / 10),
            None => "会計".to_string(),
        };
        self.log(id, staff, &label, d)
    }

    /// Updates the stored claim after a later step (e.g. numbers brought later, R20).
    pub fn update_claim(&self, id: i64, d: &Decision) -> Result<(), VisitError> {
        let claim = d.claim.as_ref().map(serde_json::to_string).transpose()?;
        self.with(|c| {
            c.execute(
                "UPDATE visit SET claim = ?2 WHERE id = ?1 AND charged_at IS NOT NULL",
                params![id, claim],
            )?;
            Ok(())
        })
    }

    fn log(
        &self,
        id: i64,
        staff: Option<&str>,
        action: &str,
        d: &Decision,
    ) -> Result<(), VisitError> {
        let basis = d.claim.as_ref().map(|c| {
            serde_json::to_value(c.basis)
                .ok()
                .and_then(|v| v.as_str().map(str::to_string))
                .unwrap_or_default()
        });
        let next = serde_json::to_value(d.next_step.step)?
            .as_str()
            .unwrap_or_default()
            .to_string();
        let rules = serde_json::to_string(&d.rules)?;
        self.with(|c| {
            c.execute(
                "INSERT INTO visit_step (visit_id, at, staff, action, next_step, share_percent, claim_basis, rules) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                params![id, self.now_jst(), staff, action, next, d.share.as_ref().map(|s| s.percent), basis, rules],
            )?;
            Ok(())
        })
    }

    /// One visit with its steps.
    pub fn get(&self, id: i64) -> Result<Visit, VisitError> {
        self.with(|c| {
            let row = c
                .query_row(
                    "SELECT id, created_at, service_date, facility, patient_label, birth_date, situation, form_state, charged_at, charged_percent, claim, form_purged_at, card_serial FROM visit WHERE id = ?1",
                    params![id],
                    |r| {
                        Ok((
                            r.get::<_, i64>(0)?,
                            r.get::<_, String>(1)?,
                            r.get::<_, String>(2)?,
                            r.get::<_, String>(3)?,
                            r.get::<_, Option<String>>(4)?,
                            r.get::<_, Option<String>>(5)?,
                            r.get::<_, String>(6)?,
                            r.get::<_, String>(7)?,
                            r.get::<_, Option<String>>(8)?,
                            r.get::<_, Option<u8>>(9)?,
                            r.get::<_, Option<String>>(10)?,
                            r.get::<_, Option<String>>(11)?,
                            r.get::<_, Option<String>>(12)?,
                        ))
                    },
                )
                .optional()?
                .ok_or(VisitError::NotFound(id))?;
            let form: Option<String> = c
                .query_row(
                    "SELECT form FROM moushitatesho WHERE visit_id = ?1",
                    params![id],
                    |r| r.get(0),
                )
                .optional()?;
            let mut situation: Situation = serde_json::from_str(&row.6)?;
            situation.moushitatesho = match (row.7.as_str(), form) {
                ("shown", Some(f)) => Presented::Shown(serde_json::from_str::<Moushitatesho>(&f)?),
                ("absent", _) => Presented::Absent,
                // purged (R27): the form was submitted; its content is gone
                ("purged", _) | ("shown", None) => Presented::Shown(Moushitatesho::default()),
                _ => Presented::NotAsked,
            };
            let mut stmt = c.prepare(
                "SELECT at, staff, action, next_step, share_percent, claim_basis, rules FROM visit_step WHERE visit_id = ?1 ORDER BY id",
            )?;
            let steps = stmt
                .query_map(params![id], |r| {
                    let rules: String = r.get(6)?;
                    Ok(StepRecord {
                        at: r.get(0)?,
                        staff: r.get(1)?,
                        action: r.get(2)?,
                        next_step: r.get(3)?,
                        share_percent: r.get(4)?,
                        claim_basis: r.get(5)?,
                        rules: serde_json::from_str(&rules).unwrap_or_default(),
                    })
                })?
                .collect::<Result<Vec<_>, _>>()?;
            Ok(Visit {
                id: row.0,
                created_at: row.1,
                service_date: row.2.parse().unwrap_or(situation.service_date),
                facility: if row.3 == "pharmacy" {
                    FacilityType::Pharmacy
                } else {
                    FacilityType::Clinic
                },
                patient_label: row.4,
                birth_date: row.5.and_then(|b| b.parse().ok()),
                situation,
                charged_at: row.8,
                charged_percent: row.9,
                claim: row.10.map(|c| serde_json::from_str(&c)).transpose()?,
                form_purged_at: row.11,
                card_serial: row.12,
                steps,
            })
        })
    }

    /// The latest visits, newest first.
    pub fn list(&self, limit: u32) -> Result<Vec<VisitSummary>, VisitError> {
        self.with(|c| {
            let mut stmt = c.prepare(
                "SELECT id, created_at, service_date, patient_label, birth_date, charged_percent, claim, form_state FROM visit ORDER BY id DESC LIMIT ?1",
            )?;
            let rows = stmt
                .query_map(params![limit], |r| {
                    Ok((
                        r.get::<_, i64>(0)?,
                        r.get::<_, String>(1)?,
                        r.get::<_, String>(2)?,
                        r.get::<_, Option<String>>(3)?,
                        r.get::<_, Option<String>>(4)?,
                        r.get::<_, Option<u8>>(5)?,
                        r.get::<_, Option<String>>(6)?,
                        r.get::<_, String>(7)?,
                    ))
                })?
                .collect::<Result<Vec<_>, _>>()?;
            rows.into_iter()
                .map(|r| {
                    Ok(VisitSummary {
                        id: r.0,
                        created_at: r.1,
                        service_date: r.2.parse().unwrap_or_default(),
                        patient_label: r.3,
                        birth_date: r.4.and_then(|b| b.parse().ok()),
                        charged_percent: r.5,
                        claim: r.6.map(|c| serde_json::from_str(&c)).transpose()?,
                        form_state: r.7,
                    })
                })
                .collect()
        })
    }

    /// The ids of the visits whose day of service lies between `first` and `last`, in order.
    pub fn ids_between(&self, first: NaiveDate, last: NaiveDate) -> Result<Vec<i64>, VisitError> {
        self.with(|c| {
            let mut stmt = c.prepare(
                "SELECT id FROM visit WHERE service_date >= ?1 AND service_date <= ?2 ORDER BY service_date, id",
            )?;
            let ids = stmt
                .query_map(params![first.to_string(), last.to_string()], |r| r.get(0))?
                .collect::<Result<Vec<i64>, _>>()?;
            Ok(ids)
        })
    }

    /// Deletes the 申立書 of a visit completely once its claim is settled (R27): the form's
    /// row, and the 摘要 text (which repeats the form's address, employer and phone) in the
    /// stored claim. The visit keeps that a form was submitted and when it was deleted.
    /// Returns whether there was a form to delete.
    pub fn purge_moushitatesho(&self, id: i64) -> Result<bool, VisitError> {
        let purged = self.with(|c| {
            let tx = c.transaction()?;
            let claim: Option<Option<String>> = tx
                .query_row("SELECT claim FROM visit WHERE id = ?1", params![id], |r| r.get(0))
                .optional()?;
            let Some(claim) = claim else {
                return Err(VisitError::NotFound(id));
            };
            let deleted = tx.execute("DELETE FROM moushitatesho WHERE visit_id = ?1", params![id])?;
            if let Some(claim) = claim {
                let mut claim: Claim = serde_json::from_str(&claim)?;
                claim.tekiyou = None;
                if let Some(file) = claim.file.as_mut()
                    && !file.comments.is_empty()
                {
                    // the 不詳 comments repeat the form's address, employer and phone (R20)
                    file.comments.truncate(1);
                }
                tx.execute(
                    "UPDATE visit SET claim = ?2 WHERE id = ?1",
                    params![id, serde_json::to_string(&claim)?],
                )?;
            }
            tx.execute(
                "UPDATE visit SET form_state = 'purged', form_purged_at = ?2 WHERE id = ?1 AND form_state = 'shown'",
                params![id, self.now_jst()],
            )?;
            tx.commit()?;
            Ok(deleted > 0)
        })?;
        if purged {
            // also drop freed pages from the file
            self.with(|c| {
                c.execute_batch("VACUUM")?;
                Ok(())
            })?;
        }
        Ok(purged)
    }
}

fn after_fact_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<AfterFact> {
    Ok(AfterFact {
        visit_id: r.get(0)?,
        since: r.get(1)?,
        cause: r.get(2)?,
        resolved_at: r.get(3)?,
        source: r.get(4)?,
        audit_id: r.get(5)?,
        staff: r.get(6)?,
    })
}

/// Deletes the 申立書 of a visit once its claim is settled (R27). The claims work calls this.
pub fn purge(store: &VisitStore, visit_id: i64) -> Result<bool, VisitError> {
    store.purge_moushitatesho(visit_id)
}
