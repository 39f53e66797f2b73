//! The confirmation result as the central returns it. Field names of a qualification entry
//! are the OQS XML element names (`ResultOfQualificationConfirmation`), so the JSON API and
//! the terminal's XML carry the same vocabulary; codes are strings with their leading zeros.

use chrono::NaiveDate;
use onshi_domain::card::CertCheck;
use onshi_domain::codes::{
    IdentityMethod, LimitConsent, PreschoolClass, QualificationValidity, ReferenceClassification,
};
use onshi_domain::kana;
use onshi_domain::qualification::Qualification;
use onshi_domain::wareki::format_yyyymmdd;
use onshi_store::{PersonRecord, QualificationRecord};
use serde::{Deserialize, Serialize};

/// 高齢受給者証情報.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "PascalCase")]
pub struct ElderlyRecipientCertificateInfo {
    /// 交付年月日
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub elderly_recipient_certificate_date: Option<String>,
    pub elderly_recipient_valid_start_date: String,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub elderly_recipient_valid_end_date: Option<String>,
    pub elderly_recipient_contribution_ratio: String,
}

/// 限度額適用認定証関連情報 (returned only with the patient's consent, OQSCD001 = 1).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "PascalCase")]
pub struct LimitApplicationCertificateRelatedInfo {
    /// OQSCD011 限度額適用認定証区分
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub limit_application_certificate_classification: Option<String>,
    /// OQSCD012 限度額適用区分
    pub limit_application_certificate_classification_flag: String,
    pub limit_application_certificate_classification_flag_label: String,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub limit_application_certificate_date: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub limit_application_certificate_valid_start_date: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub limit_application_certificate_valid_end_date: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub limit_application_certificate_long_term_date: Option<String>,
}

/// One `SpecificDiseasesCertificateInfo` (特定疾病療養受療証), given with the same consent as
/// the 限度額 information.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "PascalCase")]
pub struct SpecificDiseasesCertificateInfo {
    /// OQSCD013: 1 人工透析, 2 血友病, 3 HIV
    pub specific_diseases_disease_category: String,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub specific_diseases_certificate_date: Option<String>,
    pub specific_diseases_valid_start_date: String,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub specific_diseases_valid_end_date: Option<String>,
    /// 自己負担限度額 per month, yen
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub specific_diseases_self_pay: Option<String>,
}

/// One `ResultOfQualificationConfirmation`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
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
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub name_of_other: Option<String>,
    /// half-width katakana, as the OQS sends it
    pub name_kana: String,
    /// half-width katakana
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub name_of_other_kana: Option<String>,
    pub sex1: String,
    /// 性別2, where registered
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub sex2: Option<String>,
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
    /// the 特定疾病療養受療証 (with the 限度額 consent; empty list → absent)
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub specific_diseases_certificate_list: Vec<SpecificDiseasesCertificateInfo>,
    /// the medical-information consents the central recorded with this confirmation (R2)
    #[serde(flatten, default)]
    pub medical_consents: MedicalConsentElements,
}

/// The consent elements of a result (OQSCD016 `1` あり, `0` なし; times yyyyMMddHHmmss JST):
/// set from the consents the reader signed and the central recorded, absent when the
/// confirmation was not by card.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "PascalCase")]
pub struct MedicalConsentElements {
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub pharmacists_info_cons_flg: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub pharmacists_info_cons_time: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub pharmacists_info_available_time: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub specific_health_checkups_info_cons_flg: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub specific_health_checkups_info_cons_time: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub specific_health_checkups_info_available_time: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub diagnosis_info_cons_flg: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub diagnosis_info_cons_time: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub diagnosis_info_available_time: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub operation_info_cons_flg: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub operation_info_cons_time: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub operation_info_available_time: Option<String>,
}

