//! Reads a submitted UKE file (`onshi_formats::uke`) into the payer's model.
//!
//! The reader checks the layout (encoding, field counts, widths, record order, GO totals);
//! this adds what the payer's model needs: a valid 保険者番号 or a 不詳 value (R20), a known
//! 男女区分, and an insurance part (HO) or, for 公費単独, public fund parts (KO) with valid
//! 負担者番号. Every error of the file is returned, each with its
//! line, record, field and rule; nothing of a file with an error is kept.

use onshi_domain::numbers::{InsurerNumber, Sex};
use onshi_formats::uke::{ClaimReader, FileItem, UkeClaim, UkeError};

use crate::intake::{FileHeader, LineError, ParsedFile};
use crate::model::{Claim, ClaimedInsurer, ClaimedNumbers, PayerCode, PublicFund, YearMonth};

fn from_uke_error(e: &UkeError) -> LineError {
    LineError {
        line: e.line as u32,
        record: (!e.record.is_empty()).then(|| e.record.clone()),
        field: e.field.as_ref().map(|f| f.ja.clone()),
        rule: "layout".into(),
        message: match &e.field {
            Some(f) => format!("field {} {} ({}): {}", f.number, f.ja, f.en, e.rule),
            None => e.rule.to_string(),
        },
    }
}

fn month(m: onshi_formats::uke::YearMonth) -> Option<YearMonth> {
    YearMonth::new(i32::from(m.year()), u32::from(m.month()))
}

/// Reads `bytes` as a 医科 UKE file. `fusho_numbers` are the 保険者番号 read as 不詳 (R20).
pub fn read_uke(bytes: &[u8], fusho_numbers: &[String]) -> Result<ParsedFile, Vec<LineError>> {
    let mut errs = Vec::new();
    let mut header = None;
    let mut claims = Vec::new();
    // line of the next record: IR is line 1
    let mut line: u32 = 1;
    for item in ClaimReader::new(bytes) {
        match item {
            Err(e) => errs.extend(e.0.iter().map(from_uke_error)),
            Ok(FileItem::Ir(ir)) => {
                let payer = PayerCode::parse(ir.payer.as_str());
                let bm = month(ir.billing_month);
                match (payer, bm) {
                    (Some(payer), Some(billing_month)) => {
                        header = Some(FileHeader {
                            line,
                            payer,
                            facility: format!(
                                "{}{}{}",
                                ir.prefecture.as_str(),
                                ir.fee_table.as_str(),
                                ir.facility_code.as_str()
                            ),
                            facility_name: ir.facility_name.clone().unwrap_or_default(),
                            billing_month,
                        })
                    }
                    (None, _) => errs.push(LineError::new(
                        line,
                        "IR",
                        "審査支払機関",
                        "layout",
                        format!(
                            "{:?} is neither 1 (支払基金) nor 2 (国保連)",
                            ir.payer.as_str()
                        ),
                    )),
                    (_, None) => errs.push(LineError::new(
                        line,
                        "IR",
                        "請求年月",
                        "layout",
                        "not a month",
                    )),
                }
                line += 1;
            }
            Ok(FileItem::Other(_)) => line += 1,
            Ok(FileItem::Claim(c)) => {
                match claim_of(&c, line, fusho_numbers) {
                    Ok(cl) => claims.push(cl),
                    Err(e) => errs.extend(e),
                }
                line += 1 + c.body().len() as u32;
            }
            Ok(FileItem::Go(..)) => line += 1,
        }
    }
    match header {
        Some(header) if errs.is_empty() => Ok(ParsedFile { header, claims }),
        None if errs.is_empty() => Err(vec![LineError {
            line: 1,
            record: Some("IR".into()),
            field: None,
            rule: "layout".into(),
            message: "the file has no IR record".into(),
        }]),
        _ => Err(errs),
    }
}

