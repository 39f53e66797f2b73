//! Pieces every message shares: the request and response headers, the
//! `QualificationConfirmSearchInfo` block (typed when read from a request, echoed as text in a
//! response), and `ResultOfQualificationConfirmation`.

use chrono::NaiveDate;
use onshi_domain::codes::LimitConsent;
use onshi_domain::numbers::{
    BranchNumber, InsuredNumber, InsuredSymbol, InsurerNumber, MedicalInstitutionCode,
};
use onshi_domain::qualification::NumbersQuery;
use onshi_domain::wareki::{format_yyyymmdd, parse_yyyymmdd};
use serde::{Deserialize, Serialize};

use super::tree::{self, Element, join};
use super::{Encoding, XmlError, XmlWriter, decode};

/// Reads message bytes: decodes them in the declared encoding, parses, checks the root is
/// `XmlMsg` and that `MessageHeader` and `MessageBody` are there.
pub fn read_message(bytes: &[u8]) -> Result<(Encoding, Element), XmlError> {
    let (enc, text) = decode(bytes)?;
    let root = tree::parse(&text)?;
    if root.name != "XmlMsg" {
        return Err(XmlError::WrongRoot { found: root.name });
    }
    root.required_child("XmlMsg", "MessageHeader")?;
    root.required_child("XmlMsg", "MessageBody")?;
    Ok((enc, root))
}

/// Declares a group of optional text elements written in a fixed order.
macro_rules! leaves {
    ($(#[$m:meta])* $name:ident { $($(#[$fm:meta])* $field:ident : $elem:literal,)+ }) => {
        $(#[$m])*
        #[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
        pub struct $name {
            $($(#[$fm])* #[serde(skip_serializing_if = "Option::is_none", default)]
            pub $field: Option<String>,)+
        }

        impl $name {
            /// The element names, in the order they are written.
            pub const ELEMENTS: &'static [&'static str] = &[$($elem,)+];

            pub fn write(&self, w: &mut XmlWriter) {
                $(w.opt_leaf($elem, self.$field.as_deref());)+
            }

            /// Reads the elements from `el` (absent or empty → `None`).
            pub fn read(el: &Element) -> Self {
                $name { $($field: el.nonempty($elem),)+ }
            }
        }
    };
}

/// `MessageHeader` of a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestHeader {
    /// `QualificationConfirmationDate` (yyyyMMdd): the date the qualification is confirmed for
    pub qualification_confirmation_date: NaiveDate,
    /// `MedicalInstitutionCode` (10 digits)
    pub medical_institution_code: MedicalInstitutionCode,
    /// `ArbitraryFileIdentifier`: free text of the receipt computer, echoed
    pub arbitrary_file_identifier: Option<String>,
}

impl RequestHeader {
    pub fn read(root: &Element) -> Result<Self, XmlError> {
        let p = "XmlMsg/MessageHeader";
        let h = root.required_child("XmlMsg", "MessageHeader")?;
        let date = h.required(p, "QualificationConfirmationDate")?;
        let date = parse_yyyymmdd(date).map_err(|e| {
            XmlError::invalid(
                join(p, "QualificationConfirmationDate"),
                format!("must be a date as yyyyMMdd ({e})"),
            )
        })?;
        let code = h.required(p, "MedicalInstitutionCode")?;
        let code = MedicalInstitutionCode::parse(code)
            .map_err(|e| XmlError::invalid(join(p, "MedicalInstitutionCode"), e.to_string()))?;
        let afi = h.nonempty("ArbitraryFileIdentifier");
        if let Some(a) = &afi
            && a.chars().count() > 100
        {
            return Err(XmlError::invalid(
                join(p, "ArbitraryFileIdentifier"),
                "at most 100 characters",
            ));
        }
        Ok(RequestHeader {
            qualification_confirmation_date: date,
            medical_institution_code: code,
            arbitrary_file_identifier: afi,
        })
    }

    pub fn write(&self, w: &mut XmlWriter) {
        w.open("MessageHeader");
        w.leaf(
            "QualificationConfirmationDate",
            &format_yyyymmdd(self.qualification_confirmation_date),
        );
        w.leaf(
            "MedicalInstitutionCode",
            self.medical_institution_code.as_str(),
        );
        w.opt_leaf(
            "ArbitraryFileIdentifier",
            self.arbitrary_file_identifier.as_deref(),
        );
        w.close();
    }
}

/// `MessageHeader` of a response. `ErrorCode` / `ErrorMessage` are written only when
/// `SegmentOfResult` is not 1 (正常終了).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct ResponseHeader {
    /// yyyyMMddHHmmss (JST)
    pub process_execution_time: String,
    pub qualification_confirmation_date: Option<String>,
    pub medical_institution_code: String,
    pub arbitrary_file_identifier: Option<String>,
    /// OQSCD002 照会区分: 1 card, 2 insurance numbers
    pub reference_classification: Option<String>,
    /// OQSCD003 処理結果区分: 1 正常終了, 2 処理中, 9 異常終了
    pub segment_of_result: String,
    pub error_code: Option<String>,
    pub error_message: Option<String>,
    /// OQSCD005, see [`super::CharacterCodes`]
    pub character_code_identifier: String,
}