impl MedicalConsentElements {
    /// The elements for what the reader signed (`given`) and the central recorded (`grants`).
    pub fn from_grants(
        given: &onshi_domain::medinfo::MedicalConsents,
        grants: &[onshi_domain::medinfo::ConsentGrant],
    ) -> Self {
        use onshi_domain::medinfo::MedicalInfoKind as K;
        let t = |x: chrono::NaiveDateTime| crate::clock::compact_naive(&x);
        let part = |k: K| -> (Option<String>, Option<String>, Option<String>) {
            match grants
                .iter()
                .find(|g| g.kind == k)
                .filter(|_| given.given(k))
            {
                Some(g) => (
                    Some("1".into()),
                    Some(t(g.given_at)),
                    Some(t(g.available_until)),
                ),
                None => (Some("0".into()), None, None),
            }
        };
        let (a, b, c) = part(K::Drug);
        let (d, e, f) = part(K::Checkup);
        let (g, h, i) = part(K::Diagnosis);
        let (j, k, l) = part(K::Operation);
        MedicalConsentElements {
            pharmacists_info_cons_flg: a,
            pharmacists_info_cons_time: b,
            pharmacists_info_available_time: c,
            specific_health_checkups_info_cons_flg: d,
            specific_health_checkups_info_cons_time: e,
            specific_health_checkups_info_available_time: f,
            diagnosis_info_cons_flg: g,
            diagnosis_info_cons_time: h,
            diagnosis_info_available_time: i,
            operation_info_cons_flg: j,
            operation_info_cons_time: k,
            operation_info_available_time: l,
        }
    }
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
        let d = &q.details;
        let ymd = |x: Option<NaiveDate>| x.map(format_yyyymmdd);
        let consented = limit_consent == LimitConsent::Consented;
        ResultOfQualificationConfirmation {
            insured_card_classification: q.card_classification.code().into(),
            insurer_number: q.insurer_number.as_str().into(),
            insured_card_symbol: q.symbol.as_str().into(),
            insured_identification_number: q.number.as_str().into(),
            insured_branch_number: q.branch.as_str().into(),
            personal_family_classification: q.family_class.code().into(),
            insured_name: q.insured_name.clone(),
            name: rec.registered_name.clone(),
            name_of_other: d.name_of_other.clone(),
            name_kana: kana::to_halfwidth_katakana(&p.name_kana),
            name_of_other_kana: d
                .name_of_other_kana
                .as_deref()
                .map(kana::to_halfwidth_katakana),
            sex1: p.sex.code().into(),
            sex2: d.sex2.map(|x| x.code().into()),
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
            preschool_classification: if q.preschool {
                Some(PreschoolClass::Preschool.code().into())
            } else if d.in_school {
                Some(PreschoolClass::InSchool.code().into())
            } else {
                None
            },
            insurer_name: q.insurer_name.clone(),
            elderly_recipient_certificate_info: q.elderly.as_ref().map(|e| {
                ElderlyRecipientCertificateInfo {
                    elderly_recipient_certificate_date: ymd(d.elderly_certificate_date),
                    elderly_recipient_valid_start_date: format_yyyymmdd(e.valid_from),
                    elderly_recipient_valid_end_date: e.valid_to.map(format_yyyymmdd),
                    elderly_recipient_contribution_ratio: ratio3(e.ratio),
                }
            }),
            limit_application_certificate_related_cons_flg: limit_consent.code().into(),
            limit_application_certificate_related_info: match (limit_consent, q.limit_class) {
                (LimitConsent::Consented, Some(l)) => {
                    let c = &d.limit_certificate;
                    Some(LimitApplicationCertificateRelatedInfo {
                        limit_application_certificate_classification: c
                            .classification
                            .map(|x| x.code().into()),
                        limit_application_certificate_classification_flag: l.code().into(),
                        limit_application_certificate_classification_flag_label: l.label().into(),
                        limit_application_certificate_date: ymd(c.issued_on),
                        limit_application_certificate_valid_start_date: ymd(c.valid_from),
                        limit_application_certificate_valid_end_date: ymd(c.valid_to),
                        limit_application_certificate_long_term_date: ymd(c.long_term_date),
                    })
                }
                _ => None,
            },
            specific_diseases_certificate_list: if consented {
                d.specific_diseases
                    .iter()
                    .map(|c| SpecificDiseasesCertificateInfo {
                        specific_diseases_disease_category: c.category.code().into(),
                        specific_diseases_certificate_date: ymd(c.issued_on),
                        specific_diseases_valid_start_date: format_yyyymmdd(c.valid_from),
                        specific_diseases_valid_end_date: ymd(c.valid_to),
                        specific_diseases_self_pay: c.self_pay.map(|y| y.to_string()),
                    })
                    .collect()
            } else {
                Vec::new()
            },
            medical_consents: MedicalConsentElements::default(),
        }
    }
}

/// Why a confirmation could not be carried out (異常終了), with a stable class.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
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
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
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
