//! Code tables of the OQS interface (OQSCD…), as data. Codes are strings: leading zeros
//! matter. Each enum parses from its code and gives back the code and the Japanese label.

use serde::{Deserialize, Serialize};

/// An unknown code for a code table; names the field and the table.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {got:?} is not a code of {table} (allowed: {allowed})")]
pub struct CodeError {
    pub field: &'static str,
    pub table: &'static str,
    pub got: String,
    pub allowed: String,
}

macro_rules! code_table {
    ($(#[$m:meta])* $name:ident, $table:literal, $field:literal, { $($variant:ident = $code:literal, $label:literal;)+ }) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
        #[serde(rename_all = "snake_case")]
        pub enum $name { $($variant,)+ }

        impl $name {
            pub const TABLE: &'static str = $table;
            pub const FIELD: &'static str = $field;
            pub const ALL: &'static [$name] = &[$($name::$variant,)+];

            pub fn code(self) -> &'static str {
                match self { $($name::$variant => $code,)+ }
            }

            pub fn label(self) -> &'static str {
                match self { $($name::$variant => $label,)+ }
            }

            /// Parses the code; the error names `field` (the caller's column or element).
            pub fn parse_for(field: &'static str, s: &str) -> Result<Self, CodeError> {
                let t = s.trim();
                $(if t == $code { return Ok($name::$variant); })+
                Err(CodeError {
                    field,
                    table: $table,
                    got: t.to_string(),
                    allowed: [$(concat!($code, " ", $label),)+].join(", "),
                })
            }

            pub fn parse(s: &str) -> Result<Self, CodeError> {
                Self::parse_for($field, s)
            }
        }
    };
}

code_table!(
    /// 照会区分 (OQSCD002).
    ReferenceClassification, "OQSCD002 照会区分", "reference_classification", {
    Card = "1", "マイナンバーカード";
    InsuranceNumbers = "2", "被保険者証情報";
});

code_table!(
    /// 処理結果区分 (OQSCD003), the response header's `SegmentOfResult`.
    SegmentOfResult, "OQSCD003 処理結果区分", "segment_of_result", {
    Normal = "1", "正常終了";
    Processing = "2", "処理中";
    Abnormal = "9", "異常終了";
});

code_table!(
    /// 処理結果状況 (OQSCD004), the body's `ProcessingResultStatus`.
    ProcessingResultStatus, "OQSCD004 処理結果状況", "processing_result_status", {
    Normal = "1", "正常終了";
    Error = "2", "エラー";
});

code_table!(
    /// 資格有効性 (OQSCD006), R5; 6 有効（未登録） is for 医療扶助 only.
    QualificationValidity, "OQSCD006 資格有効性", "qualification_validity", {
    Valid = "1", "有効";
    Invalid = "2", "無効";
    InvalidNewerExists = "3", "無効（新しい資格あり）";
    NotFound = "4", "該当資格なし";
    Multiple = "5", "複数該当";
    ValidUnregistered = "6", "有効（未登録）";
});

code_table!(
    /// 資格喪失事由 (OQSCD008).
    ReasonOfLoss, "OQSCD008 資格喪失事由", "reason_of_loss", {
    Death = "01", "死亡";
    Welfare = "02", "生活保護受給開始";
    OtherInsurance = "03", "医療保険等の資格取得";
    Other = "99", "その他";
});

code_table!(
    /// 本人家族の別 (OQSCD009).
    FamilyClass, "OQSCD009 本人家族", "family_class", {
    Insured = "1", "本人";
    Dependent = "2", "家族";
});

code_table!(
    /// 被保険者証区分 (OQSCD010); A1 is 医療扶助 (the 医療券).
    CardClassification, "OQSCD010 被保険者証区分", "card_classification", {
    General = "01", "一般";
    Retired = "02", "退職";
    ShortTermGeneral = "03", "短期一般";
    ShortTermRetired = "04", "短期退職";
    QualificationCertificate = "05", "資格証明書";
    SpecialRetired = "06", "特例退職";
    SelfDefense = "07", "自衛官";
    MedicalAid = "A1", "医療扶助";
});

code_table!(
    /// 限度額適用認定証区分 (OQSCD011).
    LimitCertificateClassification, "OQSCD011 限度額適用認定証区分", "limit_certificate_classification", {
    Limit = "01", "限度額適用認定証";
    LimitAndReduction = "02", "限度額適用・標準負担額減額認定証";
    Elderly = "03", "高齢受給者証等";
});

