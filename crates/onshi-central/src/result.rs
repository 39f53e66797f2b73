//! The confirmation result as the central returns it. Field names of a qualification entry
//! are the OQS XML element names (`ResultOfQualificationConfirmation`), so the JSON API and
//! the terminal's XML carry the same vocabulary; codes are strings with their leading zeros.

use chrono::NaiveDate;
use onshi_domain::card::CertCheck;
use onshi_domain::codes::{
    IdentityMethod, LimitConsent, QualificationValidity, ReferenceClassification,
};
use onshi_domain::kana;
use onshi_domain::qualification::Qualification;
use onshi_domain::wareki::format_yyyymmdd;
use onshi_store::{PersonRecord, QualificationRecord};
use serde::{Deserialize, Serialize};

/// 高齢受給者証情報.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ElderlyRecipientCertificateInfo {
    pub elderly_recipient_valid_start_date: String,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub elderly_recipient_valid_end_date: Option<String>,
    pub elderly_recipient_contribution_ratio: String,
}

/// 限度額適用認定証関連情報 (returned only with the patient's consent, OQSCD001 = 1).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct LimitApplicationCertificateRelatedInfo {
    pub limit_application_certificate_classification_flag: String,
    pub limit_application_certificate_classification_flag_label: String,
}

/// One `ResultOfQualificationConfirmation`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ResultOfQualificationConfirmation {
    pub insured_card_classification: String,
    pub insurer_number: String,
    pub insured_card_symbol: String,
    pub insured_identification_number: String,
    pub insured_branch_number: String,
    pub personal_family_classification: String,
    pub insured_name: String,
    pub name: String,
    /// half-width katakana, as the OQS sends it
    pub name_kana: String,
    pub sex1: String,
    pub birthdate: String,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub address: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub post_number: Option<String>,
    pub qualification_date: String,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub disqualification_date: Option<String>,
    /// 交付年月日 of the insurance card / 資格確認書
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub insured_certificate_issuance_date: Option<String>,
    /// 有効開始日 of the card / 資格確認書 (receipt software needs it to register the insurance)
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub insured_card_valid_date: Option<String>,
    /// 有効終了日 of the card / 資格確認書, where one is printed
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub insured_card_expiration_date: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub reason_of_loss: Option<String>,
    /// percent in 3 digits: "030" = 3割
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub insured_partial_contribution_ratio: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub preschool_classification: Option<String>,
    pub insurer_name: String,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub elderly_recipient_certificate_info: Option<ElderlyRecipientCertificateInfo>,
    pub limit_application_certificate_related_cons_flg: String,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub limit_application_certificate_related_info: Option<LimitApplicationCertificateRelatedInfo>,
}

fn ratio3(p: u8) -> String {
    format!("{p:03}")
}