impl ResponseHeader {
    pub fn is_normal(&self) -> bool {
        self.segment_of_result == "1"
    }

    pub fn write(&self, w: &mut XmlWriter) {
        w.open("MessageHeader");
        w.leaf("ProcessExecutionTime", &self.process_execution_time);
        w.opt_leaf(
            "QualificationConfirmationDate",
            self.qualification_confirmation_date.as_deref(),
        );
        w.leaf("MedicalInstitutionCode", &self.medical_institution_code);
        w.opt_leaf(
            "ArbitraryFileIdentifier",
            self.arbitrary_file_identifier.as_deref(),
        );
        w.opt_leaf(
            "ReferenceClassification",
            self.reference_classification.as_deref(),
        );
        w.leaf("SegmentOfResult", &self.segment_of_result);
        if !self.is_normal() {
            w.opt_leaf("ErrorCode", self.error_code.as_deref());
            w.opt_leaf("ErrorMessage", self.error_message.as_deref());
        }
        w.leaf("CharacterCodeIdentifier", &self.character_code_identifier);
        w.close();
    }

    pub fn read(root: &Element) -> Result<Self, XmlError> {
        let p = "XmlMsg/MessageHeader";
        let h = root.required_child("XmlMsg", "MessageHeader")?;
        Ok(ResponseHeader {
            process_execution_time: h.required(p, "ProcessExecutionTime")?.to_string(),
            qualification_confirmation_date: h.nonempty("QualificationConfirmationDate"),
            medical_institution_code: h.required(p, "MedicalInstitutionCode")?.to_string(),
            arbitrary_file_identifier: h.nonempty("ArbitraryFileIdentifier"),
            reference_classification: h.nonempty("ReferenceClassification"),
            segment_of_result: h.required(p, "SegmentOfResult")?.to_string(),
            error_code: h.nonempty("ErrorCode"),
            error_message: h.nonempty("ErrorMessage"),
            character_code_identifier: h.required(p, "CharacterCodeIdentifier")?.to_string(),
        })
    }
}

leaves!(
    /// `QualificationConfirmSearchInfo` as text, the way a response echoes it.
    SearchInfoEcho {
        insurer_number: "InsurerNumber",
        insured_card_symbol: "InsuredCardSymbol",
        insured_identification_number: "InsuredIdentificationNumber",
        insured_branch_number: "InsuredBranchNumber",
        birthdate: "Birthdate",
        limit_application_certificate_related_cons_flg: "LimitApplicationCertificateRelatedConsFlg",
    }
);

/// `QualificationConfirmSearchInfo` of a request, validated: the numbers typed from an
/// insurance card or 資格確認書 (照会区分 2, R7).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SearchInfo {
    pub insurer_number: InsurerNumber,
    pub symbol: InsuredSymbol,
    pub number: InsuredNumber,
    pub branch: Option<BranchNumber>,
    pub birthdate: NaiveDate,
    /// `LimitApplicationCertificateRelatedConsFlg` (OQSCD001), 0 when absent
    pub limit_consent: LimitConsent,
}

impl SearchInfo {
    /// Reads the block `el` found at `path`.
    pub fn read(path: &str, el: &Element) -> Result<Self, XmlError> {
        let field = |name: &str, e: &dyn std::fmt::Display| {
            XmlError::invalid(join(path, name), e.to_string())
        };
        let insurer = el.required(path, "InsurerNumber")?;
        let insurer_number =
            InsurerNumber::parse(insurer).map_err(|e| field("InsurerNumber", &e))?;
        let symbol = InsuredSymbol::parse(el.text_of("InsuredCardSymbol").unwrap_or(""))
            .map_err(|e| field("InsuredCardSymbol", &e))?;
        let number = InsuredNumber::parse(el.required(path, "InsuredIdentificationNumber")?)
            .map_err(|e| field("InsuredIdentificationNumber", &e))?;
        let branch = el
            .nonempty("InsuredBranchNumber")
            .map(|b| BranchNumber::parse(&b))
            .transpose()
            .map_err(|e| field("InsuredBranchNumber", &e))?;
        let birthdate = parse_yyyymmdd(el.required(path, "Birthdate")?)
            .map_err(|e| field("Birthdate", &format!("must be a date as yyyyMMdd ({e})")))?;
        let limit_consent = match el.nonempty("LimitApplicationCertificateRelatedConsFlg") {
            None => LimitConsent::NotConsented,
            Some(c) => LimitConsent::parse_for("LimitApplicationCertificateRelatedConsFlg", &c)
                .map_err(|e| field("LimitApplicationCertificateRelatedConsFlg", &e))?,
        };
        Ok(SearchInfo {
            insurer_number,
            symbol,
            number,
            branch,
            birthdate,
            limit_consent,
        })
    }

