//! GO 診療報酬請求書レコード — the file's totals, last in the file (4 fields).

use super::field::{FieldSpec as F, Kind::*, Num, layout};

layout! {
    /// GO 診療報酬請求書レコード.
    pub struct Go = "GO" {
        /// 2 総件数 — each insurance part (HO) and each public-fund part (KO) counts one.
        total_count: Num = F::new("総件数", "total count", Digits, 6).req(),
        /// 3 総合計点数 — the sum of the parts' 合計点数.
        total_points: Num = F::new("総合計点数", "total points", Digits, 11).req(),
        /// 4 マルチボリューム識別情報 — `99` on the last volume.
        volume: Num = F::new("マルチボリューム識別情報", "volume", Digits, 2).fixed().req(),
    }
}
