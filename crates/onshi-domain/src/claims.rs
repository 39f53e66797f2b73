//! Claims at the facility (3 of 保発0710第1号, R17–R20): the pure rules of what a claim file
//! says about the insurer — to which payer it goes, which numbers stand in the 保険者 record,
//! what the 摘要 of a 不詳 claim carries, and the レセプト種別 of an outpatient claim.
//!
//! Medical content (points, days, diagnoses) is the receipt computer's; this module only decides
//! the insurer part of a claim from the desk's claim basis ([`crate::desk::Claim`]). No I/O, no
//! clock: the service date is an argument.
//!
//! - R17/R18/R19: the numbers of the confirmed, told or lost qualification, as the claim
//!   carries them (a 6-digit 国保 number right-justified in 8 columns).
//! - R20: 保険者番号 `77777777` (or `77777779` where the software insists on a check digit — a
//!   facility setting), 記号 empty, 番号 `777777777` (`77777777`, 8 digits, for 後期高齢者);
//!   「不詳」 as the first 摘要 comment, then the 申立書's address, 事業所名, phone and other details.
//! - The payer: from the insurer number (国保, 国保組合, 後期, 退職 → 国保連; the rest → 支払基金),
//!   for 不詳 from the declared insurance type, わからない → the facility's setting.

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use crate::cost_share;
use crate::desk::{InsuranceType, Moushitatesho};
use crate::numbers::{InsurerKind, InsurerNumber};

/// 保険者番号 of a 不詳 claim (2023-07-19 administrative notice).
pub const FUSHOU_INSURER: &str = "77777777";
/// 保険者番号 of a 不詳 claim for software that insists on a valid check digit (2023-09-15).
pub const FUSHOU_INSURER_CHECK_DIGIT: &str = "77777779";
/// 被保険者番号 of a 不詳 claim (9 digits).
pub const FUSHOU_NUMBER: &str = "777777777";
/// 被保険者番号 of a 不詳 claim for 後期高齢者医療 (8 digits).
pub const FUSHOU_NUMBER_KOKI: &str = "77777777";
/// The first 摘要 comment of a 不詳 claim.
pub const FUSHOU_HEAD: &str = "不詳";
/// The header a payer signs a settlement statement with, POSTed to a facility's hook:
/// `<payer code>:<hex ed25519 signature over the exact bytes of the body>`
/// (docs/formats/settlement.md).
pub const SETTLEMENT_SIGNATURE_HEADER: &str = "x-onshi-payer-signature";

/// 審査支払機関: the IR record's first field.
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
pub enum Payer {
    /// 社会保険診療報酬支払基金 (code 1).
    ShiharaiKikin,
    /// 国民健康保険団体連合会 (code 2).
    Kokuhoren,
}

impl Payer {
    pub const ALL: [Payer; 2] = [Payer::ShiharaiKikin, Payer::Kokuhoren];

    /// The code in the IR record.
    pub fn code(self) -> &'static str {
        match self {
            Payer::ShiharaiKikin => "1",
            Payer::Kokuhoren => "2",
        }
    }

    pub fn from_code(code: &str) -> Option<Payer> {
        match code {
            "1" => Some(Payer::ShiharaiKikin),
            "2" => Some(Payer::Kokuhoren),
            _ => None,
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Payer::ShiharaiKikin => "社会保険診療報酬支払基金",
            Payer::Kokuhoren => "国民健康保険団体連合会",
        }
    }

    /// The short name staff use.
    pub fn short_label(self) -> &'static str {
        match self {
            Payer::ShiharaiKikin => "支払基金",
            Payer::Kokuhoren => "国保連",
        }
    }
}

/// Which 不詳 insurer number the facility writes (R20).
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum FushouInsurer {
    /// `77777777` (the default of the 2023 rule).
    #[default]
    Plain,
    /// `77777779`, for software that checks the check digit.
    CheckDigit,
}

impl FushouInsurer {
    pub fn number(self) -> &'static str {
        match self {
            FushouInsurer::Plain => FUSHOU_INSURER,
            FushouInsurer::CheckDigit => FUSHOU_INSURER_CHECK_DIGIT,
        }
    }
}

/// The facility's claim settings. The defaults follow the 2023 rules.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(default)]
pub struct ClaimSettings {
    /// The 不詳 insurer number (R20).
    pub fushou_insurer: FushouInsurer,
    /// Where a 不詳 claim goes when the declared insurance type is わからない (or not given).
    pub unknown_type_payer: Payer,
    /// The 診療識別 of the CO records that carry a 不詳 claim's 摘要 (no public source fixes it).
    pub fushou_comment_shikibetsu: String,
}

