//! Medical information under consent (R2): what the central holds per person — drug history
//! (from claims and from 電子処方箋 prescriptions and dispensing), specific health checkups
//! (特定健診) and diagnosis / procedure information (診療情報, 手術 among them) — and the
//! consents, given at the reader per kind, that open it to one facility for a while.
//!
//! Pure data: no I/O, no clock (the times are arguments).

use chrono::{NaiveDate, NaiveDateTime};
use serde::{Deserialize, Serialize};

/// The kinds of medical information a patient consents to at the reader, one flag each in
/// the qualification result (`PharmacistsInfoConsFlg`, `SpecificHealthCheckupsInfoConsFlg`,
/// `DiagnosisInfoConsFlg`, `OperationInfoConsFlg`).
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum MedicalInfoKind {
    /// 薬剤情報
    Drug,
    /// 特定健診情報
    Checkup,
    /// 診療情報
    Diagnosis,
    /// 手術情報
    Operation,
}

impl MedicalInfoKind {
    pub const ALL: [MedicalInfoKind; 4] = [
        MedicalInfoKind::Drug,
        MedicalInfoKind::Checkup,
        MedicalInfoKind::Diagnosis,
        MedicalInfoKind::Operation,
    ];

    /// The name used in storage and APIs.
    pub fn id(self) -> &'static str {
        match self {
            MedicalInfoKind::Drug => "drug",
            MedicalInfoKind::Checkup => "checkup",
            MedicalInfoKind::Diagnosis => "diagnosis",
            MedicalInfoKind::Operation => "operation",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.id() == s)
    }

    pub fn label_ja(self) -> &'static str {
        match self {
            MedicalInfoKind::Drug => "薬剤情報",
            MedicalInfoKind::Checkup => "特定健診情報",
            MedicalInfoKind::Diagnosis => "診療情報",
            MedicalInfoKind::Operation => "手術情報",
        }
    }
}

/// The medical-information consents given on the reader's screens (one per kind).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct MedicalConsents {
    #[serde(default)]
    pub drug: bool,
    #[serde(default)]
    pub checkup: bool,
    #[serde(default)]
    pub diagnosis: bool,
    #[serde(default)]
    pub operation: bool,
}

impl MedicalConsents {
    pub fn given(&self, k: MedicalInfoKind) -> bool {
        match k {
            MedicalInfoKind::Drug => self.drug,
            MedicalInfoKind::Checkup => self.checkup,
            MedicalInfoKind::Diagnosis => self.diagnosis,
            MedicalInfoKind::Operation => self.operation,
        }
    }

    pub fn any(&self) -> bool {
        MedicalInfoKind::ALL.into_iter().any(|k| self.given(k))
    }

    /// Four characters `0`/`1` in the order drug, checkup, diagnosis, operation (what the
    /// reader signs).
    pub fn flags(&self) -> String {
        MedicalInfoKind::ALL
            .into_iter()
            .map(|k| if self.given(k) { '1' } else { '0' })
            .collect()
    }
}

/// How long a consent given at the reader lasts: until the same time the next day (as the
/// public face-file fixture shows: `…AvailableTime` = `…ConsTime` + 1 day).
pub const CONSENT_LASTS: chrono::TimeDelta = chrono::TimeDelta::days(1);

/// A consent as the central recorded it: who (person), to whom (facility), what, when given
/// and until when it opens the information (JST wall-clock times).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ConsentGrant {
    pub person_id: i64,
    pub facility: String,
    pub kind: MedicalInfoKind,
    pub given_at: NaiveDateTime,
    pub available_until: NaiveDateTime,
}

impl ConsentGrant {
    /// A consent given at `at`, lasting [`CONSENT_LASTS`].
    pub fn given(person_id: i64, facility: &str, kind: MedicalInfoKind, at: NaiveDateTime) -> Self {
        ConsentGrant {
            person_id,
            facility: facility.to_string(),
            kind,
            given_at: at,
            available_until: at + CONSENT_LASTS,
        }
    }

    /// Whether the consent still opens the information at `now`.
    pub fn valid_at(&self, now: NaiveDateTime) -> bool {
        self.given_at <= now && now < self.available_until
    }
}

/// Where a drug record comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum DrugSource {
    /// from the monthly claims (`MeTrMonthInf`)
    Claim,
    /// 電子処方箋: a prescription (`ShPrInf`)
    Prescription,
    /// 電子処方箋: a dispensing (`CzDiInf`)
    Dispensing,
}

impl DrugSource {
    pub fn id(self) -> &'static str {
        match self {
            DrugSource::Claim => "claim",
            DrugSource::Prescription => "prescription",
            DrugSource::Dispensing => "dispensing",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [
            DrugSource::Claim,
            DrugSource::Prescription,
            DrugSource::Dispensing,
        ]
        .into_iter()
        .find(|k| k.id() == s)
    }
}

