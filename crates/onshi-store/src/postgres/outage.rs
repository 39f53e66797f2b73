//! The outage-mode tables (R12–R14) on PostgreSQL: the same rules as on SQLite. Each write is
//! one transaction; the request row is locked (`FOR UPDATE`) before a step reads its state,
//! and a partial unique index keeps one open request per facility whatever the concurrency.

use deadpool_postgres::{GenericClient, Object};
use onshi_domain::numbers::MedicalInstitutionCode;
use tokio_postgres::Row;

use super::{
    Filtered, PERSON_COLS, PostgresStore, QUAL_COLS, corrupt, person_from_offset, qual_from_offset,
};
use crate::outage::{
    AuditEntry, AuditFilter, AuditKind, FacilityContact, NewRequest, Operator, OutageEvent,
    OutageRequest, OutageState, OutageStore, PersonQuery, PersonWithHistory, RequestFilter, Step,
};
use crate::{PersonId, Result, StoreError};

const REQ_COLS: &str = "id, facility, facility_name, contact_person, reason, state, \
    requested_at, requested_by, verified_at, verified_by, callback_phone, form_issued_at, \
    form_issued_by, form_email, enabled_at, enabled_by, window_until, closed_at, closed_by, \
    reported_at, reported_by, report, cancelled_at, cancelled_by";

const OPEN_STATES: &str = "('requested', 'verified', 'form_issued', 'enabled')";

/// The search's one statement: the matching persons (at most `limit`, by id, as
/// [`OutageStore::search_person_ids`] finds them) each with every qualification row, one row
/// per qualification (a person without any gives one row of nulls on the right).
fn search_with_history(person_where: &str, limit_param: usize) -> String {
    let q_cols: Vec<String> = QUAL_COLS
        .split(',')
        .map(|c| format!("q.{}", c.trim()))
        .collect();
    format!(
        "SELECT p.*, {} FROM (SELECT {PERSON_COLS} FROM person WHERE {person_where} \
         ORDER BY id LIMIT ${limit_param}) p LEFT JOIN qualification q ON q.person_id = p.id \
         ORDER BY p.id, q.qualification_date, q.id",
        q_cols.join(", ")
    )
}

/// [`search_with_history`] by the index `person_by_kana_birth` (kana key, birth date).
static BY_KANA_WITH_HISTORY: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    search_with_history(
        "kana_key = $1 AND birthdate = $2 AND sex = $3 AND ($4::text IS NULL OR name_key = $4)",
        5,
    )
});

/// [`search_with_history`] by the index `person_by_name_birth` (name key, birth date).
static BY_NAME_WITH_HISTORY: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    search_with_history("name_key = $1 AND birthdate = $2 AND sex = $3", 4)
});

/// The persons and histories of the rows of [`search_with_history`], in its order.
fn persons_with_history(rows: &[Row]) -> Result<Vec<PersonWithHistory>> {
    /// where the qualification's columns start: after the person's
    const QUAL_AT: usize = 7;
    let mut out: Vec<PersonWithHistory> = Vec::new();
    for r in rows {
        let id: i64 = r.try_get(0)?;
        if out.last().is_none_or(|(p, _)| p.id != id) {
            out.push((person_from_offset(r, 0)?, Vec::new()));
        }
        if r.try_get::<_, Option<i64>>(QUAL_AT)?.is_some()
            && let Some((_, quals)) = out.last_mut()
        {
            quals.push(qual_from_offset(r, QUAL_AT)?);
        }
    }
    Ok(out)
}

fn request_from_row(r: &Row) -> Result<OutageRequest> {
    let state: String = r.try_get(5)?;
    let report: Option<String> = r.try_get(21)?;
    Ok(OutageRequest {
        id: r.try_get(0)?,
        facility: r.try_get(1)?,
        facility_name: r.try_get(2)?,
        contact_person: r.try_get(3)?,
        reason: r.try_get(4)?,
        state: OutageState::parse(&state).ok_or_else(|| corrupt("outage_request.state", &state))?,
        requested_at: r.try_get(6)?,
        requested_by: r.try_get(7)?,
        verified_at: r.try_get(8)?,
        verified_by: r.try_get(9)?,
        callback_phone: r.try_get(10)?,
        form_issued_at: r.try_get(11)?,
        form_issued_by: r.try_get(12)?,
        form_email: r.try_get(13)?,
        enabled_at: r.try_get(14)?,
        enabled_by: r.try_get(15)?,
        window_until: r.try_get(16)?,
        closed_at: r.try_get(17)?,
        closed_by: r.try_get(18)?,
        reported_at: r.try_get(19)?,
        reported_by: r.try_get(20)?,
        report: report
            .map(|s| serde_json::from_str(&s))
            .transpose()
            .map_err(|e| corrupt("outage_request.report", e))?,
        cancelled_at: r.try_get(22)?,
        cancelled_by: r.try_get(23)?,
    })
}

