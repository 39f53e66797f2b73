//! SJ 症状詳記レコード — one paragraph of 症状詳記 (3 fields).

use super::field::{FieldSpec as F, Kind::*, Num, layout};

layout! {
    /// SJ 症状詳記レコード.
    pub struct Sj = "SJ" {
        /// 2 症状詳記区分 — empty on the continuation records of one 区分.
        kubun: Option<Num> = F::new("症状詳記区分", "detail class", Digits, 2),
        /// 3 症状詳記データ (≤ 2400 bytes).
        text: String = F::new("症状詳記データ", "detail text", Text, 2400).req(),
    }
}