    /// The query for the central.
    pub fn query(&self) -> NumbersQuery {
        NumbersQuery {
            insurer_number: self.insurer_number.clone(),
            symbol: self.symbol.clone(),
            number: self.number.clone(),
            branch: self.branch.clone(),
            birthdate: self.birthdate,
        }
    }

    /// The block as a response echoes it.
    pub fn echo(&self) -> SearchInfoEcho {
        SearchInfoEcho {
            insurer_number: Some(self.insurer_number.as_str().into()),
            insured_card_symbol: Some(self.symbol.as_str().into())
                .filter(|s: &String| !s.is_empty()),
            insured_identification_number: Some(self.number.as_str().into()),
            insured_branch_number: self.branch.as_ref().map(|b| b.as_str().into()),
            birthdate: Some(format_yyyymmdd(self.birthdate)),
            limit_application_certificate_related_cons_flg: Some(self.limit_consent.code().into()),
        }
    }

    /// Writes the block as a request carries it.
    pub fn write(&self, w: &mut XmlWriter) {
        w.open("QualificationConfirmSearchInfo");
        self.echo().write(w);
        w.close();
    }
}

leaves!(
    /// The first part of `ResultOfQualificationConfirmation`: who, under which insurer.
    InsuredPart {
        insured_card_classification: "InsuredCardClassification",
        insurer_number: "InsurerNumber",
        insured_card_symbol: "InsuredCardSymbol",
        insured_identification_number: "InsuredIdentificationNumber",
        /// 2 digits
        insured_branch_number: "InsuredBranchNumber",
        personal_family_classification: "PersonalFamilyClassification",
        insured_name: "InsuredName",
        name: "Name",
        name_of_other: "NameOfOther",
        /// half-width katakana
        name_kana: "NameKana",
        name_of_other_kana: "NameOfOtherKana",
        sex1: "Sex1",
        sex2: "Sex2",
        birthdate: "Birthdate",
        address: "Address",
        post_number: "PostNumber",
        qualification_date: "QualificationDate",
        disqualification_date: "DisqualificationDate",
        insured_certificate_issuance_date: "InsuredCertificateIssuanceDate",
        insured_card_valid_date: "InsuredCardValidDate",
        insured_card_expiration_date: "InsuredCardExpirationDate",
        /// percent in 3 digits: "030" = 3割
        insured_partial_contribution_ratio: "InsuredPartialContributionRatio",
        preschool_classification: "PreschoolClassification",
        reason_of_loss: "ReasonOfLoss",
        insurer_name: "InsurerName",
    }
);

leaves!(
    /// `ElderlyRecipientCertificateInfo` (高齢受給者証).
    ElderlyRecipientCertificateInfo {
        elderly_recipient_certificate_date: "ElderlyRecipientCertificateDate",
        elderly_recipient_valid_start_date: "ElderlyRecipientValidStartDate",
        elderly_recipient_valid_end_date: "ElderlyRecipientValidEndDate",
        elderly_recipient_contribution_ratio: "ElderlyRecipientContributionRatio",
    }
);

leaves!(
    /// 限度額 consent (OQSCD001) and when it was given.
    LimitConsentPart {
        limit_application_certificate_related_cons_flg: "LimitApplicationCertificateRelatedConsFlg",
        limit_application_certificate_related_cons_time: "LimitApplicationCertificateRelatedConsTime",
    }
);