impl Default for ClaimSettings {
    fn default() -> Self {
        ClaimSettings {
            fushou_insurer: FushouInsurer::Plain,
            unknown_type_payer: Payer::ShiharaiKikin,
            fushou_comment_shikibetsu: "01".to_string(),
        }
    }
}

impl ClaimSettings {
    pub fn is_default(&self) -> bool {
        *self == ClaimSettings::default()
    }
}

/// The payer of a claim on a known insurer number: 国保 (市町村 and 国保組合), 後期高齢者医療 and
/// 退職者医療 are paid through the 国保連, every other insurer through the 支払基金.
pub fn payer_for_insurer(n: &InsurerNumber) -> Payer {
    match n.kind() {
        InsurerKind::Kokuho | InsurerKind::Koki | InsurerKind::Taishoku => Payer::Kokuhoren,
        _ => Payer::ShiharaiKikin,
    }
}

/// The payer of a 不詳 claim (R20): by the insurance type declared on the 申立書 — 国保 (and
/// 国保組合) and 後期 → 国保連, 社保 and その他 (自衛官, 公費単独) → 支払基金; わからない or not
/// declared → the facility's setting.
pub fn payer_for_declared(t: Option<InsuranceType>, settings: &ClaimSettings) -> Payer {
    match t {
        Some(InsuranceType::Kokuho | InsuranceType::Koki) => Payer::Kokuhoren,
        Some(InsuranceType::Shaho | InsuranceType::Other) => Payer::ShiharaiKikin,
        Some(InsuranceType::Unknown) | None => settings.unknown_type_payer,
    }
}

/// The insurer part of a claim as the 保険者 record (HO) and the SN record carry it.
#[derive(
    Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, utoipa::ToSchema,
)]
pub struct FiledNumbers {
    /// 保険者番号 in the claim's 8 columns (a 6-digit 国保 number right-justified with spaces).
    pub insurer_number: String,
    /// 記号 (empty for 不詳).
    pub symbol: String,
    /// 番号.
    pub number: String,
    /// 枝番 (2 digits; empty when not known).
    pub branch: String,
}

impl FiledNumbers {
    /// Whether these are the 不詳 values.
    pub fn is_fushou(&self) -> bool {
        matches!(
            self.insurer_number.as_str(),
            FUSHOU_INSURER | FUSHOU_INSURER_CHECK_DIGIT
        )
    }
}

/// The 不詳 numbers of R20: the insurer number of the setting, 記号 empty, 番号 `777777777`
/// (`77777777` for 後期高齢者医療).
pub fn fushou_numbers(koki: bool, settings: &ClaimSettings) -> FiledNumbers {
    FiledNumbers {
        insurer_number: settings.fushou_insurer.number().to_string(),
        symbol: String::new(),
        number: if koki {
            FUSHOU_NUMBER_KOKI
        } else {
            FUSHOU_NUMBER
        }
        .to_string(),
        branch: String::new(),
    }
}

/// Whether a 不詳 claim is a 後期高齢者医療 one: declared 後期, or 75 or over on the day.
pub fn fushou_is_koki(
    declared: Option<InsuranceType>,
    birth: Option<NaiveDate>,
    on: NaiveDate,
) -> bool {
    declared == Some(InsuranceType::Koki) || birth.is_some_and(|b| on >= cost_share::koki_start(b))
}

/// The 摘要 comments of a 不詳 claim (R20), one per CO record, each full-width as the record
/// demands: 「不詳」 first, then the 申立書's address, 居所, 事業所名, phone, and the other details
/// that help the payer find the insurer (R22).
pub fn fushou_comments(m: &Moushitatesho) -> Vec<String> {
    let mut out = vec![FUSHOU_HEAD.to_string()];
    out.extend(
        crate::desk::tekiyou::declaration_items(m)
            .into_iter()
            .map(|(label, v)| to_fullwidth(&format!("{label}：{v}"))),
    );
    out
}

