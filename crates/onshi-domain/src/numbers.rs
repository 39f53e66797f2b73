//! Numbers of the insurance world, each a type that cannot hold a bad value.
//!
//! - [`InsurerNumber`] 保険者番号: 8 digits (法別 2 + 都道府県 2 + 保険者別 3 + 検証 1) or the
//!   6-digit 国保 form (都道府県 2 + 保険者別 3 + 検証 1), with its check digit (SPEC "Numbers").
//! - [`MyNumber`] 個人番号: 12 digits with its check digit. It is never stored: only its keyed
//!   hash ([`MyNumberHasher`]) leaves the importer.
//! - [`MedicalInstitutionCode`] 医療機関コード (10 digits in the OQS).
//! - [`InsuredSymbol`], [`InsuredNumber`], [`BranchNumber`] 記号・番号・枝番.
//! - [`Sex`] OQSCD007.

use std::fmt;

use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

/// Why a number was refused. Each variant names the field and the rule broken.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NumberError {
    #[error("{field}: must be {expected} digits, got {got:?}")]
    Length {
        field: &'static str,
        expected: &'static str,
        got: String,
    },
    #[error("{field}: must contain only the digits 0-9, got {got:?}")]
    NotDigits { field: &'static str, got: String },
    #[error("{field}: check digit (検証番号) is {got}, the number requires {expected}")]
    CheckDigit {
        field: &'static str,
        expected: u8,
        got: u8,
    },
    #[error("{field}: {reason}")]
    Invalid { field: &'static str, reason: String },
}

fn digits_of(field: &'static str, s: &str) -> Result<Vec<u8>, NumberError> {
    if !s.bytes().all(|b| b.is_ascii_digit()) || s.is_empty() {
        return Err(NumberError::NotDigits {
            field,
            got: s.to_string(),
        });
    }
    Ok(s.bytes().map(|b| b - b'0').collect())
}

/// Check digit of an insurer number: the digits before it, from the rightmost leftwards,
/// multiplied alternately by 2, 1, 2, 1 …; the digits of the products are added up; the check
/// is (10 − last digit of the sum) mod 10. SPEC "Numbers": 3312001 → 5.
pub fn insurer_check_digit(body: &[u8]) -> u8 {
    let sum: u32 = body
        .iter()
        .rev()
        .enumerate()
        .map(|(i, &d)| {
            let p = u32::from(d) * if i % 2 == 0 { 2 } else { 1 };
            p / 10 + p % 10
        })
        .sum();
    ((10 - sum % 10) % 10) as u8
}

/// 法別番号 class of an insurer, derived from the insurer number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum InsurerKind {
    /// 協会けんぽ (法別 01)
    KyokaiKenpo,
    /// 船員保険 (02)
    Seninhoken,
    /// 組合健保 (06)
    Kumiai,
    /// 自衛官等 (07)
    Jieikan,
    /// 共済組合 (31–34)
    Kyosai,
    /// 後期高齢者医療 (39)
    Koki,
    /// 退職者医療 (67)
    Taishoku,
    /// 国民健康保険: 市町村国保 or 国保組合 (6-digit number)
    Kokuho,
    /// any other 法別 (public funds etc.)
    Other,
}

impl InsurerKind {
    /// Japanese label as used at the desk.
    pub fn label(self) -> &'static str {
        match self {
            InsurerKind::KyokaiKenpo => "協会けんぽ",
            InsurerKind::Seninhoken => "船員保険",
            InsurerKind::Kumiai => "組合健保",
            InsurerKind::Jieikan => "自衛官等",
            InsurerKind::Kyosai => "共済組合",
            InsurerKind::Koki => "後期高齢者医療",
            InsurerKind::Taishoku => "退職者医療",
            InsurerKind::Kokuho => "国民健康保険",
            InsurerKind::Other => "その他",
        }
    }
}

/// 保険者番号. 8 digits, or 6 digits for 国保; check digit verified on parse.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, utoipa::ToSchema)]
#[serde(into = "String")]
pub struct InsurerNumber(String);

impl InsurerNumber {
    pub const FIELD: &'static str = "insurer_number";