leaves!(
    /// `LimitApplicationCertificateRelatedInfo` (限度額適用認定証関連情報), only with consent.
    LimitApplicationCertificateRelatedInfo {
        limit_application_certificate_classification: "LimitApplicationCertificateClassification",
        limit_application_certificate_classification_flag: "LimitApplicationCertificateClassificationFlag",
        limit_application_certificate_date: "LimitApplicationCertificateDate",
        limit_application_certificate_valid_start_date: "LimitApplicationCertificateValidStartDate",
        limit_application_certificate_valid_end_date: "LimitApplicationCertificateValidEndDate",
        limit_application_certificate_long_term_date: "LimitApplicationCertificateLongTermDate",
    }
);

leaves!(
    /// 特定疾病 consent and when it was given.
    SpecificDiseasesConsentPart {
        specific_diseases_certificate_related_cons_flg: "SpecificDiseasesCertificateRelatedConsFlg",
        specific_diseases_certificate_related_cons_time: "SpecificDiseasesCertificateRelatedConsTime",
    }
);

leaves!(
    /// One `SpecificDiseasesCertificateInfo` of `SpecificDiseasesCertificateList`
    /// (特定疾病療養受療証).
    SpecificDiseasesCertificateInfo {
        /// OQSCD013: 1 人工透析, 2 血友病, 3 HIV
        specific_diseases_disease_category: "SpecificDiseasesDiseaseCategory",
        specific_diseases_certificate_date: "SpecificDiseasesCertificateDate",
        specific_diseases_valid_start_date: "SpecificDiseasesValidStartDate",
        specific_diseases_valid_end_date: "SpecificDiseasesValidEndDate",
        /// monthly self-pay limit, yen
        specific_diseases_self_pay: "SpecificDiseasesSelfPay",
    }
);

leaves!(
    /// The consents given at the reader (OQSCD016 0 なし / 1 あり / 2 期限切れ) and the
    /// 照会番号 the facility registered for this qualification.
    ConsentPart {
        pharmacists_info_cons_flg: "PharmacistsInfoConsFlg",
        pharmacists_info_cons_time: "PharmacistsInfoConsTime",
        pharmacists_info_available_time: "PharmacistsInfoAvailableTime",
        specific_health_checkups_info_cons_flg: "SpecificHealthCheckupsInfoConsFlg",
        specific_health_checkups_info_cons_time: "SpecificHealthCheckupsInfoConsTime",
        specific_health_checkups_info_available_time: "SpecificHealthCheckupsInfoAvailableTime",
        diagnosis_info_cons_flg: "DiagnosisInfoConsFlg",
        diagnosis_info_cons_time: "DiagnosisInfoConsTime",
        diagnosis_info_available_time: "DiagnosisInfoAvailableTime",
        operation_info_cons_flg: "OperationInfoConsFlg",
        operation_info_cons_time: "OperationInfoConsTime",
        operation_info_available_time: "OperationInfoAvailableTime",
        reference_number: "ReferenceNumber",
    }
);

impl ConsentPart {
    /// Reads the consent elements; the drug consent also under the names one recent tool
    /// writes (`PharmaceuticalInfoConsFlg`, `…ConsTime`, `…AvailableTime`) when the usual
    /// `PharmacistsInfo…` ones are absent.
    pub fn read_any(el: &Element) -> Self {
        let mut c = ConsentPart::read(el);
        let or = |v: &mut Option<String>, alt: &str| {
            if v.is_none() {
                *v = el.nonempty(alt);
            }
        };
        or(
            &mut c.pharmacists_info_cons_flg,
            "PharmaceuticalInfoConsFlg",
        );
        or(
            &mut c.pharmacists_info_cons_time,
            "PharmaceuticalInfoConsTime",
        );
        or(
            &mut c.pharmacists_info_available_time,
            "PharmaceuticalInfoAvailableTime",
        );
        c
    }
}

/// One `ResultOfQualificationConfirmation`, in element order: [`InsuredPart`],
/// `ElderlyRecipientCertificateInfo`, [`LimitConsentPart`],
/// `LimitApplicationCertificateRelatedInfo`, [`SpecificDiseasesConsentPart`],
/// `SpecificDiseasesCertificateList`, [`ConsentPart`]. Readers match elements by name, so
/// the order is onshi's (SPEC's list order), not a rule.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct QualificationEntry {
    pub insured: InsuredPart,
    pub elderly: Option<ElderlyRecipientCertificateInfo>,
    pub limit_consent: LimitConsentPart,
    pub limit_info: Option<LimitApplicationCertificateRelatedInfo>,
    pub specific_diseases_consent: SpecificDiseasesConsentPart,
    /// written as `SpecificDiseasesCertificateList` when not empty
    pub specific_diseases: Vec<SpecificDiseasesCertificateInfo>,
    pub consents: ConsentPart,
}

