//! The payer's narrow view of the central's qualification registry (R21, R22, R23).
//!
//! The payer may read exactly three things: the persons who hold a given insurer and number
//! (with their registered qualifications, for 振替/分割), the persons with a given kana name,
//! birth date and sex (for identification), and an insurer's members whose qualification was
//! registered in the OQS after their card / 資格確認書 was issued (for that insurer's R23
//! notices). Nothing else — no card, no history of confirmations, no My Number hash — is
//! reachable through this role.

use chrono::NaiveDate;
use onshi_domain::kana;
use onshi_domain::numbers::{InsurerNumber, Sex};
use onshi_domain::qualification::{Person, Qualification};
use onshi_store::outage::{OutageStore, PersonQuery};
use onshi_store::{PersonRecord, PostgresStore, QualificationRecord, RegistryRead, SqliteStore};
use serde::{Deserialize, Serialize};

/// A registry person with the qualifications registered for it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PersonHistory {
    pub person_id: i64,
    pub person: Person,
    pub qualifications: Vec<Qualification>,
}

pub type RegistryResult<T> = Result<T, onshi_store::StoreError>;

/// What the payer may read of the registry.
pub trait PayerRegistry: Send + Sync {
    /// Every person holding a qualification under `insurer` with this number (width-folded),
    /// with all of that person's qualifications.
    fn holders_of(
        &self,
        insurer: &InsurerNumber,
        number: &str,
    ) -> RegistryResult<Vec<PersonHistory>>;
    /// Every person holding a qualification under `insurer` with this number, each with only
    /// the qualifications under that insurer and number. Enough to settle a claim valid as
    /// claimed (R21: from the 2022-02 claims such a claim is never re-assigned, so the rest of
    /// the history does not matter); anything else asks [`holders_of`](Self::holders_of).
    fn claimed_holders(
        &self,
        insurer: &InsurerNumber,
        number: &str,
    ) -> RegistryResult<Vec<PersonHistory>> {
        let mut hs = self.holders_of(insurer, number)?;
        let key = kana::name_key(number);
        for h in &mut hs {
            h.qualifications
                .retain(|q| q.insurer_number == *insurer && q.number.key() == key);
        }
        Ok(hs)
    }
    /// [`claimed_holders`](Self::claimed_holders) of several claimed numbers, answers in the
    /// same order. A backend may read them together: the SQLite registry reads them in one
    /// read transaction, one statement each.
    fn claimed_holders_many(
        &self,
        keys: &[(&InsurerNumber, &str)],
    ) -> RegistryResult<Vec<Vec<PersonHistory>>> {
        keys.iter()
            .map(|(insurer, number)| self.claimed_holders(insurer, number))
            .collect()
    }
    /// Persons whose kana name (exact-match key), birth date and sex are these, at most
    /// `limit`, with their qualifications.
    fn persons_by_facts(
        &self,
        kana_name: &str,
        birthdate: NaiveDate,
        sex: Sex,
        limit: u32,
    ) -> RegistryResult<Vec<PersonHistory>>;
    /// R23: the members of `insurer` (qualifications not lost by `as_of`) whose card /
    /// 資格確認書 was issued by `as_of` and whose qualification the insurer registered in the
    /// OQS only after that issuance, each with only those qualifications.
    fn members_registered_after_issuance(
        &self,
        insurer: &InsurerNumber,
        as_of: NaiveDate,
    ) -> RegistryResult<Vec<PersonHistory>>;
}

fn with_history(s: &impl RegistryRead, id: i64) -> RegistryResult<Option<PersonHistory>> {
    Ok(s.person_with_history(id)?.map(|(p, qs)| PersonHistory {
        person_id: p.id,
        person: p.person,
        qualifications: qs.into_iter().map(|q| q.qualification).collect(),
    }))
}