async fn request_by_id(
    c: &impl GenericClient,
    id: i64,
    for_update: bool,
) -> Result<Option<OutageRequest>> {
    let lock = if for_update { " FOR UPDATE" } else { "" };
    c.query_opt(
        &format!("SELECT {REQ_COLS} FROM outage_request WHERE id = $1{lock}"),
        &[&id],
    )
    .await?
    .map(|r| request_from_row(&r))
    .transpose()
}

async fn insert_event(c: &impl GenericClient, e: &OutageEvent) -> Result<i64> {
    let r = c
        .query_one(
            "INSERT INTO outage_event (request_id, facility, at, actor, action, detail) \
             VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
            &[
                &e.request_id,
                &e.facility,
                &e.at,
                &e.actor,
                &e.action,
                &e.detail.to_string(),
            ],
        )
        .await?;
    Ok(r.try_get(0)?)
}

fn event_from_row(r: &Row) -> Result<OutageEvent> {
    let detail: String = r.try_get(6)?;
    Ok(OutageEvent {
        id: r.try_get(0)?,
        request_id: r.try_get(1)?,
        facility: r.try_get(2)?,
        at: r.try_get(3)?,
        actor: r.try_get(4)?,
        action: r.try_get(5)?,
        detail: serde_json::from_str(&detail).map_err(|e| corrupt("outage_event.detail", e))?,
    })
}

const AUDIT_COLS: &str = "id, facility, request_id, at, staff_id, kind, criteria, hits, \
    hit_person_ids, search_id, chosen_person_id, outcome, message";

fn audit_from_row(r: &Row) -> Result<AuditEntry> {
    let kind: String = r.try_get(5)?;
    let criteria: String = r.try_get(6)?;
    let hits: Option<i32> = r.try_get(7)?;
    Ok(AuditEntry {
        id: r.try_get(0)?,
        facility: r.try_get(1)?,
        request_id: r.try_get(2)?,
        at: r.try_get(3)?,
        staff_id: r.try_get(4)?,
        kind: AuditKind::parse(&kind).ok_or_else(|| corrupt("outage_audit.kind", &kind))?,
        criteria: serde_json::from_str(&criteria)
            .map_err(|e| corrupt("outage_audit.criteria", e))?,
        hits: hits
            .map(u32::try_from)
            .transpose()
            .map_err(|e| corrupt("outage_audit.hits", e))?,
        hit_person_ids: r.try_get(8)?,
        search_id: r.try_get(9)?,
        chosen_person_id: r.try_get(10)?,
        outcome: r.try_get(11)?,
        message: r.try_get(12)?,
    })
}

fn limit_of(l: Option<u32>) -> i64 {
    i64::from(l.unwrap_or(100).clamp(1, 1000))
}

/// A unique violation (another open request of the facility) as the store's `Conflict`.
fn open_request_conflict(e: tokio_postgres::Error, facility: &str) -> StoreError {
    if e.code() == Some(&tokio_postgres::error::SqlState::UNIQUE_VIOLATION) {
        StoreError::Conflict(format!("facility {facility} already has an open request"))
    } else {
        e.into()
    }
}

impl PostgresStore {
    fn outage<T>(&self, f: impl AsyncFnOnce(&mut Object) -> Result<T>) -> Result<T> {
        self.block(async {
            let mut c = self.conn().await?;
            f(&mut c).await
        })
    }
}

impl OutageStore for PostgresStore {
    fn upsert_operator(&self, name: &str, token_hash: &str, at: &str) -> Result<Operator> {
        self.outage(async |c| {
            let r = c
                .query_one(
                    "INSERT INTO outage_operator (name, token_hash, created_at) \
                     VALUES ($1, $2, $3) ON CONFLICT (name) DO UPDATE \
                     SET token_hash = EXCLUDED.token_hash RETURNING id",
                    &[&name, &token_hash, &at],
                )
                .await?;
            Ok(Operator {
                id: r.try_get(0)?,
                name: name.to_string(),
            })
        })
    }

