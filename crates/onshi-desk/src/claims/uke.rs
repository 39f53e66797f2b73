//! A month's claims as a UKE file (`RECEIPTC.UKE`, `onshi_formats::uke`): IR, then per claim
//! RE · HO · SN · JD · SY… · the 摘要 lines · the 不詳 comments, then GO. One file per payer.
//!
//! What the facility writes in SN on a first claim is 負担者種別 1, 確認区分 `01` (confirmed at
//! the facility's window) and the 枝番; the payer fills the rest when it corrects the claim
//! (R21). A 不詳 claim (R20) carries `77777777`/`77777779`, 記号 empty, `777777777` (`77777777`
//! for 後期) in HO, and free comments (CO 810000001) with 「不詳」 first, under the 診療識別 of
//! the facility's setting (default `01`).

use onshi_domain::claims::Payer;
use onshi_formats::uke::{
    self, ClaimParts, Co, Ho, InsurerNo, Ir, Iy, Jd, Num, Re, Record, Si, Sn, Sy, To, UkeClaim,
    UkeFile, YearMonth, Ymd,
};

use super::build::{FiledClaim, MonthLine};
use super::content::LineKind;
use super::{ClaimsError, FacilityClaimSettings};

/// The file name of a 医科 claim file.
pub const FILE_NAME: &str = "RECEIPTC.UKE";

fn num(s: &str, field: &str) -> Result<Num, ClaimsError> {
    Num::parse(s).ok_or_else(|| ClaimsError::Uke(format!("{field}: {s:?} is not a number")))
}

fn opt(s: &str) -> Option<String> {
    (!s.is_empty()).then(|| s.to_string())
}

/// One claim as UKE records, numbered `receipt_number` in its file.
pub fn uke_claim(
    c: &FiledClaim,
    receipt_number: u32,
    settings: &FacilityClaimSettings,
) -> Result<UkeClaim, ClaimsError> {
    let month = YearMonth::parse(&c.service_month)
        .ok_or_else(|| ClaimsError::Uke(format!("service_month {:?}", c.service_month)))?;
    let mut parts = ClaimParts::default();
    let re = Re {
        receipt_number: Num::from(receipt_number),
        receipt_kind: num(&c.receipt_type, "RE レセプト種別")?,
        service_month: month,
        name: c.name.clone(),
        sex: num(&c.sex, "RE 男女区分")?,
        birth_date: Ymd(c.birth_date),
        benefit_ratio: None,
        admission_date: None,
        ward: None,
        share_kubun: None,
        tokki: None,
        beds: None,
        chart_number: opt(&c.patient_id),
        discount_unit_price: None,
        reserved1: None,
        reserved2: None,
        reserved3: None,
        search_number: None,
        spec_month: None,
        billing_info: None,
        departments: Default::default(),
        kana_name: opt(&c.name_kana),
        patient_state: None,
    };
    let insurer = InsurerNo::parse(&c.numbers.insurer_number).ok_or_else(|| {
        ClaimsError::Uke(format!(
            "HO 保険者番号: {:?} is not an insurer number",
            c.numbers.insurer_number
        ))
    })?;
    parts.ho = Some(Ho {
        insurer_number: insurer,
        kigou: opt(&onshi_domain::claims::to_fullwidth(&c.numbers.symbol)),
        bangou: opt(&onshi_domain::claims::to_fullwidth(&c.numbers.number)),
        days: Num::from(c.days.len() as u32),
        total_points: Num::from(c.points),
        reserved: None,
        meal_count: None,
        meal_amount: None,
        occupational: None,
        certificate_number: None,
        share_amount: (c.charged_yen > 0).then(|| Num::from(c.charged_yen)),
        reduction_kind: None,
        reduction_ratio: None,
        reduction_amount: None,
    });
    let branch = (!c.numbers.branch.is_empty())
        .then(|| num(&c.numbers.branch, "SN 枝番"))
        .transpose()?;
    parts.sn.push(Sn::facility(1, branch));
    let mut jd = Jd {
        payer_kind: Num::from(1u32),
        days: Default::default(),
    };
    for d in &c.days {
        jd.days.set(u32::from(*d), Some(Num::from(1u32)));
    }
    parts.jd.push(jd);
    let main_given = c.diagnoses.iter().any(|d| d.main);
    for (i, d) in c.diagnoses.iter().enumerate() {
        parts.sy.push(Sy {
            code: num(&d.code, "SY 傷病名コード")?,
            start_date: Ymd(d.start_date),
            outcome: num(&d.outcome, "SY 転帰区分")?,
            modifiers: d
                .modifier
                .as_deref()
                .map(|m| num(m, "SY 修飾語コード"))
                .transpose()?,
            name: d.name.as_deref().map(onshi_domain::claims::to_fullwidth),
            main: (d.main || (!main_given && i == 0)).then(|| Num::padded(1, 2)),
            supplement: None,
        });
    }
    // 摘要 lines in 診療識別 order, the 診療識別 on the first line of each group only.
    let mut lines: Vec<&MonthLine> = c.lines.iter().collect();
    lines.sort_by(|a, b| a.line.shikibetsu.cmp(&b.line.shikibetsu));
    let mut last_shikibetsu: Option<&str> = None;
    for ml in lines {
        let l = &ml.line;
        let shikibetsu = if last_shikibetsu == Some(l.shikibetsu.as_str()) {
            None
        } else {
            Some(num(&l.shikibetsu, "診療識別")?)
        };
        last_shikibetsu = Some(l.shikibetsu.as_str());
        let mut days: uke::Days = Default::default();
        for (d, n) in &ml.days {
            days.set(u32::from(*d), Some(Num::from(*n)));
        }
        let code = num(&l.code, "コード")?;
        let points = l.points.map(Num::from);
        let count = Num::from(ml.total_times());
        parts.tekiyou.push(match l.kind {
            LineKind::SI => Record::Si(Si {
                shikibetsu,
                futan_kubun: l.futan.clone(),
                code,
                quantity: l
                    .quantity
                    .as_deref()
                    .map(|q| num(q, "SI 数量データ"))
                    .transpose()?,
                points,
                count,
                comments: Default::default(),
                days,
            }),
            LineKind::IY => Record::Iy(Iy {
                shikibetsu,
                futan_kubun: l.futan.clone(),
                code,
                quantity: l.quantity.clone(),
                points,
                count,
                comments: Default::default(),
                days,
            }),
            LineKind::TO => Record::To(To {
                shikibetsu,
                futan_kubun: l.futan.clone(),
                code,
                quantity: l.quantity.clone(),
                points,
                count,
                unit_code: None,
                unit_price: None,
                reserved: None,
                product_name: None,
                comments: Default::default(),
                days,
            }),
            LineKind::CO => Record::Co(Co {
                shikibetsu,
                futan_kubun: l.futan.clone(),
                code,
                text: l.text.as_deref().map(onshi_domain::claims::to_fullwidth),
            }),
        });
    }
    // R20: 「不詳」 and the 申立書's details as free comments.
    for (i, text) in c.comments.iter().enumerate() {
        let shikibetsu = (i == 0)
            .then(|| num(&settings.rules.fushou_comment_shikibetsu, "CO 診療識別"))
            .transpose()?;
        parts
            .tekiyou
            .push(Record::Co(Co::free(shikibetsu, "1", text)));
    }
    UkeClaim::from_parts(re, parts)
        .map_err(|r| ClaimsError::Uke(format!("record {} out of the layout's order", r.id())))
}