code_table!(
    /// 限度額適用区分 (OQSCD012).
    LimitClass, "OQSCD012 限度額適用区分", "limit_class", {
    A01 = "A01", "ア";
    A02 = "A02", "イ";
    A03 = "A03", "ウ";
    A04 = "A04", "エ";
    A05 = "A05", "オ";
    A06 = "A06", "オ（境）";
    B01 = "B01", "現役並みⅢ";
    B02 = "B02", "現役並みⅡ";
    B03 = "B03", "現役並みⅠ";
    B04 = "B04", "一般";
    B05 = "B05", "低所得Ⅱ";
    B06 = "B06", "低所得Ⅰ";
    B07 = "B07", "低所得Ⅰ（老福）";
    B08 = "B08", "低所得Ⅰ（境）";
    B09 = "B09", "一般Ⅱ";
    B10 = "B10", "一般Ⅰ";
});

code_table!(
    /// 特定疾病 (OQSCD013): the 特定疾病療養受療証's disease category.
    SpecificDisease, "OQSCD013 特定疾病", "specific_disease", {
    Dialysis = "1", "人工透析";
    Hemophilia = "2", "血友病";
    Hiv = "3", "HIV";
});

code_table!(
    /// 未就学区分 (OQSCD015): 1 未就学, 2 就学中.
    PreschoolClass, "OQSCD015 未就学区分", "preschool", {
    Preschool = "1", "未就学";
    InSchool = "2", "就学中";
});

code_table!(
    /// 同意 (OQSCD016) for the medical-information consents.
    ConsentState, "OQSCD016 同意", "consent", {
    None = "0", "なし";
    Given = "1", "あり";
    Expired = "2", "期限切れ";
});

code_table!(
    /// 処方箋発行選択 (OQSCD017), chosen by the patient at the reader: 1 電子, 2 紙.
    PrescriptionIssue, "OQSCD017 処方箋発行選択", "prescription_issue", {
    Electronic = "1", "電子処方箋";
    Paper = "2", "紙の処方箋";
});

code_table!(
    /// 限度額情報提供の同意 (OQSCD001).
    LimitConsent, "OQSCD001 限度額同意", "limit_consent", {
    NotConsented = "0", "未同意";
    Consented = "1", "同意";
});

code_table!(
    /// How identity was established at the reader (R1): 顔認証, 暗証番号 or 目視確認.
    IdentityMethod, "本人確認方法", "identity_method", {
    Face = "1", "顔認証";
    Pin = "2", "暗証番号";
    Visual = "3", "目視確認";
});

impl LimitClass {
    /// The income class a 限度額適用区分 implies for the cost share of 70+ (現役並み → 3割,
    /// 一般Ⅱ → 2割 in 後期), where the registry gives no explicit ratio.
    pub fn income_class(self) -> crate::cost_share::IncomeClass {
        use crate::cost_share::IncomeClass;
        match self {
            LimitClass::B01 | LimitClass::B02 | LimitClass::B03 => IncomeClass::GenekiNami,
            LimitClass::B09 => IncomeClass::Ichiteiijo,
            _ => IncomeClass::General,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_keep_leading_zeros_and_round_trip() {
        assert_eq!(ReasonOfLoss::OtherInsurance.code(), "03");
        assert_eq!(
            CardClassification::parse("07").unwrap(),
            CardClassification::SelfDefense
        );
        for v in QualificationValidity::ALL {
            assert_eq!(QualificationValidity::parse(v.code()).unwrap(), *v);
        }
        for v in LimitClass::ALL {
            assert_eq!(LimitClass::parse(v.code()).unwrap(), *v);
        }
    }

    #[test]
    fn r5_validity_codes_are_the_real_ones() {
        assert_eq!(QualificationValidity::Valid.code(), "1");
        assert_eq!(QualificationValidity::Invalid.code(), "2");
        assert_eq!(QualificationValidity::InvalidNewerExists.code(), "3");
        assert_eq!(QualificationValidity::NotFound.code(), "4");
        assert_eq!(QualificationValidity::Multiple.code(), "5");
        assert_eq!(QualificationValidity::ValidUnregistered.code(), "6");
    }

    #[test]
    fn unknown_code_names_field_and_table() {
        let e = ReasonOfLoss::parse_for("reason_of_loss", "3").unwrap_err();
        let msg = e.to_string();
        assert!(
            msg.contains("reason_of_loss") && msg.contains("OQSCD008"),
            "{msg}"
        );
        assert!(msg.contains("03 医療保険等の資格取得"), "{msg}");
    }
}