/// Full-width text for a claim record that demands it (CO 文字データ, カタカナ氏名): ASCII
/// becomes full-width, half-width katakana full-width katakana, spaces ideographic spaces.
pub fn to_fullwidth(s: &str) -> String {
    use unicode_normalization::UnicodeNormalization;
    let mut out = String::with_capacity(s.len() * 3);
    let mut halfwidth_kana = String::new();
    let flush = |run: &mut String, out: &mut String| {
        if !run.is_empty() {
            // NFKC composes ｶﾞ → ガ and widens ｰ → ー; the run holds half-width kana only.
            out.extend(run.nfkc());
            run.clear();
        }
    };
    for c in s.chars() {
        if ('\u{FF61}'..='\u{FF9F}').contains(&c) {
            halfwidth_kana.push(c);
            continue;
        }
        flush(&mut halfwidth_kana, &mut out);
        out.push(match c {
            ' ' => '\u{3000}',
            '!'..='~' => char::from_u32(c as u32 - 0x21 + 0xFF01).unwrap_or(c),
            _ => c,
        });
    }
    flush(&mut halfwidth_kana, &mut out);
    out
}

/// 本人家族 of the レセプト種別's last digit (outpatient: the even code).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HonninKazoku {
    /// 本人 (2).
    Honnin,
    /// 未就学者 (4).
    Preschool,
    /// 家族 (6).
    Kazoku,
    /// 高齢受給者・後期 一般・低所得 (8).
    ElderlyGeneral,
    /// 高齢受給者・後期 7割 (現役並み, 0).
    ElderlyWorking,
}