    fn operator_by_token_hash(&self, token_hash: &str) -> Result<Option<Operator>> {
        self.outage(async |c| {
            c.query_opt(
                "SELECT id, name FROM outage_operator WHERE token_hash = $1",
                &[&token_hash],
            )
            .await?
            .map(|r| {
                Ok(Operator {
                    id: r.try_get(0)?,
                    name: r.try_get(1)?,
                })
            })
            .transpose()
        })
    }

    fn set_facility_contact(
        &self,
        facility: &MedicalInstitutionCode,
        phone: &str,
        email: Option<&str>,
        at: &str,
    ) -> Result<()> {
        self.outage(async |c| {
            let tx = c.transaction().await?;
            let known = tx
                .query_opt(
                    "SELECT code FROM facility WHERE code = $1 FOR SHARE",
                    &[&facility.as_str()],
                )
                .await?;
            if known.is_none() {
                return Err(StoreError::Conflict(format!(
                    "facility {} is not registered (add it first)",
                    facility.as_str()
                )));
            }
            tx.execute(
                "INSERT INTO outage_facility_contact (facility, phone, email, updated_at) \
                 VALUES ($1, $2, $3, $4) ON CONFLICT (facility) DO UPDATE SET \
                 phone = EXCLUDED.phone, email = EXCLUDED.email, updated_at = EXCLUDED.updated_at",
                &[&facility.as_str(), &phone, &email, &at],
            )
            .await?;
            tx.commit().await?;
            Ok(())
        })
    }

    fn facility_contact(&self, facility: &str) -> Result<Option<FacilityContact>> {
        self.outage(async |c| {
            c.query_opt(
                "SELECT c.facility, f.name, c.phone, c.email, c.updated_at \
                 FROM outage_facility_contact c JOIN facility f ON f.code = c.facility \
                 WHERE c.facility = $1",
                &[&facility],
            )
            .await?
            .map(|r| {
                Ok(FacilityContact {
                    facility: r.try_get(0)?,
                    registered_name: r.try_get(1)?,
                    phone: r.try_get(2)?,
                    email: r.try_get(3)?,
                    updated_at: r.try_get(4)?,
                })
            })
            .transpose()
        })
    }

    fn facility_name(&self, facility: &str) -> Result<Option<String>> {
        self.outage(async |c| {
            c.query_opt("SELECT name FROM facility WHERE code = $1", &[&facility])
                .await?
                .map(|r| Ok(r.try_get(0)?))
                .transpose()
        })
    }

    fn create_request(&self, n: &NewRequest) -> Result<OutageRequest> {
        let facility = n.facility.as_str();
        self.outage(async |c| {
            let tx = c.transaction().await?;
            let open = tx
                .query_opt(
                    &format!(
                        "SELECT id, state FROM outage_request WHERE facility = $1 \
                         AND state IN {OPEN_STATES} ORDER BY id DESC LIMIT 1"
                    ),
                    &[&facility],
                )
                .await?;
            if let Some(r) = open {
                let id: i64 = r.try_get(0)?;
                let state: String = r.try_get(1)?;
                return Err(StoreError::Conflict(format!(
                    "facility {facility} already has request {id} in state {state}"
                )));
            }
            let r = tx
                .query_one(
                    "INSERT INTO outage_request (facility, facility_name, contact_person, \
                     reason, state, requested_at, requested_by) \
                     VALUES ($1, $2, $3, $4, 'requested', $5, $6) RETURNING id",
                    &[
                        &facility,
                        &n.facility_name,
                        &n.contact_person,
                        &n.reason,
                        &n.at,
                        &n.by,
                    ],
                )
                .await
                .map_err(|e| open_request_conflict(e, facility))?;
            let id: i64 = r.try_get(0)?;
            insert_event(
                &tx,
                &OutageEvent {
                    id: 0,
                    request_id: Some(id),
                    facility: facility.to_string(),
                    at: n.at.clone(),
                    actor: n.by.clone(),
                    action: "request".into(),
                    detail: serde_json::json!({
                        "facility_name": n.facility_name,
                        "contact_person": n.contact_person,
                        "reason": n.reason,
                    }),
                },
            )
            .await?;
            let out = request_by_id(&tx, id, false)
                .await?
                .ok_or_else(|| StoreError::Corrupt(format!("request {id} vanished")))?;
            tx.commit()
                .await
                .map_err(|e| open_request_conflict(e, facility))?;
            Ok(out)
        })
    }