    /// Parses a 6- or 8-digit insurer number, surrounding spaces allowed (claims right-justify
    /// the 6-digit form in 8 columns).
    pub fn parse(s: &str) -> Result<Self, NumberError> {
        let t = s.trim();
        if t.len() != 6 && t.len() != 8 {
            return Err(NumberError::Length {
                field: Self::FIELD,
                expected: "6 (国保) or 8",
                got: s.to_string(),
            });
        }
        let d = digits_of(Self::FIELD, t)?;
        let (body, check) = d.split_at(d.len() - 1);
        let expected = insurer_check_digit(body);
        if expected != check[0] {
            return Err(NumberError::CheckDigit {
                field: Self::FIELD,
                expected,
                got: check[0],
            });
        }
        Ok(InsurerNumber(t.to_string()))
    }

    /// Builds a valid number from its body (5 or 7 digits), appending the check digit.
    pub fn from_body(body: &str) -> Result<Self, NumberError> {
        if body.len() != 5 && body.len() != 7 {
            return Err(NumberError::Length {
                field: Self::FIELD,
                expected: "5 or 7 (without check digit)",
                got: body.to_string(),
            });
        }
        let d = digits_of(Self::FIELD, body)?;
        let c = insurer_check_digit(&d);
        Ok(InsurerNumber(format!("{body}{c}")))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The 6-digit 国保 form.
    pub fn is_kokuho(&self) -> bool {
        self.0.len() == 6
    }

    /// 法別番号 (first two digits of the 8-digit form); `None` for 国保.
    pub fn houbetsu(&self) -> Option<&str> {
        (!self.is_kokuho()).then(|| &self.0[..2])
    }

    /// 都道府県番号.
    pub fn prefecture(&self) -> &str {
        if self.is_kokuho() {
            &self.0[..2]
        } else {
            &self.0[2..4]
        }
    }

    pub fn kind(&self) -> InsurerKind {
        match self.houbetsu() {
            None => InsurerKind::Kokuho,
            Some("01") => InsurerKind::KyokaiKenpo,
            Some("02") => InsurerKind::Seninhoken,
            Some("06") => InsurerKind::Kumiai,
            Some("07") => InsurerKind::Jieikan,
            Some("31" | "32" | "33" | "34") => InsurerKind::Kyosai,
            Some("39") => InsurerKind::Koki,
            Some("67") => InsurerKind::Taishoku,
            Some(_) => InsurerKind::Other,
        }
    }

    /// Right-justified, space-padded to 8 columns, as claims carry it.
    pub fn claim_form(&self) -> String {
        format!("{:>8}", self.0)
    }
}

impl From<InsurerNumber> for String {
    fn from(v: InsurerNumber) -> String {
        v.0
    }
}

impl<'de> Deserialize<'de> for InsurerNumber {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        InsurerNumber::parse(&s).map_err(serde::de::Error::custom)
    }
}

impl fmt::Display for InsurerNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Check digit of a 個人番号 from its first 11 digits (SPEC "Numbers"): P1…P11 the digits from
/// the right, Qn = n+1 for n ≤ 6 and n−5 for n ≥ 7; r = Σ Pn·Qn mod 11; check = 0 if r ≤ 1
/// else 11 − r.
pub fn my_number_check_digit(first11: &[u8]) -> u8 {
    let sum: u32 = first11
        .iter()
        .rev()
        .enumerate()
        .map(|(i, &p)| {
            let n = i as u32 + 1;
            let q = if n <= 6 { n + 1 } else { n - 5 };
            u32::from(p) * q
        })
        .sum();
    let r = sum % 11;
    if r <= 1 { 0 } else { (11 - r) as u8 }
}

/// 個人番号. Deliberately not `Display`, `Serialize` or `Debug`-transparent: the clear value
/// must never reach a log, a file or a facility. Turn it into a [`MyNumberHash`] at once.
#[derive(Clone, PartialEq, Eq)]
pub struct MyNumber([u8; 12]);

impl fmt::Debug for MyNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("MyNumber(****)")
    }
}

