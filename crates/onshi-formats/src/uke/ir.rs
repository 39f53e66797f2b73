//! IR 医療機関情報レコード — the facility record, first in the file (10 fields).

use super::field::{FieldSpec as F, Kind::*, Num, YearMonth, layout};

layout! {
    /// IR 医療機関情報レコード: who files, to which payer, for which billing month.
    pub struct Ir = "IR" {
        /// 2 審査支払機関 — payer: `1` 支払基金, `2` 国保連.
        payer: Num = F::new("審査支払機関", "payer", Digits, 1).fixed().req(),
        /// 3 都道府県 — prefecture code of the facility.
        prefecture: Num = F::new("都道府県", "prefecture", Digits, 2).fixed().req(),
        /// 4 点数表 — fee table: `1` 医科, `3` 歯科, `4` 調剤.
        fee_table: Num = F::new("点数表", "fee table", Digits, 1).fixed().req(),
        /// 5 医療機関コード — the facility's 7-digit code.
        facility_code: Num = F::new("医療機関コード", "facility code", Digits, 7).fixed().req(),
        /// 6 予備 — reserved.
        reserved: Option<String> = F::new("予備", "reserved", Ascii, 2),
        /// 7 医療機関名称 — facility name (漢字, ≤ 40 bytes).
        facility_name: Option<String> = F::new("医療機関名称", "facility name", Text, 40),
        /// 8 請求年月 — billing month (usually the service month + 1).
        billing_month: YearMonth = F::new("請求年月", "billing month", YearMonth, 6).req(),
        /// 9 マルチボリューム識別情報 — volume number, `00` for a single volume.
        volume: Num = F::new("マルチボリューム識別情報", "volume", Digits, 2).fixed().req(),
        /// 10 電話番号 — facility phone (英数, ≤ 15 bytes).
        phone: Option<String> = F::new("電話番号", "phone", Ascii, 15),
    }
}

/// 審査支払機関 of IR.
pub const PAYER_SHAHO: &str = "1";
/// 審査支払機関 of IR: 国民健康保険団体連合会.
pub const PAYER_KOKUHO: &str = "2";
/// 点数表 of IR: 医科.
pub const FEE_TABLE_IKA: &str = "1";
/// 点数表 of IR: 調剤.
pub const FEE_TABLE_CHOUZAI: &str = "4";

impl Ir {
    /// An IR for one volume (`00`), without the reserved field.
    pub fn new(
        payer: u32,
        prefecture: Num,
        fee_table: u32,
        facility_code: Num,
        facility_name: Option<String>,
        billing_month: YearMonth,
        phone: Option<String>,
    ) -> Ir {
        Ir {
            payer: Num::from(payer),
            prefecture,
            fee_table: Num::from(fee_table),
            facility_code,
            reserved: None,
            facility_name,
            billing_month,
            volume: Num::padded(0, 2),
            phone,
        }
    }
}