    fn request(&self, id: i64) -> Result<Option<OutageRequest>> {
        self.outage(async |c| request_by_id(&*c, id, false).await)
    }

    fn list_requests(&self, f: &RequestFilter) -> Result<Vec<OutageRequest>> {
        let mut q = Filtered::new(
            &format!("SELECT {REQ_COLS} FROM outage_request WHERE true"),
            None,
        );
        q.and("facility =", f.facility.clone());
        q.and("state =", f.state.map(|s| s.code().to_string()));
        q.and("id <", f.before_id);
        self.outage(async |c| {
            let rows = q.newest_first(c, limit_of(f.limit)).await?;
            rows.iter().map(request_from_row).collect()
        })
    }

    fn apply_step(&self, id: i64, step: &Step, at: &str, by: &str) -> Result<OutageRequest> {
        self.outage(async |c| {
            let tx = c.transaction().await?;
            let current = request_by_id(&tx, id, true)
                .await?
                .ok_or_else(|| StoreError::Conflict(format!("no outage request {id}")))?;
            if !step.allowed_from().contains(&current.state) {
                return Err(StoreError::Conflict(format!(
                    "request {id} is {}; {} is allowed only from {}",
                    current.state.code(),
                    step.code(),
                    step.allowed_from()
                        .iter()
                        .map(|s| s.code())
                        .collect::<Vec<_>>()
                        .join(", ")
                )));
            }
            let target = step.target().code();
            let (sql, extra): (&str, Option<String>) = match step {
                Step::Verify { phone } => (
                    "UPDATE outage_request SET state = $2, verified_at = $3, verified_by = $4, \
                     callback_phone = $5 WHERE id = $1",
                    Some(phone.clone()),
                ),
                Step::IssueForm { email } => (
                    "UPDATE outage_request SET state = $2, form_issued_at = $3, \
                     form_issued_by = $4, form_email = $5 WHERE id = $1",
                    Some(email.clone()),
                ),
                Step::Enable { until } => (
                    "UPDATE outage_request SET state = $2, enabled_at = $3, enabled_by = $4, \
                     window_until = $5 WHERE id = $1",
                    Some(until.clone()),
                ),
                Step::Close => (
                    "UPDATE outage_request SET state = $2, closed_at = $3, closed_by = $4 \
                     WHERE id = $1",
                    None,
                ),
                Step::Report { report } => (
                    "UPDATE outage_request SET state = $2, reported_at = $3, reported_by = $4, \
                     report = $5 WHERE id = $1",
                    Some(report.to_string()),
                ),
                Step::Cancel => (
                    "UPDATE outage_request SET state = $2, cancelled_at = $3, cancelled_by = $4 \
                     WHERE id = $1",
                    None,
                ),
            };
            match &extra {
                Some(x) => tx.execute(sql, &[&id, &target, &at, &by, x]).await?,
                None => tx.execute(sql, &[&id, &target, &at, &by]).await?,
            };
            let detail = serde_json::to_value(step).unwrap_or(serde_json::Value::Null);
            insert_event(
                &tx,
                &OutageEvent {
                    id: 0,
                    request_id: Some(id),
                    facility: current.facility.clone(),
                    at: at.to_string(),
                    actor: by.to_string(),
                    action: step.code().to_string(),
                    detail,
                },
            )
            .await?;
            let out = request_by_id(&tx, id, false)
                .await?
                .ok_or_else(|| StoreError::Corrupt(format!("request {id} vanished")))?;
            tx.commit().await?;
            Ok(out)
        })
    }

    fn enabled_request(&self, facility: &str) -> Result<Option<OutageRequest>> {
        self.outage(async |c| {
            let st = c
                .prepare_cached(&format!(
                    "SELECT {REQ_COLS} FROM outage_request WHERE facility = $1 \
                     AND state = 'enabled' ORDER BY id DESC LIMIT 1"
                ))
                .await?;
            c.query_opt(&st, &[&facility])
                .await?
                .map(|r| request_from_row(&r))
                .transpose()
        })
    }

    fn append_event(&self, e: &OutageEvent) -> Result<i64> {
        self.outage(async |c| insert_event(&*c, e).await)
    }