impl QualificationEntry {
    pub fn write(&self, w: &mut XmlWriter) {
        w.open("ResultOfQualificationConfirmation");
        self.insured.write(w);
        if let Some(e) = &self.elderly {
            w.open("ElderlyRecipientCertificateInfo");
            e.write(w);
            w.close();
        }
        self.limit_consent.write(w);
        if let Some(l) = &self.limit_info {
            w.open("LimitApplicationCertificateRelatedInfo");
            l.write(w);
            w.close();
        }
        self.specific_diseases_consent.write(w);
        if !self.specific_diseases.is_empty() {
            w.open("SpecificDiseasesCertificateList");
            for c in &self.specific_diseases {
                w.open("SpecificDiseasesCertificateInfo");
                c.write(w);
                w.close();
            }
            w.close();
        }
        self.consents.write(w);
        w.close();
    }

    pub fn read(el: &Element) -> Self {
        QualificationEntry {
            insured: InsuredPart::read(el),
            elderly: el
                .child("ElderlyRecipientCertificateInfo")
                .map(ElderlyRecipientCertificateInfo::read),
            limit_consent: LimitConsentPart::read(el),
            limit_info: el
                .child("LimitApplicationCertificateRelatedInfo")
                .map(LimitApplicationCertificateRelatedInfo::read),
            specific_diseases_consent: SpecificDiseasesConsentPart::read(el),
            specific_diseases: el
                .child("SpecificDiseasesCertificateList")
                .map(|l| {
                    l.children_named("SpecificDiseasesCertificateInfo")
                        .map(SpecificDiseasesCertificateInfo::read)
                        .collect()
                })
                .unwrap_or_default(),
            consents: ConsentPart::read_any(el),
        }
    }
}

/// The body of a confirmation answer (`OQSsiquc01res`, face files, and each bulk unit).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct ResultBody {
    /// OQSCD004 処理結果状況: 1 正常終了, 2 エラー
    pub processing_result_status: String,
    /// only when status is 2
    pub processing_result_code: Option<String>,
    pub processing_result_message: Option<String>,
    /// OQSCD006 資格有効性, when the confirmation ran
    pub qualification_validity: Option<String>,
    /// OQSCD017 処方箋発行選択
    pub prescription_issue_select: Option<String>,
    /// the request's search block, echoed (照会区分 2)
    pub search_info: Option<SearchInfoEcho>,
    pub results: Vec<QualificationEntry>,
}

impl ResultBody {
    /// An error body (処理結果状況 2) with the code and message.
    pub fn error(code: &str, message: &str) -> Self {
        ResultBody {
            processing_result_status: "2".into(),
            processing_result_code: Some(code.into()),
            processing_result_message: Some(message.into()),
            ..ResultBody::default()
        }
    }

    /// Writes the body's elements (without the enclosing element).
    pub fn write_inner(&self, w: &mut XmlWriter) {
        w.leaf("ProcessingResultStatus", &self.processing_result_status);
        if self.processing_result_status != "1" {
            w.opt_leaf(
                "ProcessingResultCode",
                self.processing_result_code.as_deref(),
            );
            w.opt_leaf(
                "ProcessingResultMessage",
                self.processing_result_message.as_deref(),
            );
        }
        w.opt_leaf(
            "QualificationValidity",
            self.qualification_validity.as_deref(),
        );
        w.opt_leaf(
            "PrescriptionIssueSelect",
            self.prescription_issue_select.as_deref(),
        );
        if let Some(s) = &self.search_info {
            w.open("QualificationConfirmSearchInfo");
            s.write(w);
            w.close();
        }
        if !self.results.is_empty() {
            w.open("ResultList");
            for r in &self.results {
                r.write(w);
            }
            w.close();
        }
    }

    /// Reads the body's elements from `el` (found at `path`).
    pub fn read_inner(path: &str, el: &Element) -> Result<Self, XmlError> {
        Ok(ResultBody {
            processing_result_status: el.required(path, "ProcessingResultStatus")?.to_string(),
            processing_result_code: el.nonempty("ProcessingResultCode"),
            processing_result_message: el.nonempty("ProcessingResultMessage"),
            qualification_validity: el.nonempty("QualificationValidity"),
            prescription_issue_select: el.nonempty("PrescriptionIssueSelect"),
            search_info: el
                .child("QualificationConfirmSearchInfo")
                .map(SearchInfoEcho::read),
            results: el
                .child("ResultList")
                .map(|l| {
                    l.children_named("ResultOfQualificationConfirmation")
                        .map(QualificationEntry::read)
                        .collect()
                })
                .unwrap_or_default(),
        })
    }
}