/// Qualifications with their holders, grouped by holder in the order first seen.
fn by_holder(rows: Vec<(PersonRecord, QualificationRecord)>) -> Vec<PersonHistory> {
    let mut out: Vec<PersonHistory> = Vec::new();
    for (p, q) in rows {
        match out.iter_mut().find(|h| h.person_id == p.id) {
            Some(h) => h.qualifications.push(q.qualification),
            None => out.push(PersonHistory {
                person_id: p.id,
                person: p.person,
                qualifications: vec![q.qualification],
            }),
        }
    }
    out
}

/// The same reads over either backend of the registry (with the backend's own items after
/// the `;`).
macro_rules! payer_registry {
    ($store:ty; $($own:tt)*) => {
        impl PayerRegistry for $store {
            fn holders_of(
                &self,
                insurer: &InsurerNumber,
                number: &str,
            ) -> RegistryResult<Vec<PersonHistory>> {
                let key = kana::name_key(number);
                let mut ids: Vec<i64> = self
                    .qualifications_by_number(insurer, &key)?
                    .into_iter()
                    .map(|q| q.person_id)
                    .collect();
                ids.sort_unstable();
                ids.dedup();
                let mut out = Vec::with_capacity(ids.len());
                for id in ids {
                    if let Some(h) = with_history(self, id)? {
                        out.push(h);
                    }
                }
                Ok(out)
            }

            fn claimed_holders(
                &self,
                insurer: &InsurerNumber,
                number: &str,
            ) -> RegistryResult<Vec<PersonHistory>> {
                // one indexed query for the qualifications, one primary-key read per holder
                let key = kana::name_key(number);
                let mut out: Vec<PersonHistory> = Vec::new();
                for q in self.qualifications_by_number(insurer, &key)? {
                    match out.iter_mut().find(|h| h.person_id == q.person_id) {
                        Some(h) => h.qualifications.push(q.qualification),
                        None => {
                            if let Some(p) = self.person(q.person_id)? {
                                out.push(PersonHistory {
                                    person_id: p.id,
                                    person: p.person,
                                    qualifications: vec![q.qualification],
                                });
                            }
                        }
                    }
                }
                Ok(out)
            }

            fn persons_by_facts(
                &self,
                kana_name: &str,
                birthdate: NaiveDate,
                sex: Sex,
                limit: u32,
            ) -> RegistryResult<Vec<PersonHistory>> {
                let k = kana::kana_key(kana_name);
                if k.is_empty() {
                    return Ok(Vec::new());
                }
                let ids = self.search_person_ids(&PersonQuery {
                    birthdate,
                    sex,
                    kana_key: Some(k),
                    name_key: None,
                    limit,
                })?;
                let mut out = Vec::with_capacity(ids.len());
                for id in ids {
                    if let Some(h) = with_history(self, id)? {
                        out.push(h);
                    }
                }
                Ok(out)
            }

            fn members_registered_after_issuance(
                &self,
                insurer: &InsurerNumber,
                as_of: NaiveDate,
            ) -> RegistryResult<Vec<PersonHistory>> {
                let mut out: Vec<PersonHistory> = Vec::new();
                for q in RegistryRead::registered_after_issuance(self, insurer, as_of)? {
                    match out.iter_mut().find(|h| h.person_id == q.person_id) {
                        Some(h) => h.qualifications.push(q.qualification),
                        None => {
                            if let Some(p) = self.person(q.person_id)? {
                                out.push(PersonHistory {
                                    person_id: p.id,
                                    person: p.person,
                                    qualifications: vec![q.qualification],
                                });
                            }
                        }
                    }
                }
                Ok(out)
            }

            $($own)*
        }
    };
}

payer_registry!(SqliteStore;
    fn claimed_holders_many(
        &self,
        keys: &[(&InsurerNumber, &str)],
    ) -> RegistryResult<Vec<Vec<PersonHistory>>> {
        // one read transaction for all, one statement (qualifications joined to their
        // holders) for each
        self.read_snapshot(|s| {
            keys.iter()
                .map(|(insurer, number)| {
                    let key = kana::name_key(number);
                    Ok(by_holder(
                        s.qualifications_with_holders_by_number(insurer, &key)?,
                    ))
                })
                .collect()
        })
    }
);
payer_registry!(PostgresStore;);