    fn events(&self, request_id: i64) -> Result<Vec<OutageEvent>> {
        self.outage(async |c| {
            let rows = c
                .query(
                    "SELECT id, request_id, facility, at, actor, action, detail FROM outage_event \
                     WHERE request_id = $1 ORDER BY id",
                    &[&request_id],
                )
                .await?;
            rows.iter().map(event_from_row).collect()
        })
    }

    fn facility_events(&self, facility: &str, limit: u32) -> Result<Vec<OutageEvent>> {
        self.outage(async |c| {
            let rows = c
                .query(
                    "SELECT id, request_id, facility, at, actor, action, detail FROM outage_event \
                     WHERE facility = $1 ORDER BY id DESC LIMIT $2",
                    &[&facility, &limit_of(Some(limit))],
                )
                .await?;
            rows.iter().map(event_from_row).collect()
        })
    }

    fn search_person_ids(&self, q: &PersonQuery) -> Result<Vec<PersonId>> {
        let limit = i64::from(q.limit.max(1));
        let sex = q.sex.code();
        // the registry's persons: on the replica when there is one
        self.read(async |c| {
            let rows = match (&q.kana_key, &q.name_key) {
                // person_by_kana_birth (kana_key, birthdate)
                (Some(k), name) => {
                    let st = c
                        .prepare_cached(
                            "SELECT id FROM person WHERE kana_key = $1 AND birthdate = $2 \
                             AND sex = $3 AND ($4::text IS NULL OR name_key = $4) \
                             ORDER BY id LIMIT $5",
                        )
                        .await?;
                    c.query(&st, &[k, &q.birthdate, &sex, name, &limit]).await?
                }
                // person_by_name_birth (name_key, birthdate)
                (None, Some(n)) => {
                    let st = c
                        .prepare_cached(
                            "SELECT id FROM person WHERE name_key = $1 AND birthdate = $2 \
                             AND sex = $3 ORDER BY id LIMIT $4",
                        )
                        .await?;
                    c.query(&st, &[n, &q.birthdate, &sex, &limit]).await?
                }
                (None, None) => {
                    return Err(StoreError::Conflict(
                        "a person search needs a kana key or a name key".into(),
                    ));
                }
            };
            rows.iter().map(|r| Ok(r.try_get(0)?)).collect()
        })
    }

    fn search_persons_with_history(
        &self,
        q: &PersonQuery,
    ) -> Option<Result<Vec<PersonWithHistory>>> {
        let limit = i64::from(q.limit.max(1));
        let sex = q.sex.code();
        // the registry's persons: on the replica when there is one
        Some(self.read(async |c| {
            let rows = match (&q.kana_key, &q.name_key) {
                (Some(k), name) => {
                    let st = c.prepare_cached(&BY_KANA_WITH_HISTORY).await?;
                    c.query(&st, &[k, &q.birthdate, &sex, name, &limit]).await?
                }
                (None, Some(n)) => {
                    let st = c.prepare_cached(&BY_NAME_WITH_HISTORY).await?;
                    c.query(&st, &[n, &q.birthdate, &sex, &limit]).await?
                }
                (None, None) => {
                    return Err(StoreError::Conflict(
                        "a person search needs a kana key or a name key".into(),
                    ));
                }
            };
            persons_with_history(&rows)
        }))
    }

    fn append_audit(&self, a: &AuditEntry) -> Result<i64> {
        self.outage(async |c| insert_audit(&*c, a).await)
    }

    fn append_audits(&self, entries: &[AuditEntry]) -> Result<Vec<i64>> {
        if entries.is_empty() {
            return Ok(Vec::new());
        }
        self.outage(async |c| insert_audits(&*c, entries).await)
    }

    fn audit_entry(&self, id: i64) -> Result<Option<AuditEntry>> {
        self.outage(async |c| {
            c.query_opt(
                &format!("SELECT {AUDIT_COLS} FROM outage_audit WHERE id = $1"),
                &[&id],
            )
            .await?
            .map(|r| audit_from_row(&r))
            .transpose()
        })
    }

    fn list_audit(&self, f: &AuditFilter) -> Result<Vec<AuditEntry>> {
        let mut q = Filtered::new(
            &format!("SELECT {AUDIT_COLS} FROM outage_audit WHERE true"),
            None,
        );
        q.and("facility =", f.facility.clone());
        q.and("kind =", f.kind.map(|k| k.code().to_string()));
        q.and("id <", f.before_id);
        self.outage(async |c| {
            let rows = q.newest_first(c, limit_of(f.limit)).await?;
            rows.iter().map(audit_from_row).collect()
        })
    }
}