impl ResultOfQualificationConfirmation {
    /// Builds the entry for `q` of `person`, as of `on`. The ratio is the one the patient pays
    /// that day (高齢受給者 ratio, registered ratio, or the statutory one by age).
    pub fn build(
        person: &PersonRecord,
        rec: &QualificationRecord,
        on: NaiveDate,
        limit_consent: LimitConsent,
    ) -> Self {
        let q: &Qualification = &rec.qualification;
        let p = &person.person;
        ResultOfQualificationConfirmation {
            insured_card_classification: q.card_classification.code().into(),
            insurer_number: q.insurer_number.as_str().into(),
            insured_card_symbol: q.symbol.as_str().into(),
            insured_identification_number: q.number.as_str().into(),
            insured_branch_number: q.branch.as_str().into(),
            personal_family_classification: q.family_class.code().into(),
            insured_name: q.insured_name.clone(),
            name: rec.registered_name.clone(),
            name_kana: kana::to_halfwidth_katakana(&p.name_kana),
            sex1: p.sex.code().into(),
            birthdate: format_yyyymmdd(p.birthdate),
            address: p.address.clone(),
            post_number: p.post_number.clone(),
            qualification_date: format_yyyymmdd(q.qualification_date),
            disqualification_date: q.disqualification_date.map(format_yyyymmdd),
            insured_certificate_issuance_date: q.card_dates.issued_on.map(format_yyyymmdd),
            insured_card_valid_date: q.card_dates.valid_from.map(format_yyyymmdd),
            insured_card_expiration_date: q.card_dates.valid_to.map(format_yyyymmdd),
            reason_of_loss: q.reason_of_loss.map(|r| r.code().into()),
            insured_partial_contribution_ratio: q
                .share_on(p.birthdate, on)
                .map(|(pct, _)| ratio3(pct)),
            preschool_classification: q.preschool.then(|| "1".to_string()),
            insurer_name: q.insurer_name.clone(),
            elderly_recipient_certificate_info: q.elderly.as_ref().map(|e| {
                ElderlyRecipientCertificateInfo {
                    elderly_recipient_valid_start_date: format_yyyymmdd(e.valid_from),
                    elderly_recipient_valid_end_date: e.valid_to.map(format_yyyymmdd),
                    elderly_recipient_contribution_ratio: ratio3(e.ratio),
                }
            }),
            limit_application_certificate_related_cons_flg: limit_consent.code().into(),
            limit_application_certificate_related_info: match (limit_consent, q.limit_class) {
                (LimitConsent::Consented, Some(l)) => {
                    Some(LimitApplicationCertificateRelatedInfo {
                        limit_application_certificate_classification_flag: l.code().into(),
                        limit_application_certificate_classification_flag_label: l.label().into(),
                    })
                }
                _ => None,
            },
        }
    }
}

/// Why a confirmation could not be carried out (異常終了), with a stable class.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConfirmationError {
    /// stable class: `card_unknown`, `card_revoked`, `chip_broken`, `certificate_expired`,
    /// `pin_not_set`, `pin_wrong`, `pin_locked`, `face_mismatch`, `staff_missing`,
    /// `chip_unreadable`
    pub class: String,
    /// the message staff see (Japanese)
    pub message: String,
    /// for `pin_wrong`: attempts left before the lock
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub remaining_attempts: Option<u32>,
}

/// What the central answers to one confirmation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConfirmationResponse {
    /// id in the facility's confirmation history. Keep it the first field: the stored JSON
    /// gets its id spliced in at the front (`with_confirmation_id`).
    pub confirmation_id: i64,
    /// yyyyMMddHHmmss (JST), like the XML's ProcessExecutionTime
    pub process_execution_time: String,
    pub qualification_confirmation_date: String,
    pub medical_institution_code: String,
    /// OQSCD002
    pub reference_classification: String,
    /// OQSCD003: "1" 正常終了 / "9" 異常終了
    pub segment_of_result: String,
    /// OQSCD004: "1" 正常終了 / "2" エラー
    pub processing_result_status: String,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub error: Option<ConfirmationError>,
    /// OQSCD006, present when the confirmation ran
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub qualification_validity: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub qualification_validity_label: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub identity_method: Option<IdentityMethod>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub visual_confirmation_staff_id: Option<String>,
    /// the card certificate's state; `in_grace` means expired but still usable
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub certificate: Option<CertCheck>,
    pub result_list: Vec<ResultOfQualificationConfirmation>,
}

impl ConfirmationResponse {
    pub fn validity(&self) -> Option<QualificationValidity> {
        self.qualification_validity
            .as_deref()
            .and_then(|c| QualificationValidity::parse(c).ok())
    }

    pub fn reference(&self) -> Option<ReferenceClassification> {
        ReferenceClassification::parse(&self.reference_classification).ok()
    }

    /// The rule open-source receipt software applies: confirmed only when 正常終了, status
    /// 正常, 有効 and exactly one entry.
    pub fn is_confirmed(&self) -> bool {
        self.segment_of_result == "1"
            && self.processing_result_status == "1"
            && self.qualification_validity.as_deref() == Some("1")
            && self.result_list.len() == 1
    }
}