fn claim_of(c: &UkeClaim, line: u32, fusho: &[String]) -> Result<Claim, Vec<LineError>> {
    let mut errs = Vec::new();
    let re = c.re();
    let p = c.person();
    let ho_line = c
        .body()
        .iter()
        .position(|r| matches!(r, onshi_formats::uke::Record::Ho(_)))
        .map(|i| line + 1 + i as u32)
        .unwrap_or(line);
    let sex = match p.sex {
        "1" => Some(Sex::Male),
        "2" => Some(Sex::Female),
        other => {
            errs.push(LineError::new(
                line,
                "RE",
                "男女区分",
                "layout",
                format!("{other:?} is neither 1 (男) nor 2 (女)"),
            ));
            None
        }
    };
    let service_month = month(c.service_month());
    if service_month.is_none() {
        errs.push(LineError::new(
            line,
            "RE",
            "診療年月",
            "layout",
            "not a month",
        ));
    }
    // the 公費 parts (KO), 第1公費 first: each fund's number must be a valid 負担者番号
    let mut funds = Vec::new();
    for (at, r) in (line + 1..).zip(c.body().iter()) {
        if let onshi_formats::uke::Record::Ko(k) = r {
            let raw = k.payer_number.as_str();
            match InsurerNumber::parse(raw) {
                Ok(n) => funds.push(PublicFund {
                    payer_number: n,
                    recipient_number: k
                        .recipient_number
                        .as_ref()
                        .map(|r| r.as_str().to_string())
                        .unwrap_or_default(),
                    days: k.days.value().min(99) as u32,
                    points: k.total_points.value(),
                    copay_yen: k.fund_amount.as_ref().map_or(0, |v| v.value()),
                }),
                Err(e) => errs.push(LineError::new(
                    at,
                    "KO",
                    "負担者番号",
                    "payer.fund",
                    format!("{raw:?}: not a 公費負担者番号 ({e})"),
                )),
            }
        }
    }
    let ho = c.ho();
    if ho.is_none() && c.ko().next().is_none() {
        errs.push(LineError::new(
            line,
            "HO",
            "保険者番号",
            "layout",
            "the claim has neither an insurance part (HO) nor a public fund part (KO)",
        ));
        return Err(errs);
    }
    let (raw, insurer) = match ho {
        // 公費単独: paid by the 第1公費 (the first KO)
        None => (
            c.ko()
                .next()
                .map(|k| k.payer_number.as_str().to_string())
                .unwrap_or_default(),
            Some(ClaimedInsurer::PublicFundOnly),
        ),
        Some(ho) => {
            let raw = ho.insurer_number.as_str().to_string();
            let digits = ho.insurer_number.digits();
            let insurer = if fusho.iter().any(|f| f == digits) {
                Some(ClaimedInsurer::Fusho)
            } else {
                match InsurerNumber::parse(digits) {
                    Ok(n) => Some(ClaimedInsurer::Known(n)),
                    Err(e) => {
                        errs.push(LineError::new(
                            ho_line,
                            "HO",
                            "保険者番号",
                            "R17",
                            format!("{digits:?}: {e} (or write a 不詳 value, R20)"),
                        ));
                        None
                    }
                }
            };
            (raw, insurer)
        }
    };
    let branch = c
        .sn()
        .find(|s| s.payer_kind.as_str() == "1")
        .and_then(|s| s.edaban.as_ref())
        .map(|b| b.as_str().to_string());
    let (symbol, number, actual_days, copay_yen) = match ho {
        Some(ho) => (
            ho.kigou.clone().unwrap_or_default(),
            ho.bangou.clone().unwrap_or_default(),
            ho.days.value().min(99) as u32,
            c.ichibu_futankin().unwrap_or(0),
        ),
        None => (
            String::new(),
            funds
                .first()
                .map(|f| f.recipient_number.clone())
                .unwrap_or_default(),
            funds.first().map_or(0, |f| f.days),
            funds.first().map_or(0, |f| f.copay_yen),
        ),
    };
    match (sex, service_month, insurer) {
        (Some(sex), Some(service_month), Some(insurer)) if errs.is_empty() => Ok(Claim {
            receipt_number: re.receipt_number.value().min(u64::from(u32::MAX)) as u32,
            line,
            receipt_kind: re.receipt_kind.as_str().to_string(),
            service_month,
            name: p.name.to_string(),
            kana_name: p.kana_name.unwrap_or_default().to_string(),
            sex,
            birthdate: p.birth_date,
            numbers: ClaimedNumbers {
                insurer,
                insurer_raw: raw,
                symbol,
                number,
                branch,
            },
            service_days: c.service_days(),
            actual_days,
            points: c.total_points(),
            copay_yen,
            public_funds: c.ko().count().min(4) as u8,
            funds,
            tekiyou: c.free_comments().into_iter().map(str::to_string).collect(),
        }),
        _ => Err(errs),
    }
}