/// The entries in one statement (one round trip, one commit); their ids in the entries' order.
/// The candidates' ids travel as array literals (`{1,2}`), one per entry, and are cast back.
async fn insert_audits(c: &impl GenericClient, entries: &[AuditEntry]) -> Result<Vec<i64>> {
    let col = |f: &dyn Fn(&AuditEntry) -> Option<String>| -> Vec<Option<String>> {
        entries.iter().map(f).collect()
    };
    let facility = col(&|a| Some(a.facility.clone()));
    let request: Vec<Option<i64>> = entries.iter().map(|a| a.request_id).collect();
    let at = col(&|a| Some(a.at.clone()));
    let staff = col(&|a| a.staff_id.clone());
    let kind = col(&|a| Some(a.kind.code().to_string()));
    let criteria = col(&|a| Some(a.criteria.to_string()));
    let hits: Vec<Option<i32>> = entries
        .iter()
        .map(|a| a.hits.map(i32::try_from).transpose())
        .collect::<std::result::Result<_, _>>()
        .map_err(|e| corrupt("outage_audit.hits", e))?;
    let hit_ids = col(&|a| {
        let ids: Vec<String> = a.hit_person_ids.iter().map(i64::to_string).collect();
        Some(format!("{{{}}}", ids.join(",")))
    });
    let search: Vec<Option<i64>> = entries.iter().map(|a| a.search_id).collect();
    let chosen: Vec<Option<i64>> = entries.iter().map(|a| a.chosen_person_id).collect();
    let outcome = col(&|a| Some(a.outcome.clone()));
    let message = col(&|a| a.message.clone());
    // as for the confirmations: the ids drawn in the entries' order in a materialised CTE
    let st = c
        .prepare_cached(
            "WITH r AS MATERIALIZED (SELECT nextval('outage_audit_id_seq') AS id, u.* \
             FROM unnest($1::text[], $2::int8[], $3::text[], $4::text[], $5::text[], \
             $6::text[], $7::int4[], $8::text[], $9::int8[], $10::int8[], $11::text[], \
             $12::text[]) WITH ORDINALITY AS u (facility, request_id, at, staff_id, kind, \
             criteria, hits, hit_person_ids, search_id, chosen_person_id, outcome, message, \
             ord)), \
             ins AS (INSERT INTO outage_audit (id, facility, request_id, at, staff_id, kind, \
             criteria, hits, hit_person_ids, search_id, chosen_person_id, outcome, message) \
             SELECT id, facility, request_id, at, staff_id, kind, criteria, hits, \
             hit_person_ids::int8[], search_id, chosen_person_id, outcome, message FROM r) \
             SELECT id FROM r ORDER BY ord",
        )
        .await?;
    let ids = c
        .query(
            &st,
            &[
                &facility, &request, &at, &staff, &kind, &criteria, &hits, &hit_ids, &search,
                &chosen, &outcome, &message,
            ],
        )
        .await?
        .iter()
        .map(|r| r.try_get(0))
        .collect::<std::result::Result<Vec<i64>, _>>()?;
    if ids.len() != entries.len() {
        return Err(StoreError::Corrupt(format!(
            "{} audit entries written, {} ids returned",
            entries.len(),
            ids.len()
        )));
    }
    Ok(ids)
}

async fn insert_audit(c: &impl GenericClient, a: &AuditEntry) -> Result<i64> {
    let hits = a
        .hits
        .map(i32::try_from)
        .transpose()
        .map_err(|e| corrupt("outage_audit.hits", e))?;
    let st = c
        .prepare_cached(
            "INSERT INTO outage_audit (facility, request_id, at, staff_id, kind, \
             criteria, hits, hit_person_ids, search_id, chosen_person_id, outcome, \
             message) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) \
             RETURNING id",
        )
        .await?;
    let r = c
        .query_one(
            &st,
            &[
                &a.facility,
                &a.request_id,
                &a.at,
                &a.staff_id,
                &a.kind.code(),
                &a.criteria.to_string(),
                &hits,
                &a.hit_person_ids,
                &a.search_id,
                &a.chosen_person_id,
                &a.outcome,
                &a.message,
            ],
        )
        .await?;
    Ok(r.try_get(0)?)
}