/// The 4-digit レセプト種別 of an outpatient 医科 claim with no public funds: 1 医科, 保険種
/// (1 医保・国保, 3 後期, 4 退職), 1 単独, 本人家族.
///
/// Without a registered 本人家族 (a 不詳 claim, a told qualification), the age decides
/// 未就学 and 高齢; otherwise 本人.
pub fn receipt_type(
    koki: bool,
    taishoku: bool,
    family: Option<bool>,
    share_percent: Option<u8>,
    birth: Option<NaiveDate>,
    on: NaiveDate,
) -> String {
    let hoken = if koki {
        '3'
    } else if taishoku {
        '4'
    } else {
        '1'
    };
    let elderly = koki || birth.is_some_and(|b| on >= cost_share::elderly_start(b));
    let preschool = birth.is_some_and(|b| on <= cost_share::preschool_last_day(b));
    let hk = if elderly {
        if share_percent == Some(30) {
            HonninKazoku::ElderlyWorking
        } else {
            HonninKazoku::ElderlyGeneral
        }
    } else if preschool {
        HonninKazoku::Preschool
    } else if family == Some(true) {
        HonninKazoku::Kazoku
    } else {
        HonninKazoku::Honnin
    };
    let last = match hk {
        HonninKazoku::Honnin => '2',
        HonninKazoku::Preschool => '4',
        HonninKazoku::Kazoku => '6',
        HonninKazoku::ElderlyGeneral => '8',
        HonninKazoku::ElderlyWorking => '0',
    };
    format!("1{hoken}1{last}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::numbers::Sex;
    use crate::wareki::WarekiDate;

    fn d(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    #[test]
    fn payer_from_insurer_number() {
        for (n, payer) in [
            ("01130012", Payer::ShiharaiKikin),
            ("06134563", Payer::ShiharaiKikin),
            ("31130016", Payer::ShiharaiKikin),
            ("138057", Payer::Kokuhoren),
            ("39131156", Payer::Kokuhoren),
            ("67130018", Payer::Kokuhoren),
        ] {
            let parsed = InsurerNumber::parse(n);
            let Ok(parsed) = parsed else {
                // compute a valid check digit for the body instead
                let body = &n[..n.len() - 1];
                let valid = InsurerNumber::from_body(body).unwrap();
                assert_eq!(payer_for_insurer(&valid), payer, "{n}");
                continue;
            };
            assert_eq!(payer_for_insurer(&parsed), payer, "{n}");
        }
    }

    #[test]
    fn r20_fushou_payer_by_declared_type_and_setting() {
        let s = ClaimSettings::default();
        assert_eq!(
            payer_for_declared(Some(InsuranceType::Kokuho), &s),
            Payer::Kokuhoren
        );
        assert_eq!(
            payer_for_declared(Some(InsuranceType::Koki), &s),
            Payer::Kokuhoren
        );
        assert_eq!(
            payer_for_declared(Some(InsuranceType::Shaho), &s),
            Payer::ShiharaiKikin
        );
        assert_eq!(
            payer_for_declared(Some(InsuranceType::Unknown), &s),
            Payer::ShiharaiKikin
        );
        let to_kokuho = ClaimSettings {
            unknown_type_payer: Payer::Kokuhoren,
            ..ClaimSettings::default()
        };
        assert_eq!(
            payer_for_declared(Some(InsuranceType::Unknown), &to_kokuho),
            Payer::Kokuhoren
        );
        assert_eq!(payer_for_declared(None, &to_kokuho), Payer::Kokuhoren);
    }

    #[test]
    fn r20_fushou_numbers_follow_the_setting_and_koki() {
        let plain = fushou_numbers(false, &ClaimSettings::default());
        assert_eq!(plain.insurer_number, "77777777");
        assert_eq!(plain.symbol, "");
        assert_eq!(plain.number, "777777777");
        assert!(plain.is_fushou());
        let s = ClaimSettings {
            fushou_insurer: FushouInsurer::CheckDigit,
            ..ClaimSettings::default()
        };
        let koki = fushou_numbers(true, &s);
        assert_eq!(koki.insurer_number, "77777779");
        assert_eq!(koki.number, "77777777");
        // 77777779 is a valid insurer number, 77777777 is not: the setting exists for that.
        assert!(InsurerNumber::parse("77777779").is_ok());
        assert!(InsurerNumber::parse("77777777").is_err());
    }

    #[test]
    fn r20_koki_by_declaration_or_age() {
        let on = d("2026-11-10");
        assert!(fushou_is_koki(Some(InsuranceType::Koki), None, on));
        assert!(fushou_is_koki(None, Some(d("1950-01-01")), on));
        assert!(!fushou_is_koki(None, Some(d("1960-01-01")), on));
        assert!(!fushou_is_koki(Some(InsuranceType::Shaho), None, on));
    }

    #[test]
    fn r20_fushou_comments_start_with_fushou_and_are_fullwidth() {
        let m = Moushitatesho {
            address: Some("東京都千代田区霞が関1-2-2".into()),
            employer: Some("株式会社オンシ".into()),
            phone: Some("03-1234-5678".into()),
            insurance_type: Some(InsuranceType::Shaho),
            name_kana: Some("ﾔﾏﾀﾞ ﾊﾅｺ".into()),
            birth_date: WarekiDate::parse("昭和60年4月1日").ok(),
            sex: Some(Sex::Female),
            ..Moushitatesho::default()
        };
        let c = fushou_comments(&m);
        assert_eq!(c[0], "不詳");
        assert_eq!(c[1], "住所：東京都千代田区霞が関１－２－２");
        assert_eq!(c[2], "事業所名：株式会社オンシ");
        assert_eq!(c[3], "連絡先：０３－１２３４－５６７８");
        assert!(c.contains(&"フリガナ：ヤマダ　ハナコ".to_string()), "{c:?}");
        for line in &c {
            assert!(!line.chars().any(|ch| ch.is_ascii()), "{line}");
        }
    }

    #[test]
    fn receipt_types_of_outpatient_claims() {
        let on = d("2026-11-10");
        // 本人, 家族, 未就学
        assert_eq!(
            receipt_type(
                false,
                false,
                Some(false),
                Some(30),
                Some(d("1985-11-11")),
                on
            ),
            "1112"
        );
        assert_eq!(
            receipt_type(
                false,
                false,
                Some(true),
                Some(30),
                Some(d("1985-11-11")),
                on
            ),
            "1116"
        );
        assert_eq!(
            receipt_type(
                false,
                false,
                Some(true),
                Some(20),
                Some(d("2023-05-05")),
                on
            ),
            "1114"
        );
        // 高齢受給者 一般 / 7割
        assert_eq!(
            receipt_type(
                false,
                false,
                Some(false),
                Some(20),
                Some(d("1954-04-02")),
                on
            ),
            "1118"
        );
        assert_eq!(
            receipt_type(
                false,
                false,
                Some(false),
                Some(30),
                Some(d("1954-04-02")),
                on
            ),
            "1110"
        );
        // 後期 1割 / 3割
        assert_eq!(
            receipt_type(true, false, None, Some(10), Some(d("1945-01-01")), on),
            "1318"
        );
        assert_eq!(
            receipt_type(true, false, None, Some(30), Some(d("1945-01-01")), on),
            "1310"
        );
    }

    #[test]
    fn fullwidth_conversion() {
        assert_eq!(to_fullwidth("A1-b ｶﾞ"), "Ａ１－ｂ　ガ");
    }
}