/// The UKE file of one payer's claims for a billing month.
pub fn file_bytes(
    facility_code: &str,
    settings: &FacilityClaimSettings,
    payer: Payer,
    billing_month: &str,
    claims: &[FiledClaim],
) -> Result<Vec<u8>, ClaimsError> {
    if facility_code.len() != 10 || !facility_code.bytes().all(|b| b.is_ascii_digit()) {
        return Err(ClaimsError::Uke(format!(
            "IR 医療機関コード: {facility_code:?} is not a 10-digit code"
        )));
    }
    if &facility_code[2..3] == "4" {
        return Err(ClaimsError::NotOffered(format!(
            "IR 点数表: {facility_code} is a pharmacy (4 調剤); the 調剤 claim file (RECEIPTY.UKE) is not written — its layout is not in the public facts onshi follows"
        )));
    }
    let billing = YearMonth::parse(billing_month)
        .ok_or_else(|| ClaimsError::Uke(format!("IR 請求年月: {billing_month:?}")))?;
    let ir = Ir {
        payer: num(payer.code(), "IR 審査支払機関")?,
        prefecture: num(&facility_code[..2], "IR 都道府県")?,
        fee_table: num(&facility_code[2..3], "IR 点数表")?,
        facility_code: num(&facility_code[3..], "IR 医療機関コード")?,
        reserved: None,
        facility_name: opt(&onshi_domain::claims::to_fullwidth(&settings.facility_name)),
        billing_month: billing,
        volume: Num::padded(0, 2),
        phone: opt(&settings.phone),
    };
    let claims = claims
        .iter()
        .enumerate()
        .map(|(i, c)| uke_claim(c, i as u32 + 1, settings))
        .collect::<Result<Vec<_>, _>>()?;
    UkeFile::new(ir, claims)
        .to_bytes()
        .map_err(|e: uke::UkeWriteError| ClaimsError::Uke(e.to_string()))
}