impl MyNumber {
    pub const FIELD: &'static str = "my_number";

    pub fn parse(s: &str) -> Result<Self, NumberError> {
        let t = s.trim();
        if t.len() != 12 {
            return Err(NumberError::Length {
                field: Self::FIELD,
                expected: "12",
                got: format!("{} characters", t.chars().count()),
            });
        }
        let d = digits_of(Self::FIELD, t).map_err(|_| NumberError::NotDigits {
            field: Self::FIELD,
            got: "(not shown)".into(),
        })?;
        let expected = my_number_check_digit(&d[..11]);
        if expected != d[11] {
            return Err(NumberError::CheckDigit {
                field: Self::FIELD,
                expected,
                got: d[11],
            });
        }
        let mut a = [0u8; 12];
        a.copy_from_slice(&d);
        Ok(MyNumber(a))
    }

    /// Builds a valid number from 11 digits by appending the check digit (synthetic data).
    pub fn from_first11(first11: &[u8; 11]) -> Option<Self> {
        if first11.iter().any(|&d| d > 9) {
            return None;
        }
        let mut a = [0u8; 12];
        a[..11].copy_from_slice(first11);
        a[11] = my_number_check_digit(first11);
        Some(MyNumber(a))
    }

    /// The clear digits, for writing a synthetic CSV only.
    pub fn expose_digits(&self) -> String {
        self.0.iter().map(|d| char::from(b'0' + d)).collect()
    }
}

/// Keyed hash of a 個人番号 (HMAC-SHA-256 under the deployment's secret key, hex). This is the
/// only form in which onshi keeps a My Number.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct MyNumberHash(String);

impl MyNumberHash {
    pub fn as_str(&self) -> &str {
        &self.0
    }
    /// Wraps a hash read back from storage.
    pub fn from_stored(s: String) -> Self {
        MyNumberHash(s)
    }
}

/// Holds the secret key for [`MyNumberHash`]es. The key comes from the configuration
/// (generated on first run by the binary).
#[derive(Clone)]
pub struct MyNumberHasher {
    /// wiped from memory when dropped
    key: zeroize::Zeroizing<Vec<u8>>,
}

impl fmt::Debug for MyNumberHasher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("MyNumberHasher(..)")
    }
}

impl MyNumberHasher {
    /// A key shorter than 16 bytes is refused.
    pub fn new(key: &[u8]) -> Result<Self, NumberError> {
        if key.len() < 16 {
            return Err(NumberError::Invalid {
                field: "my_number_key",
                reason: "the secret key must be at least 16 bytes".into(),
            });
        }
        Ok(MyNumberHasher {
            key: zeroize::Zeroizing::new(key.to_vec()),
        })
    }

    pub fn hash(&self, n: &MyNumber) -> MyNumberHash {
        let mut mac =
            <Hmac<Sha256> as Mac>::new_from_slice(&self.key).expect("HMAC takes keys of any size");
        mac.update(b"onshi-my-number:");
        mac.update(&n.0);
        MyNumberHash(hex::encode(mac.finalize().into_bytes()))
    }
}

/// 医療機関コード as the OQS uses it: 10 digits = 都道府県 (2) + 点数表 (1: 1 医科, 3 歯科,
/// 4 調剤) + the 7-digit facility code.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, utoipa::ToSchema)]
#[serde(into = "String")]
pub struct MedicalInstitutionCode(String);

/// 点数表 of a facility.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum FacilityKind {
    /// 医科
    Medical,
    /// 歯科
    Dental,
    /// 調剤 (pharmacy)
    Pharmacy,
}

impl MedicalInstitutionCode {
    pub const FIELD: &'static str = "medical_institution_code";

