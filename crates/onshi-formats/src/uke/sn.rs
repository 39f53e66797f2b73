//! SN 資格確認レコード — how the qualification was confirmed (9 fields; 0–n per claim).

use super::field::{FieldSpec as F, InsurerNo, Kind::*, Num, layout};

layout! {
    /// SN 資格確認レコード. In a first claim the facility writes 負担者種別, 確認区分 `01` and the
    /// 枝番 only (`SN,1,01,,,,00,,`); fields 4–6 and 8 are the payer's when it corrects the claim.
    pub struct Sn = "SN" {
        /// 2 負担者種別 — `1` 医療保険, `2`–`5` 第1–第4公費.
        payer_kind: Num = F::new("負担者種別", "payer kind", Digits, 1).fixed().req(),
        /// 3 確認区分 — see the `KAKUNIN_*` constants.
        confirmation: Num = F::new("確認区分", "confirmation kind", Digits, 2).fixed().req(),
        /// 4 保険者番号等 — written by the payer when it corrects the claim.
        insurer_number: Option<InsurerNo> = F::new("保険者番号等", "insurer number", Insurer, 8),
        /// 5 被保険者証等の記号.
        kigou: Option<String> = F::new("記号", "card symbol", Text, 38),
        /// 6 被保険者証等の番号.
        bangou: Option<String> = F::new("番号", "card number", Text, 38),
        /// 7 枝番 — the 2-digit branch number.
        edaban: Option<Num> = F::new("枝番", "branch number", Digits, 2).fixed(),
        /// 8 受給者番号.
        recipient_number: Option<Num> = F::new("受給者番号", "recipient number", Digits, 7),
        /// 9 予備.
        reserved: Option<String> = F::new("予備", "reserved", Ascii, 8),
    }
}

/// 確認区分 01: confirmed at the facility's window (the facility's first claim, R17).
pub const KAKUNIN_FACILITY: &str = "01";
/// 確認区分 02: after filing, unchanged.
pub const KAKUNIN_UNCHANGED: &str = "02";
/// 確認区分 03: 確認不能.
pub const KAKUNIN_UNCONFIRMABLE: &str = "03";
/// 確認区分 04: 振替 (moved to another insurer, R21).
pub const KAKUNIN_FURIKAE: &str = "04";
/// 確認区分 05: 分割 (split by service days, R21).
pub const KAKUNIN_BUNKATSU: &str = "05";
/// 確認区分 06: 資格喪失, billed to the insurer on the claim.
pub const KAKUNIN_LOST_BILLED: &str = "06";
/// 確認区分 07: 資格喪失 (card returned).
pub const KAKUNIN_LOST_RETURNED: &str = "07";
/// 確認区分 08: 資格喪失 (death).
pub const KAKUNIN_LOST_DEATH: &str = "08";
/// 確認区分 09: 枝番特定.
pub const KAKUNIN_EDABAN: &str = "09";

impl Sn {
    /// The facility's SN of a first claim: `SN,<payer_kind>,01,,,,<edaban>,,`.
    pub fn facility(payer_kind: u32, edaban: Option<Num>) -> Sn {
        Sn {
            payer_kind: Num::from(payer_kind),
            confirmation: Num::padded(1, 2),
            insurer_number: None,
            kigou: None,
            bangou: None,
            edaban,
            recipient_number: None,
            reserved: None,
        }
    }
}
