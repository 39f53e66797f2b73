//! Medical information under consent (R2): a facility asks for a patient's drug, checkup or
//! diagnosis information by the insurance numbers; the central answers with the records only
//! while the patient's consent for that kind, given at this facility's reader, has not lapsed.
//! A PIN-less card is no different here: the consent was given at the reader after face
//! authentication or 目視確認, and that is all that counts. Every answer, given or refused, is
//! recorded as a view, listable by the facility and by the patient.

use chrono::NaiveDate;
use onshi_domain::medinfo::{MedicalInfoKind, MedicalRecords, MedicalView};
use onshi_domain::numbers::{
    BranchNumber, InsuredNumber, InsuredSymbol, InsurerNumber, MedicalInstitutionCode, Sex,
};
use onshi_store::{PersonId, ViewsOf};
use serde::{Deserialize, Serialize};

use crate::{Central, CentralError};

/// A request for medical information, naming the patient by the insurance numbers.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct MedicalInfoQuery {
    pub insurer_number: InsurerNumber,
    #[serde(default)]
    pub symbol: InsuredSymbol,
    pub number: InsuredNumber,
    #[serde(default)]
    pub branch: Option<BranchNumber>,
    /// the kinds asked for; each needs a valid consent. With [`MedicalInfoKind::Diagnosis`],
    /// 手術 items are included only while the 手術 consent is valid too.
    pub kinds: Vec<MedicalInfoKind>,
    /// records dated `from ..= to` (either end open)
    #[serde(default)]
    pub from: Option<NaiveDate>,
    #[serde(default)]
    pub to: Option<NaiveDate>,
    /// how it was asked: `YZKsiquc01/4`, `TKKsiquc01/2`, `desk` …
    pub channel: String,
}

/// Who the answer is about.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Patient {
    pub name: String,
    pub name_kana: String,
    pub birthdate: NaiveDate,
    pub sex: Sex,
}

/// The central's answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum MedicalInfoAnswer {
    /// every kind asked for had a valid consent
    Granted {
        patient: Patient,
        records: MedicalRecords,
    },
    /// `kind` has no consent from this patient at this facility, or it lapsed
    NoConsent {
        kind: MedicalInfoKind,
        lapsed: bool,
        message: String,
    },
    /// no (single) person holds these numbers
    NotFound { message: String },
}

impl Central {
    /// R2: the medical information `q` asks for, if the patient consented at `facility`'s
    /// reader and the consent has not lapsed. Each kind asked for is recorded as a view.
    pub fn medical_info(
        &self,
        facility: &MedicalInstitutionCode,
        q: &MedicalInfoQuery,
    ) -> Result<MedicalInfoAnswer, CentralError> {
        let Some(pid) = self.person_by_numbers(q)? else {
            return Ok(MedicalInfoAnswer::NotFound {
                message: "指定された保険者番号・記号・番号・枝番に該当する方が見つかりません。"
                    .into(),
            });
        };
        let now = self.clock.now_jst().naive_local();
        let view = |kind: MedicalInfoKind, granted: bool| MedicalView {
            id: 0,
            at: now,
            facility: facility.as_str().to_string(),
            person_id: pid,
            kind,
            channel: q.channel.clone(),
            granted,
        };
        let valid = |kind: MedicalInfoKind| -> Result<Result<(), bool>, CentralError> {
            Ok(
                match self.medinfo.latest_consent(pid, facility.as_str(), kind)? {
                    None => Err(false),
                    Some(g) if !g.valid_at(now) => Err(true),
                    Some(_) => Ok(()),
                },
            )
        };
        for &kind in &q.kinds {
            if let Err(lapsed) = valid(kind)? {
                self.medinfo.record_view(&view(kind, false))?;
                let message = if lapsed {
                    format!(
                        "{}の閲覧の同意は有効期限が過ぎています。カードリーダーで改めて同意を得てください。",
                        kind.label_ja()
                    )
                } else {
                    format!(
                        "{}の閲覧に患者の同意がありません。カードリーダーで同意を得てください。",
                        kind.label_ja()
                    )
                };
                return Ok(MedicalInfoAnswer::NoConsent {
                    kind,
                    lapsed,
                    message,
                });
            }
        }
        let Some(person) = self.registry.person(pid)? else {
            return Ok(MedicalInfoAnswer::NotFound {
                message: "該当する方の情報がありません。".into(),
            });
        };
        let wants = |k: MedicalInfoKind| q.kinds.contains(&k);
        let operations = wants(MedicalInfoKind::Operation)
            || (wants(MedicalInfoKind::Diagnosis) && valid(MedicalInfoKind::Operation)?.is_ok());
        let mut records = self.medinfo.medical_records(pid, q.from, q.to)?;
        if !wants(MedicalInfoKind::Drug) {
            records.drugs.clear();
        }
        if !wants(MedicalInfoKind::Checkup) {
            records.checkups.clear();
        }
        records.diagnoses.retain(|d| {
            if d.operation {
                operations
            } else {
                wants(MedicalInfoKind::Diagnosis)
            }
        });
        for &kind in &q.kinds {
            self.medinfo.record_view(&view(kind, true))?;
        }
        if operations && !wants(MedicalInfoKind::Operation) {
            self.medinfo
                .record_view(&view(MedicalInfoKind::Operation, true))?;
        }
        let p = person.person;
        Ok(MedicalInfoAnswer::Granted {
            patient: Patient {
                name: p.name,
                name_kana: p.name_kana,
                birthdate: p.birthdate,
                sex: p.sex,
            },
            records,
        })
    }

    /// The one person holding the numbers of `q` (any of their qualifications, current or
    /// past), if exactly one does.
    fn person_by_numbers(&self, q: &MedicalInfoQuery) -> Result<Option<PersonId>, CentralError> {
        let mut ids: Vec<PersonId> = self
            .registry
            .qualifications_by_number(&q.insurer_number, &q.number.key())?
            .into_iter()
            .filter(|r| {
                let x = &r.qualification;
                x.symbol.key() == q.symbol.key() && q.branch.as_ref().is_none_or(|b| *b == x.branch)
            })
            .map(|r| r.person_id)
            .collect();
        ids.sort_unstable();
        ids.dedup();
        Ok(if ids.len() == 1 { ids.pop() } else { None })
    }

    /// The views a facility made (newest first, at most `limit`).
    pub fn medical_views_of_facility(
        &self,
        facility: &MedicalInstitutionCode,
        limit: u32,
    ) -> Result<Vec<MedicalView>, CentralError> {
        Ok(self
            .medinfo
            .medical_views(ViewsOf::Facility(facility.as_str()), limit)?)
    }

    /// Every view of a patient's medical information (for the patient's portal).
    pub fn medical_views_of_person(
        &self,
        person: PersonId,
        limit: u32,
    ) -> Result<Vec<MedicalView>, CentralError> {
        Ok(self.medinfo.medical_views(ViewsOf::Person(person), limit)?)
    }
}
