//! SY 傷病名レコード — one diagnosis (8 fields).

use super::field::{FieldSpec as F, Kind::*, Num, Ymd, layout};

layout! {
    /// SY 傷病名レコード.
    pub struct Sy = "SY" {
        /// 2 傷病名コード — 7 digits; `0000999` for an uncoded name (then field 6 holds it).
        code: Num = F::new("傷病名コード", "diagnosis code", Digits, 7).fixed().req(),
        /// 3 診療開始日.
        start_date: Ymd = F::new("診療開始日", "start date", Date, 8).req(),
        /// 4 転帰区分 — `1` 継続, `2` 治ゆ, `3` 死亡, `4` 中止.
        outcome: Num = F::new("転帰区分", "outcome", Digits, 1).fixed().req(),
        /// 5 修飾語コード — up to 20 codes of 4 digits, concatenated.
        modifiers: Option<Num> = F::new("修飾語コード", "modifier codes", Digits, 80),
        /// 6 傷病名称 — the uncoded name. An older layout gave 40 bytes; the public sample
        /// carries 216: onshi accepts up to 400.
        name: Option<String> = F::new("傷病名称", "diagnosis name", Text, 400),
        /// 7 主傷病 — `01` main diagnosis.
        main: Option<Num> = F::new("主傷病", "main diagnosis", Digits, 2),
        /// 8 補足コメント.
        supplement: Option<String> = F::new("補足コメント", "supplementary comment", Text, 400),
    }
}

/// 傷病名コード of an uncoded diagnosis (the name goes in 傷病名称).
pub const UNCODED_DIAGNOSIS: &str = "0000999";

impl Sy {
    /// A diagnosis by code (転帰 `1` 継続).
    pub fn coded(code: Num, start_date: chrono::NaiveDate, main: bool) -> Sy {
        Sy {
            code,
            start_date: Ymd(start_date),
            outcome: Num::from(1u32),
            modifiers: None,
            name: None,
            main: main.then(|| Num::padded(1, 2)),
            supplement: None,
        }
    }
    /// An uncoded diagnosis: `0000999` with its name (転帰 `1` 継続).
    pub fn uncoded(name: &str, start_date: chrono::NaiveDate, main: bool) -> Sy {
        Sy {
            name: Some(name.to_owned()),
            ..Sy::coded(Num::padded(999, 7), start_date, main)
        }
    }
}
