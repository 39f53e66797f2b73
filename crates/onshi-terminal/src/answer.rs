//! Turning what happened into the XML answer: the terminal's error codes (`ErrorCode` /
//! `ProcessingResultCode`), the mapping of the central's confirmation response onto
//! `OQSsiquc01res` / face files, and the history row kept at the terminal.
//!
//! SPEC does not list the real OQS error codes, so onshi uses its own stable table
//! ([`codes`]), documented in `docs/formats/terminal-xml.md`.

use onshi_central::{ConfirmationResponse, ResultOfQualificationConfirmation};
use onshi_formats::terminal_xml::muquc01::BulkUploadResponse;
use onshi_formats::terminal_xml::muquc02::BulkFetchResponse;
use onshi_formats::terminal_xml::siimm01::RefRegistrationResponse;
use onshi_formats::terminal_xml::siquc01::QualificationResponse;
use onshi_formats::terminal_xml::{
    ConsentPart, ElderlyRecipientCertificateInfo, Encoding, InsuredPart,
    LimitApplicationCertificateRelatedInfo, LimitConsentPart, QualificationEntry, ResponseHeader,
    ResultBody, SearchInfoEcho, SpecificDiseasesCertificateInfo, SpecificDiseasesConsentPart,
    XmlError,
};

/// The terminal's error codes.
pub mod codes {
    /// the file is not XML, or not in a supported encoding
    pub const NOT_XML: &str = "1001";
    /// wrong root element or unsupported message kind
    pub const WRONG_MESSAGE: &str = "1002";
    /// a required element is missing
    pub const MISSING_ELEMENT: &str = "1003";
    /// an element's value breaks its rule (check digit, date, code table, length)
    pub const INVALID_VALUE: &str = "1004";
    /// MedicalInstitutionCode is not this terminal's facility
    pub const OTHER_FACILITY: &str = "1005";
    /// the answer holds a character the request's encoding (Shift_JIS) cannot carry
    pub const UNREPRESENTABLE: &str = "1006";
    /// OQSmuquc02req: no upload with that ReceptionNumber
    pub const UNKNOWN_RECEPTION: &str = "1007";
    /// the message is larger than the terminal accepts
    pub const TOO_LARGE: &str = "1008";
    /// a message kind the real system has but onshi's terminal does not offer
    /// (`OQSmuimm01req_`, the 訪問診療 / オンライン診療 / 医療扶助 bulk kinds)
    pub const NOT_OFFERED: &str = "1009";
    /// the central did not answer within the bound (default 10 s) or could not be reached
    pub const CENTRAL_UNREACHABLE: &str = "2001";
    /// the central answered with an error (e.g. the facility's token is refused)
    pub const CENTRAL_REFUSED: &str = "2002";

    /// Code of a card / identity error class of the central (異常終了 of a confirmation).
    pub fn for_class(class: &str) -> &'static str {
        match class {
            "card_unknown" => "3001",
            "card_revoked" => "3002",
            "chip_broken" => "3003",
            "certificate_expired" => "3004",
            "pin_not_set" => "3005",
            "pin_wrong" => "3006",
            "pin_locked" => "3007",
            "face_mismatch" => "3008",
            "staff_missing" => "3009",
            "chip_unreadable" => "3010",
            _ => "3999",
        }
    }

    /// Every class with a code, for the docs and tests.
    pub const CLASSES: &[&str] = &[
        "card_unknown",
        "card_revoked",
        "chip_broken",
        "certificate_expired",
        "pin_not_set",
        "pin_wrong",
        "pin_locked",
        "face_mismatch",
        "staff_missing",
        "chip_unreadable",
    ];
}

/// The error code and message for a request that could not be read.
pub fn request_error(e: &XmlError) -> (&'static str, String) {
    let code = match e {
        XmlError::Encoding(_) | XmlError::Syntax(_) => codes::NOT_XML,
        XmlError::WrongRoot { .. } => codes::WRONG_MESSAGE,
        XmlError::Missing { .. } => codes::MISSING_ELEMENT,
        XmlError::Invalid { .. } => codes::INVALID_VALUE,
        XmlError::Unrepresentable { .. } => codes::UNREPRESENTABLE,
        XmlError::TooLarge { .. } => codes::TOO_LARGE,
    };
    (code, format!("要求ファイルを処理できません: {e}"))
}

