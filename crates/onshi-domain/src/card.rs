//! The certificate side of a My Number card as the central sees it (SPEC "Where the PIN
//! lives"): status and the 利用者証明用電子証明書 expiry with its grace period. The PIN and the
//! photo belong to the card emulation (crate `onshi-card`), never to this side.

use chrono::{Datelike, NaiveDate};
use serde::{Deserialize, Serialize};

/// Status of a card's certificate at the central.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CertStatus {
    Active,
    /// 失効: the certificate was revoked (card returned, lost, re-issued).
    Revoked,
    /// IC chip unreadable (R8: the patient's card is unusable).
    ChipBroken,
}

impl CertStatus {
    pub fn code(self) -> &'static str {
        match self {
            CertStatus::Active => "active",
            CertStatus::Revoked => "revoked",
            CertStatus::ChipBroken => "chip_broken",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "active" => Some(CertStatus::Active),
            "revoked" => Some(CertStatus::Revoked),
            "chip_broken" => Some(CertStatus::ChipBroken),
            _ => None,
        }
    }
}

/// The last day a card may be used for qualification confirmation: a card whose
/// 利用者証明用電子証明書 has expired still works until the end of the 3rd month after the
/// expiry month (SPEC, public facts under R1–R4).
pub fn certificate_usable_until(expiry: NaiveDate) -> NaiveDate {
    let months = expiry.year() * 12 + expiry.month0() as i32 + 4; // first of the 4th month after
    let first = NaiveDate::from_ymd_opt(months.div_euclid(12), months.rem_euclid(12) as u32 + 1, 1)
        .unwrap_or(NaiveDate::MAX);
    first.pred_opt().unwrap_or(first)
}

/// What the certificate allows on a given day.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum CertCheck {
    Ok,
    /// Expired but inside the 3-month grace: confirmation works, staff may tell the patient.
    InGrace {
        usable_until: NaiveDate,
    },
    PastGrace {
        usable_until: NaiveDate,
    },
    Revoked,
    ChipBroken,
}

pub fn check_certificate(status: CertStatus, expiry: NaiveDate, on: NaiveDate) -> CertCheck {
    match status {
        CertStatus::Revoked => CertCheck::Revoked,
        CertStatus::ChipBroken => CertCheck::ChipBroken,
        CertStatus::Active if on <= expiry => CertCheck::Ok,
        CertStatus::Active => {
            let usable_until = certificate_usable_until(expiry);
            if on <= usable_until {
                CertCheck::InGrace { usable_until }
            } else {
                CertCheck::PastGrace { usable_until }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(y: i32, m: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, day).unwrap()
    }

    #[test]
    fn grace_runs_to_the_end_of_the_third_month_after_expiry() {
        assert_eq!(certificate_usable_until(d(2026, 8, 15)), d(2026, 11, 30));
        assert_eq!(certificate_usable_until(d(2026, 10, 31)), d(2027, 1, 31));
        assert_eq!(certificate_usable_until(d(2026, 11, 1)), d(2027, 2, 28));
        assert_eq!(certificate_usable_until(d(2027, 11, 1)), d(2028, 2, 29));
        assert_eq!(certificate_usable_until(d(2026, 12, 31)), d(2027, 3, 31));
    }

    #[test]
    fn certificate_checks_at_each_boundary() {
        let exp = d(2026, 8, 15);
        assert_eq!(
            check_certificate(CertStatus::Active, exp, exp),
            CertCheck::Ok
        );
        assert_eq!(
            check_certificate(CertStatus::Active, exp, d(2026, 8, 16)),
            CertCheck::InGrace {
                usable_until: d(2026, 11, 30)
            }
        );
        assert!(matches!(
            check_certificate(CertStatus::Active, exp, d(2026, 11, 30)),
            CertCheck::InGrace { .. }
        ));
        assert!(matches!(
            check_certificate(CertStatus::Active, exp, d(2026, 12, 1)),
            CertCheck::PastGrace { .. }
        ));
        assert_eq!(
            check_certificate(CertStatus::Revoked, exp, exp),
            CertCheck::Revoked
        );
        assert_eq!(
            check_certificate(CertStatus::ChipBroken, exp, exp),
            CertCheck::ChipBroken
        );
    }
}

/// How the reader established (or failed to establish) the holder's identity (R1, R2, R3).
/// The reader reports this to the central; the central never sees a PIN.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(tag = "result", rename_all = "snake_case")]
pub enum IdentityOutcome {
    Verified {
        method: crate::codes::IdentityMethod,
        /// the staff member who ticked 目視で本人確認完了 (R3); required for visual
        staff_id: Option<String>,
    },
    Refused {
        failure: IdentityFailure,
    },
}

/// Why identity could not be established at the reader.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(tag = "class", rename_all = "snake_case")]
pub enum IdentityFailure {
    /// R2: a PIN-less card cannot use PIN identification.
    PinNotSet,
    /// Wrong PIN; `remaining` attempts before the lock.
    PinWrong { remaining: u32 },
    /// 3 wrong PINs in a row locked it (reset only at the municipality).
    PinLocked,
    /// Face authentication did not match (R15: staff may switch to 目視確認).
    FaceMismatch,
    /// R3: visual confirmation must name the staff member who made it.
    StaffMissing,
    /// The reader could not read the card at all (IC chip broken, R8).
    ChipUnreadable,
}

impl IdentityFailure {
    /// Stable error class, as recorded in the confirmation history.
    pub fn class(&self) -> &'static str {
        match self {
            IdentityFailure::PinNotSet => "pin_not_set",
            IdentityFailure::PinWrong { .. } => "pin_wrong",
            IdentityFailure::PinLocked => "pin_locked",
            IdentityFailure::FaceMismatch => "face_mismatch",
            IdentityFailure::StaffMissing => "staff_missing",
            IdentityFailure::ChipUnreadable => "chip_unreadable",
        }
    }

    /// The message staff see, in Japanese.
    pub fn message_ja(&self) -> String {
        match self {
            IdentityFailure::PinNotSet => {
                "暗証番号が設定されていないカードです。顔認証または目視確認で本人確認してください（R2）。"
                    .into()
            }
            IdentityFailure::PinWrong { remaining } => {
                format!("暗証番号が違います。あと{remaining}回間違えるとロックされます。")
            }
            IdentityFailure::PinLocked => {
                "暗証番号がロックされています（解除は市区町村窓口）。顔認証または目視確認をご利用ください。"
                    .into()
            }
            IdentityFailure::FaceMismatch => {
                "顔認証できませんでした。職員による目視確認モードに切り替えられます（R15）。".into()
            }
            IdentityFailure::StaffMissing => {
                "目視確認には確認した職員の職員IDが必要です（R3）。".into()
            }
            IdentityFailure::ChipUnreadable => {
                "カードのICチップを読み取れません。資格確認書等での確認に切り替えてください（R8）。"
                    .into()
            }
        }
    }
}