/// One drug given on one day (one `DrugInf` under its `DiDateInf`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct DrugRecord {
    pub source: DrugSource,
    /// the dispensing (or treatment) date, `DiDate`
    pub dispensed_on: NaiveDate,
    /// the prescription date, `PrDate`
    pub prescribed_on: Option<NaiveDate>,
    /// the dispensing facility (`MeTrDiHCd`/`MeTrDiHNm`): the pharmacy, or the clinic itself
    /// for 院内 drugs
    pub dispenser_code: String,
    pub dispenser_name: String,
    /// the prescribing facility (`PrlsHCd`/`PrlsHNm`)
    pub prescriber_code: Option<String>,
    pub prescriber_name: Option<String>,
    /// `InOut`: 1 院内, 2 院外
    pub in_out: String,
    /// `DrugC`: the drug's code (レセプト電算処理システム医薬品コード)
    pub drug_code: String,
    pub drug_name: String,
    /// `IngreN`
    pub ingredient: Option<String>,
    /// `Qua1`, as written (decimal)
    pub quantity: String,
    pub unit: String,
    /// `UsageN`
    pub usage: Option<String>,
    /// `SpInst`
    pub special_instruction: Option<String>,
    /// `Times`: days or times
    pub times: Option<String>,
    /// `MeTrIdCl`: 1 内服, 2 頓服, 3 外用, 4 注射 …
    pub id_class: String,
}

/// One diagnosis or procedure item (one `MeTrInf`); `operation` marks a 手術.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct DiagnosisRecord {
    pub treated_on: NaiveDate,
    pub facility_code: String,
    pub facility_name: String,
    /// `SinInfCd`: 診療行為コード
    pub code: String,
    /// `SinInfN`
    pub name: String,
    /// `MeTrIdCl`
    pub id_class: String,
    pub quantity: Option<String>,
    pub times: Option<String>,
    pub unit: Option<String>,
    pub operation: bool,
}

/// One result item of a specific health checkup (`HealthCheckupResultAndQuestionInfo`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct CheckupItem {
    /// `EffectiveTime`: the checkup's date
    pub checked_on: NaiveDate,
    /// `ItemCode`: the 特定健診 item code (JLAC10 based)
    pub item_code: String,
    pub item_name: String,
    /// `DataType`: PQ 数値, CD コード, ST 文字列
    pub data_type: String,
    pub value: String,
    pub unit: Option<String>,
    /// `Oid` of the code system, for coded values
    pub oid: Option<String>,
    /// `DataValueName`: the name of a coded value
    pub value_name: Option<String>,
}

/// Everything held for one person.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct MedicalRecords {
    pub drugs: Vec<DrugRecord>,
    pub diagnoses: Vec<DiagnosisRecord>,
    pub checkups: Vec<CheckupItem>,
}

impl MedicalRecords {
    pub fn is_empty(&self) -> bool {
        self.drugs.is_empty() && self.diagnoses.is_empty() && self.checkups.is_empty()
    }
}

/// One view of a person's medical information by a facility (each is recorded and listable by
/// the facility and by the patient).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct MedicalView {
    /// assigned by the store
    pub id: i64,
    /// JST wall-clock time of the view
    pub at: NaiveDateTime,
    pub facility: String,
    pub person_id: i64,
    pub kind: MedicalInfoKind,
    /// how it was asked for: `YZKsiquc01` / `TKKsiquc01` with the FileCategory, or `desk`
    pub channel: String,
    /// whether it was answered with data (false: refused, e.g. no valid consent)
    pub granted: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn r2_a_consent_lasts_a_day_and_then_lapses() {
        let at = NaiveDate::from_ymd_opt(2026, 11, 25)
            .unwrap()
            .and_hms_opt(9, 30, 10)
            .unwrap();
        let g = ConsentGrant::given(1, "1311234567", MedicalInfoKind::Drug, at);
        assert!(g.valid_at(at));
        assert!(g.valid_at(at + chrono::TimeDelta::hours(23)));
        assert!(!g.valid_at(at + CONSENT_LASTS));
        assert!(!g.valid_at(at - chrono::TimeDelta::seconds(1)));
    }

    #[test]
    fn consent_flags_are_in_a_fixed_order() {
        let c = MedicalConsents {
            drug: true,
            diagnosis: true,
            ..Default::default()
        };
        assert_eq!(c.flags(), "1010");
        for k in MedicalInfoKind::ALL {
            assert_eq!(MedicalInfoKind::parse(k.id()), Some(k));
        }
    }
}