/// `SegmentOfResult` of a 異常終了 as onshi makes it; written as [`crate::Config::abnormal_segment`].
pub const ABNORMAL: &str = "9";

/// An answer the terminal writes: its header (the 異常終了 value is a setting) and its bytes.
pub trait Answer {
    fn header_mut(&mut self) -> &mut ResponseHeader;
    fn encode(&self, enc: Encoding) -> Result<Vec<u8>, XmlError>;
}

macro_rules! answers {
    ($($t:ty),+) => {$(
        impl Answer for $t {
            fn header_mut(&mut self) -> &mut ResponseHeader {
                &mut self.header
            }
            fn encode(&self, enc: Encoding) -> Result<Vec<u8>, XmlError> {
                self.write(enc)
            }
        }
    )+};
}

answers!(
    QualificationResponse,
    RefRegistrationResponse,
    BulkUploadResponse,
    BulkFetchResponse
);

/// One central result entry as `ResultOfQualificationConfirmation`.
pub fn entry(r: &ResultOfQualificationConfirmation) -> QualificationEntry {
    QualificationEntry {
        insured: InsuredPart {
            insured_card_classification: Some(r.insured_card_classification.clone()),
            insurer_number: Some(r.insurer_number.clone()),
            insured_card_symbol: Some(r.insured_card_symbol.clone()).filter(|s| !s.is_empty()),
            insured_identification_number: Some(r.insured_identification_number.clone()),
            insured_branch_number: Some(r.insured_branch_number.clone()),
            personal_family_classification: Some(r.personal_family_classification.clone()),
            insured_name: Some(r.insured_name.clone()),
            name: Some(r.name.clone()),
            name_of_other: r.name_of_other.clone(),
            name_kana: Some(r.name_kana.clone()),
            name_of_other_kana: r.name_of_other_kana.clone(),
            sex1: Some(r.sex1.clone()),
            sex2: r.sex2.clone(),
            birthdate: Some(r.birthdate.clone()),
            address: r.address.clone(),
            post_number: r.post_number.clone(),
            qualification_date: Some(r.qualification_date.clone()),
            disqualification_date: r.disqualification_date.clone(),
            insured_certificate_issuance_date: r.insured_certificate_issuance_date.clone(),
            insured_card_valid_date: r.insured_card_valid_date.clone(),
            insured_card_expiration_date: r.insured_card_expiration_date.clone(),
            insured_partial_contribution_ratio: r.insured_partial_contribution_ratio.clone(),
            preschool_classification: r.preschool_classification.clone(),
            reason_of_loss: r.reason_of_loss.clone(),
            insurer_name: Some(r.insurer_name.clone()),
        },
        elderly: r.elderly_recipient_certificate_info.as_ref().map(|e| {
            ElderlyRecipientCertificateInfo {
                elderly_recipient_certificate_date: e.elderly_recipient_certificate_date.clone(),
                elderly_recipient_valid_start_date: Some(
                    e.elderly_recipient_valid_start_date.clone(),
                ),
                elderly_recipient_valid_end_date: e.elderly_recipient_valid_end_date.clone(),
                elderly_recipient_contribution_ratio: Some(
                    e.elderly_recipient_contribution_ratio.clone(),
                ),
            }
        }),
        limit_consent: LimitConsentPart {
            limit_application_certificate_related_cons_flg: Some(
                r.limit_application_certificate_related_cons_flg.clone(),
            ),
            ..LimitConsentPart::default()
        },
        limit_info: r
            .limit_application_certificate_related_info
            .as_ref()
            .map(|l| LimitApplicationCertificateRelatedInfo {
                limit_application_certificate_classification: l
                    .limit_application_certificate_classification
                    .clone(),
                limit_application_certificate_classification_flag: Some(
                    l.limit_application_certificate_classification_flag.clone(),
                ),
                limit_application_certificate_date: l.limit_application_certificate_date.clone(),
                limit_application_certificate_valid_start_date: l
                    .limit_application_certificate_valid_start_date
                    .clone(),
                limit_application_certificate_valid_end_date: l
                    .limit_application_certificate_valid_end_date
                    .clone(),
                limit_application_certificate_long_term_date: l
                    .limit_application_certificate_long_term_date
                    .clone(),
            }),
        // one consent at the reader (限度額適用認定証等) covers the 限度額 and 特定疾病 information
        specific_diseases_consent: SpecificDiseasesConsentPart {
            specific_diseases_certificate_related_cons_flg: Some(
                r.limit_application_certificate_related_cons_flg.clone(),
            ),
            ..SpecificDiseasesConsentPart::default()
        },
        specific_diseases: r
            .specific_diseases_certificate_list
            .iter()
            .map(|c| SpecificDiseasesCertificateInfo {
                specific_diseases_disease_category: Some(
                    c.specific_diseases_disease_category.clone(),
                ),
                specific_diseases_certificate_date: c.specific_diseases_certificate_date.clone(),
                specific_diseases_valid_start_date: Some(
                    c.specific_diseases_valid_start_date.clone(),
                ),
                specific_diseases_valid_end_date: c.specific_diseases_valid_end_date.clone(),
                specific_diseases_self_pay: c.specific_diseases_self_pay.clone(),
            })
            .collect(),
        consents: consent_part(&r.medical_consents),
    }
}