    pub fn parse(s: &str) -> Result<Self, NumberError> {
        let t = s.trim();
        if t.len() != 10 {
            return Err(NumberError::Length {
                field: Self::FIELD,
                expected: "10",
                got: s.to_string(),
            });
        }
        let d = digits_of(Self::FIELD, t)?;
        let pref = d[0] * 10 + d[1];
        if !(1..=47).contains(&pref) {
            return Err(NumberError::Invalid {
                field: Self::FIELD,
                reason: format!("都道府県番号 must be 01–47, got {:02}", pref),
            });
        }
        if !matches!(d[2], 1 | 3 | 4) {
            return Err(NumberError::Invalid {
                field: Self::FIELD,
                reason: format!(
                    "点数表 must be 1 (医科), 3 (歯科) or 4 (調剤), got {}",
                    d[2]
                ),
            });
        }
        Ok(MedicalInstitutionCode(t.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn kind(&self) -> FacilityKind {
        match self.0.as_bytes()[2] {
            b'1' => FacilityKind::Medical,
            b'3' => FacilityKind::Dental,
            _ => FacilityKind::Pharmacy,
        }
    }

    pub fn prefecture(&self) -> &str {
        &self.0[..2]
    }

    /// The 7-digit code as UKE IR/YK records carry it.
    pub fn seven_digit(&self) -> &str {
        &self.0[3..]
    }
}

impl From<MedicalInstitutionCode> for String {
    fn from(v: MedicalInstitutionCode) -> String {
        v.0
    }
}

impl<'de> Deserialize<'de> for MedicalInstitutionCode {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        MedicalInstitutionCode::parse(&s).map_err(serde::de::Error::custom)
    }
}

impl fmt::Display for MedicalInstitutionCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

fn no_controls(field: &'static str, s: &str) -> Result<(), NumberError> {
    if s.chars().any(|c| c.is_control()) {
        return Err(NumberError::Invalid {
            field,
            reason: "must not contain control characters".into(),
        });
    }
    Ok(())
}

/// 被保険者証記号: as printed; full-width characters allowed; may be empty (many 国保 and
/// 後期 cards have none). At most 38 characters (the OQS field length).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, Default, utoipa::ToSchema)]
#[serde(transparent)]
pub struct InsuredSymbol(String);

impl InsuredSymbol {
    pub const FIELD: &'static str = "symbol";
    pub fn parse(s: &str) -> Result<Self, NumberError> {
        let t = s.trim();
        no_controls(Self::FIELD, t)?;
        if t.chars().count() > 38 {
            return Err(NumberError::Length {
                field: Self::FIELD,
                expected: "at most 38 characters",
                got: t.to_string(),
            });
        }
        Ok(InsuredSymbol(t.to_string()))
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
    /// The key used to look a symbol up: full-width digits and letters folded to ASCII,
    /// spaces removed, so that "１２３" and "123" match.
    pub fn key(&self) -> String {
        crate::kana::name_key(&self.0)
    }
}

/// 被保険者証番号: as printed, not empty, at most 38 characters.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(transparent)]
pub struct InsuredNumber(String);

impl InsuredNumber {
    pub const FIELD: &'static str = "number";
    pub fn parse(s: &str) -> Result<Self, NumberError> {
        let t = s.trim();
        no_controls(Self::FIELD, t)?;
        if t.is_empty() || t.chars().count() > 38 {
            return Err(NumberError::Length {
                field: Self::FIELD,
                expected: "1 to 38 characters",
                got: t.to_string(),
            });
        }
        Ok(InsuredNumber(t.to_string()))
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
    pub fn key(&self) -> String {
        crate::kana::name_key(&self.0)
    }
}

/// 枝番: exactly two digits (individual numbers since 2021).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(transparent)]
pub struct BranchNumber(String);

impl BranchNumber {
    pub const FIELD: &'static str = "branch";
    pub fn parse(s: &str) -> Result<Self, NumberError> {
        let t = s.trim();
        if t.len() != 2 {
            return Err(NumberError::Length {
                field: Self::FIELD,
                expected: "2",
                got: t.to_string(),
            });
        }
        digits_of(Self::FIELD, t)?;
        Ok(BranchNumber(t.to_string()))
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// 性別 (OQSCD007): 1 男 / 2 女 / 3 未設定.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Sex {
    Male,
    Female,
    Unset,
}

impl Sex {
    pub const FIELD: &'static str = "sex";
    pub fn parse(s: &str) -> Result<Self, NumberError> {
        match s.trim() {
            "1" => Ok(Sex::Male),
            "2" => Ok(Sex::Female),
            "3" => Ok(Sex::Unset),
            other => Err(NumberError::Invalid {
                field: Self::FIELD,
                reason: format!(
                    "OQSCD007 性別 must be 1 (男), 2 (女) or 3 (未設定), got {other:?}"
                ),
            }),
        }
    }
    pub fn code(self) -> &'static str {
        match self {
            Sex::Male => "1",
            Sex::Female => "2",
            Sex::Unset => "3",
        }
    }
    pub fn label(self) -> &'static str {
        match self {
            Sex::Male => "男",
            Sex::Female => "女",
            Sex::Unset => "未設定",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn insurer_check_digit_worked_example_from_spec() {
        assert_eq!(insurer_check_digit(&[3, 3, 1, 2, 0, 0, 1]), 5);
        assert!(InsurerNumber::parse("33120015").is_ok());
    }

    #[test]
    fn insurer_number_wrong_check_digit_is_refused_naming_the_field() {
        let e = InsurerNumber::parse("33120016").unwrap_err();
        assert_eq!(
            e,
            NumberError::CheckDigit {
                field: "insurer_number",
                expected: 5,
                got: 6
            }
        );
        assert!(e.to_string().contains("insurer_number"));
    }

    #[test]
    fn insurer_number_lengths() {
        for bad in ["", "1", "1234567", "123456789", "1234５"] {
            assert!(InsurerNumber::parse(bad).is_err(), "{bad}");
        }
        assert!(matches!(
            InsurerNumber::parse("3312001a"),
            Err(NumberError::NotDigits { .. })
        ));
    }

    #[test]
    fn kokuho_six_digit_form_and_claim_padding() {
        let n = InsurerNumber::from_body("13810").unwrap();
        assert_eq!(n.as_str().len(), 6);
        assert!(n.is_kokuho());
        assert_eq!(n.kind(), InsurerKind::Kokuho);
        assert_eq!(n.houbetsu(), None);
        assert_eq!(n.prefecture(), "13");
        assert_eq!(n.claim_form(), format!("  {}", n.as_str()));
        assert_eq!(InsurerNumber::parse(&format!("  {n}")).unwrap(), n);
    }

    #[test]
    fn houbetsu_derives_the_insurer_kind() {
        let cases = [
            ("0113001", InsurerKind::KyokaiKenpo),
            ("0613001", InsurerKind::Kumiai),
            ("3113001", InsurerKind::Kyosai),
            ("3413001", InsurerKind::Kyosai),
            ("3913001", InsurerKind::Koki),
            ("6713001", InsurerKind::Taishoku),
            ("0713001", InsurerKind::Jieikan),
            ("1213001", InsurerKind::Other),
        ];
        for (body, kind) in cases {
            let n = InsurerNumber::from_body(body).unwrap();
            assert_eq!(n.kind(), kind, "{body}");
            assert_eq!(n.houbetsu(), Some(&body[..2]));
            assert_eq!(n.prefecture(), "13");
        }
    }

    #[test]
    fn my_number_check_digit_and_never_shown() {
        // first 11 digits 12345678901: Σ = 1·6+0·5+9·4+8·3+7·2+6·7+5·6+4·5+3·4+2·3+1·2
        let first: [u8; 11] = [1, 2, 3, 4, 5, 6, 7, 8, 9, 0, 1];
        let weights = [6u32, 5, 4, 3, 2, 7, 6, 5, 4, 3, 2];
        let sum: u32 = first
            .iter()
            .zip(weights)
            .map(|(&p, q)| u32::from(p) * q)
            .sum();
        let r = sum % 11;
        let expected = if r <= 1 { 0 } else { 11 - r };
        assert_eq!(u32::from(my_number_check_digit(&first)), expected);
        let n = MyNumber::from_first11(&first).unwrap();
        let s = n.expose_digits();
        assert_eq!(MyNumber::parse(&s).unwrap(), n);
        assert_eq!(format!("{n:?}"), "MyNumber(****)");
        let mut bad = s.clone().into_bytes();
        bad[11] = b'0' + (bad[11] - b'0' + 1) % 10;
        let e = MyNumber::parse(std::str::from_utf8(&bad).unwrap()).unwrap_err();
        assert!(matches!(
            e,
            NumberError::CheckDigit {
                field: "my_number",
                ..
            }
        ));
        assert!(
            !e.to_string().contains(&s),
            "error must not echo the number"
        );
    }

    #[test]
    fn my_number_hash_is_keyed() {
        let n = MyNumber::from_first11(&[9; 11]).unwrap();
        let a = MyNumberHasher::new(b"0123456789abcdef").unwrap();
        let b = MyNumberHasher::new(b"fedcba9876543210").unwrap();
        assert_eq!(a.hash(&n), a.hash(&n));
        assert_ne!(a.hash(&n), b.hash(&n));
        assert_eq!(a.hash(&n).as_str().len(), 64);
        assert!(!a.hash(&n).as_str().contains(&n.expose_digits()));
        assert!(MyNumberHasher::new(b"short").is_err());
    }

    #[test]
    fn medical_institution_code_parts() {
        let c = MedicalInstitutionCode::parse("1314567890").unwrap();
        assert_eq!(c.kind(), FacilityKind::Medical);
        assert_eq!(c.prefecture(), "13");
        assert_eq!(c.seven_digit(), "4567890");
        assert_eq!(
            MedicalInstitutionCode::parse("1344567890").unwrap().kind(),
            FacilityKind::Pharmacy
        );
        for bad in [
            "131456789",
            "13145678901",
            "1324567890",
            "4814567890",
            "0014567890",
            "13a4567890",
        ] {
            assert!(MedicalInstitutionCode::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn symbol_number_branch_and_sex() {
        assert_eq!(InsuredSymbol::parse("").unwrap().as_str(), "");
        assert_eq!(InsuredSymbol::parse("１２３").unwrap().key(), "123");
        assert!(InsuredNumber::parse(" ").is_err());
        assert!(InsuredNumber::parse("12\n3").is_err());
        assert!(BranchNumber::parse("00").is_ok());
        for bad in ["0", "000", "a1", "０１"] {
            assert!(BranchNumber::parse(bad).is_err(), "{bad}");
        }
        assert_eq!(Sex::parse("2").unwrap(), Sex::Female);
        assert_eq!(Sex::Female.code(), "2");
        assert!(Sex::parse("0").unwrap_err().to_string().contains("sex"));
    }

    proptest! {
        #[test]
        fn every_insurer_body_yields_exactly_one_valid_check(body in "[0-9]{7}") {
            let valid = InsurerNumber::from_body(&body).unwrap();
            prop_assert!(InsurerNumber::parse(valid.as_str()).is_ok());
            let c = valid.as_str().as_bytes()[7] - b'0';
            for other in 0..10u8 {
                if other != c {
                    let s = format!("{body}{other}");
                    prop_assert!(InsurerNumber::parse(&s).is_err());
                }
            }
        }

        #[test]
        fn a_single_digit_typo_in_my_number_is_caught(first in proptest::array::uniform11(0u8..10), pos in 0usize..11, delta in 1u8..10) {
            let n = MyNumber::from_first11(&first).unwrap();
            let mut d = n.expose_digits().into_bytes();
            d[pos] = b'0' + (d[pos] - b'0' + delta) % 10;
            // The check folds residues 0 and 1 both to 0, so a typo moving the residue between
            // them is the one kind that slips through; every other one is refused.
            if MyNumber::parse(std::str::from_utf8(&d).unwrap()).is_ok() {
                prop_assert_eq!(d[11], b'0');
            }
        }

        #[test]
        fn number_parsers_never_panic(s in "\\PC{0,20}") {
            let _ = InsurerNumber::parse(&s);
            let _ = MyNumber::parse(&s);
            let _ = MedicalInstitutionCode::parse(&s);
            let _ = InsuredSymbol::parse(&s);
            let _ = InsuredNumber::parse(&s);
            let _ = BranchNumber::parse(&s);
            let _ = Sex::parse(&s);
        }
    }
}