/// The medical-information consent elements the central recorded (R2).
fn consent_part(m: &onshi_central::MedicalConsentElements) -> ConsentPart {
    ConsentPart {
        pharmacists_info_cons_flg: m.pharmacists_info_cons_flg.clone(),
        pharmacists_info_cons_time: m.pharmacists_info_cons_time.clone(),
        pharmacists_info_available_time: m.pharmacists_info_available_time.clone(),
        specific_health_checkups_info_cons_flg: m.specific_health_checkups_info_cons_flg.clone(),
        specific_health_checkups_info_cons_time: m.specific_health_checkups_info_cons_time.clone(),
        specific_health_checkups_info_available_time: m
            .specific_health_checkups_info_available_time
            .clone(),
        diagnosis_info_cons_flg: m.diagnosis_info_cons_flg.clone(),
        diagnosis_info_cons_time: m.diagnosis_info_cons_time.clone(),
        diagnosis_info_available_time: m.diagnosis_info_available_time.clone(),
        operation_info_cons_flg: m.operation_info_cons_flg.clone(),
        operation_info_cons_time: m.operation_info_cons_time.clone(),
        operation_info_available_time: m.operation_info_available_time.clone(),
        reference_number: None,
    }
}

/// The header and body for a central confirmation response.
pub fn from_central(
    c: &ConfirmationResponse,
    arbitrary_file_identifier: Option<String>,
    character_code: &str,
    search: Option<SearchInfoEcho>,
) -> (ResponseHeader, ResultBody) {
    let err = c.error.as_ref();
    let code = err.map(|e| codes::for_class(&e.class).to_string());
    let msg = err.map(|e| e.message.clone());
    let header = ResponseHeader {
        process_execution_time: c.process_execution_time.clone(),
        qualification_confirmation_date: Some(c.qualification_confirmation_date.clone()),
        medical_institution_code: c.medical_institution_code.clone(),
        arbitrary_file_identifier,
        reference_classification: Some(c.reference_classification.clone()),
        segment_of_result: c.segment_of_result.clone(),
        error_code: code.clone(),
        error_message: msg.clone(),
        character_code_identifier: character_code.to_string(),
    };
    let body = ResultBody {
        processing_result_status: c.processing_result_status.clone(),
        processing_result_code: code,
        processing_result_message: msg,
        qualification_validity: c.qualification_validity.clone(),
        prescription_issue_select: None,
        search_info: search,
        results: c.result_list.iter().map(entry).collect(),
    };
    (header, body)
}

/// A 異常終了 answer made at the terminal (bad request, central unreachable).
pub fn abnormal(
    mut header: ResponseHeader,
    code: &str,
    message: &str,
) -> (ResponseHeader, ResultBody) {
    header.segment_of_result = ABNORMAL.into();
    header.error_code = Some(code.into());
    header.error_message = Some(message.into());
    (header, ResultBody::error(code, message))
}
