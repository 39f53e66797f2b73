//! The terminal's answers to the medical-information requests (R2): `YZKsiquc01req_` (薬剤情報,
//! FileCategory 2 XML, 4 薬剤+診療情報 XML) and `TKKsiquc01req_` (特定健診情報, FileCategory 2).
//! The central decides (consent given at this facility's reader and not lapsed — a PIN-less
//! card exactly like any other) and records the view; the terminal turns the answer into the
//! XML, in the request's encoding. A request for the PDF rendering (FileCategory 1, and 3 with
//! 診療情報) is answered, when the central grants it, with the PDF (`…res_….pdf`, published
//! before the XML) and the XML answer with `ResultCode` 1; a refusal is the XML alone.
//!
//! `ResultCode` values (onshi's; the public sources only say that 1 is a success): 1 success,
//! 2 no consent or consent lapsed, 3 no such patient, 9 the request could
//! not be read or the central could not answer.

use std::collections::BTreeMap;

use chrono::Datelike;

use onshi_central::medinfo::{MedicalInfoAnswer, MedicalInfoQuery, Patient};
use onshi_domain::kana;
use onshi_domain::medinfo::{
    CheckupItem, DiagnosisRecord, DrugRecord, DrugSource, MedicalInfoKind, MedicalRecords,
};
use onshi_domain::wareki::format_yyyymmdd;
use onshi_formats::terminal_xml::medinfo::{
    CheckupInfoResponse, DiDateInf, DrugInf, DrugInfoResponse, HealthCheckupResultAndQuestionInfo,
    MeTrInf, MedicalInfoHeader, MedicalInfoMessage, MedicalInfoRequest, MonthHead, MonthInf,
    QuaInf, QualificationsInfo, SpecificHealthCheckupInfo,
};
use onshi_formats::terminal_xml::{self as txml, Encoding, XmlError};

use crate::client::ClientError;
use crate::{Terminal, medinfo_pdf};

/// `ResultCode` values of the medical-information answers.
pub mod result_codes {
    pub const SUCCESS: &str = "1";
    pub const NO_CONSENT: &str = "2";
    pub const NOT_FOUND: &str = "3";
    pub const ERROR: &str = "9";
}

/// Either answer, to be written.
enum Out {
    Drug(DrugInfoResponse),
    Checkup(CheckupInfoResponse),
}

impl Out {
    fn header_mut(&mut self) -> &mut MedicalInfoHeader {
        match self {
            Out::Drug(d) => &mut d.header,
            Out::Checkup(c) => &mut c.header,
        }
    }

    fn write(&self, enc: Encoding) -> Result<Vec<u8>, XmlError> {
        match self {
            Out::Drug(d) => d.write(enc),
            Out::Checkup(c) => c.write(enc),
        }
    }

    fn empty(message: MedicalInfoMessage, header: MedicalInfoHeader) -> Self {
        match message {
            MedicalInfoMessage::Drug => Out::Drug(DrugInfoResponse {
                header,
                ..DrugInfoResponse::default()
            }),
            MedicalInfoMessage::Checkup => Out::Checkup(CheckupInfoResponse {
                header,
                ..CheckupInfoResponse::default()
            }),
        }
    }
}

impl Terminal {
    /// Medical information for the desk's screens or a request file, bounded like every call
    /// to the central.
    pub async fn medical_info(
        &self,
        q: &MedicalInfoQuery,
    ) -> Result<MedicalInfoAnswer, ClientError> {
        let t = self.inner.cfg.central_timeout;
        match tokio::time::timeout(t, self.inner.client.medical_info(q)).await {
            Ok(r) => r,
            Err(_) => Err(ClientError::Unreachable(format!(
                "no answer within {} ms",
                t.as_millis()
            ))),
        }
    }

    /// The answer to a `YZKsiquc01req_` / `TKKsiquc01req_` file: bytes and the result code.
    pub(crate) async fn answer_medical_info(
        &self,
        message: MedicalInfoMessage,
        bytes: &[u8],
    ) -> crate::Made {
        let enc = txml::detect_encoding(bytes).unwrap_or(Encoding::Utf8);
        let mut header = MedicalInfoHeader {
            process_execution_time: self.now_compact(),
            medical_institution_code: self.inner.cfg.facility.as_str().to_string(),
            arbitrary_file_identifier: None,
            result_code: result_codes::ERROR.into(),
            message_contents: None,
            character_code_identifier: self.inner.cfg.codes.code(enc).to_string(),
        };
        if let Ok((_, root)) = txml::read_message(bytes)
            && let Some(mh) = root.child("MessageHeader")
        {
            header.arbitrary_file_identifier = mh
                .nonempty("ArbitraryFileIdentifier")
                .filter(|a| a.chars().count() <= 100);
        }
        let refuse = |code: &str, msg: String| {
            let mut h = header.clone();
            h.result_code = code.into();
            h.message_contents = Some(msg);
            Out::empty(message, h)
        };
        let mut pdf = None;
        let out = match MedicalInfoRequest::read(message, bytes) {
            Err(e) => refuse(
                result_codes::ERROR,
                format!("要求ファイルを処理できません: {e}"),
            ),
            Ok((_, r)) if r.medical_institution_code != self.inner.cfg.facility => refuse(
                result_codes::ERROR,
                format!(
                    "XmlMsg/MessageHeader/MedicalInstitutionCode: {} はこの端末の医療機関コード {} ではありません",
                    r.medical_institution_code.as_str(),
                    self.inner.cfg.facility.as_str()
                ),
            ),
            Ok((_, r)) => {
                let q = query(&r);
                match self.medical_info(&q).await {
                    Err(e) => {
                        let (_, msg) = Self::client_error(&e);
                        refuse(result_codes::ERROR, msg)
                    }
                    Ok(MedicalInfoAnswer::NotFound { message }) => {
                        refuse(result_codes::NOT_FOUND, message)
                    }
                    Ok(MedicalInfoAnswer::NoConsent { message, .. }) => {
                        refuse(result_codes::NO_CONSENT, message)
                    }
                    Ok(MedicalInfoAnswer::Granted { patient, records })
                        if r.file_category.is_pdf() =>
                    {
                        let facility = self.inner.cfg.facility.as_str();
                        let made_at = header.process_execution_time.clone();
                        pdf = Some(match message {
                            MedicalInfoMessage::Drug => {
                                drug_pdf(&r, &patient, &records, facility, &made_at)
                            }
                            MedicalInfoMessage::Checkup => {
                                checkup_pdf(&patient, &records.checkups, facility, &made_at)
                            }
                        });
                        let mut h = header.clone();
                        h.result_code = result_codes::SUCCESS.into();
                        h.message_contents = Some(
                            "結果は同じ名前の PDF ファイル（拡張子 .pdf）に出力しました。".into(),
                        );
                        Out::empty(message, h)
                    }
                    Ok(MedicalInfoAnswer::Granted { patient, records }) => {
                        let mut h = header.clone();
                        h.result_code = result_codes::SUCCESS.into();
                        match message {
                            MedicalInfoMessage::Drug => {
                                Out::Drug(drug_answer(h, &patient, &records))
                            }
                            MedicalInfoMessage::Checkup => {
                                Out::Checkup(checkup_answer(h, &patient, &records.checkups))
                            }
                        }
                    }
                }
            }
        };
        let (bytes, code) = self.encode_medical(enc, message, out);
        crate::Made {
            // the PDF only with a success: an answer that could not be encoded is an error
            pdf: pdf.filter(|_| code == result_codes::SUCCESS),
            bytes,
            segment: code,
        }
    }

    /// Encodes; a character Shift_JIS cannot carry turns the answer into an error saying so.
    fn encode_medical(
        &self,
        enc: Encoding,
        message: MedicalInfoMessage,
        mut out: Out,
    ) -> (Vec<u8>, String) {
        let code = out.header_mut().result_code.clone();
        match out.write(enc) {
            Ok(b) => (b, code),
            Err(e) => {
                let mut h = out.header_mut().clone();
                h.result_code = result_codes::ERROR.into();
                h.message_contents = Some(match &e {
                    XmlError::Unrepresentable { path, code, .. } => format!(
                        "応答の {path} に Shift_JIS で表せない文字 (U+{code:04X}) があります。UTF-8 で要求してください。"
                    ),
                    other => format!("応答を作成できません: {other}"),
                });
                let b = Out::empty(message, h.clone())
                    .write(enc)
                    .or_else(|_| Out::empty(message, h).write(Encoding::Utf8))
                    .unwrap_or_default();
                (b, result_codes::ERROR.into())
            }
        }
    }
}

/// What the central is asked for a request.
fn query(r: &MedicalInfoRequest) -> MedicalInfoQuery {
    let kinds = match r.message {
        MedicalInfoMessage::Drug if r.file_category.with_diagnosis() => {
            vec![MedicalInfoKind::Drug, MedicalInfoKind::Diagnosis]
        }
        MedicalInfoMessage::Drug => vec![MedicalInfoKind::Drug],
        MedicalInfoMessage::Checkup => vec![MedicalInfoKind::Checkup],
    };
    // EndDate is a month: up to its last day
    let to = r
        .end_month
        .and_then(|m| m.checked_add_months(chrono::Months::new(1)))
        .and_then(|m| m.pred_opt());
    MedicalInfoQuery {
        insurer_number: r.insurer_number.clone(),
        symbol: r.symbol.clone(),
        number: r.number.clone(),
        branch: r.branch.clone(),
        kinds,
        from: r.start_month,
        to,
        channel: format!("{}/{}", r.message.id(), r.file_category.code()),
    }
}

fn gender(p: &Patient) -> String {
    p.sex.code().to_string()
}

fn month_of(d: chrono::NaiveDate) -> String {
    d.format("%Y%m").to_string()
}

fn drug_inf(d: &DrugRecord) -> DrugInf {
    DrugInf {
        drug_c: Some(d.drug_code.clone()),
        drug_n: Some(d.drug_name.clone()),
        ingre_n: d.ingredient.clone(),
        qua1: Some(d.quantity.clone()),
        unit: Some(d.unit.clone()),
        usage_n: d.usage.clone(),
        sp_inst: d.special_instruction.clone(),
        times: d.times.clone(),
        me_tr_id_cl: Some(d.id_class.clone()),
    }
}

/// Groups drugs by (month, dispensing facility, prescriber) and day.
fn drug_months<'a>(drugs: impl Iterator<Item = &'a DrugRecord>) -> Vec<MonthInf> {
    type Key = (String, String, Option<String>, String);
    let mut months: BTreeMap<Key, (MonthHead, BTreeMap<String, DiDateInf>)> = BTreeMap::new();
    for d in drugs {
        let key = (
            month_of(d.dispensed_on),
            d.dispenser_code.clone(),
            d.prescriber_code.clone(),
            d.in_out.clone(),
        );
        let (_, days) = months.entry(key).or_insert_with(|| {
            (
                MonthHead {
                    // 院内: dispensed at the prescribing facility itself
                    di_org: Some(if d.in_out == "1" { "1" } else { "2" }.into()),
                    me_tr_di_h_cd: Some(d.dispenser_code.clone()),
                    me_tr_di_h_nm: Some(d.dispenser_name.clone()),
                    me_tr_month: Some(month_of(d.dispensed_on)),
                    prls_h_cd: d.prescriber_code.clone(),
                    prls_h_nm: d.prescriber_name.clone(),
                    pr_is_org: d.prescriber_code.as_ref().map(|_| "1".into()),
                    in_out: Some(d.in_out.clone()),
                },
                BTreeMap::new(),
            )
        });
        let day = format_yyyymmdd(d.dispensed_on);
        days.entry(day.clone())
            .or_insert_with(|| DiDateInf {
                di_date: day,
                pr_date: d.prescribed_on.map(format_yyyymmdd),
                drugs: Vec::new(),
            })
            .drugs
            .push(drug_inf(d));
    }
    months
        .into_values()
        .map(|(head, days)| MonthInf {
            head,
            days: days.into_values().collect(),
            treatments: Vec::new(),
        })
        .collect()
}

/// Groups diagnosis / procedure items by (month, facility).
fn treatment_months(items: &[DiagnosisRecord]) -> Vec<MonthInf> {
    let mut months: BTreeMap<(String, String), MonthInf> = BTreeMap::new();
    for t in items {
        let m = months
            .entry((month_of(t.treated_on), t.facility_code.clone()))
            .or_insert_with(|| MonthInf {
                head: MonthHead {
                    di_org: Some("1".into()),
                    me_tr_di_h_cd: Some(t.facility_code.clone()),
                    me_tr_di_h_nm: Some(t.facility_name.clone()),
                    me_tr_month: Some(month_of(t.treated_on)),
                    ..MonthHead::default()
                },
                ..MonthInf::default()
            });
        m.treatments.push(MeTrInf {
            sin_inf_cd: Some(t.code.clone()),
            sin_inf_n: Some(t.name.clone()),
            me_tr_id_cl: Some(t.id_class.clone()),
            qua1: t.quantity.clone(),
            times: t.times.clone(),
            unit: t.unit.clone(),
        });
    }
    months.into_values().collect()
}

fn drug_answer(h: MedicalInfoHeader, p: &Patient, r: &MedicalRecords) -> DrugInfoResponse {
    let of = |s: DrugSource| r.drugs.iter().filter(move |d| d.source == s);
    let mut claims = drug_months(of(DrugSource::Claim));
    claims.extend(treatment_months(&r.diagnoses));
    claims.sort_by(|a, b| a.head.me_tr_month.cmp(&b.head.me_tr_month));
    DrugInfoResponse {
        header: h,
        qua_inf: Some(QuaInf {
            name: Some(p.name.clone()),
            kana_name: Some(kana::to_halfwidth_katakana(&p.name_kana)),
            birth: Some(format_yyyymmdd(p.birthdate)),
            adm_gend_code: Some(gender(p)),
        }),
        claims,
        prescriptions: drug_months(of(DrugSource::Prescription)),
        dispensings: drug_months(of(DrugSource::Dispensing)),
    }
}

fn checkup_answer(h: MedicalInfoHeader, p: &Patient, items: &[CheckupItem]) -> CheckupInfoResponse {
    let mut by_day: BTreeMap<chrono::NaiveDate, Vec<HealthCheckupResultAndQuestionInfo>> =
        BTreeMap::new();
    for i in items {
        by_day
            .entry(i.checked_on)
            .or_default()
            .push(HealthCheckupResultAndQuestionInfo {
                item_code: Some(i.item_code.clone()),
                item_name: Some(i.item_name.clone()),
                data_type: Some(i.data_type.clone()),
                data_value: Some(i.value.clone()),
                unit: i.unit.clone(),
                oid: i.oid.clone(),
                data_value_name: i.value_name.clone(),
            });
    }
    CheckupInfoResponse {
        header: h,
        qualifications_info: Some(QualificationsInfo {
            name: Some(p.name.clone()),
            kanas_name: Some(kana::to_halfwidth_katakana(&p.name_kana)),
            birthday: Some(format_yyyymmdd(p.birthdate)),
            administrative_gender_code: Some(gender(p)),
        }),
        checkups: by_day
            .into_iter()
            .rev()
            .map(|(d, items)| SpecificHealthCheckupInfo {
                effective_time: format_yyyymmdd(d),
                items,
            })
            .collect(),
    }
}

/// `yyyyMMdd` / `yyyyMM` as 「yyyy年m月d日」 / 「yyyy年m月」 for the PDF; other text unchanged.
fn ja_date(s: &str) -> String {
    let num = |a: usize, b: usize| s.get(a..b).and_then(|v| v.parse::<u32>().ok());
    match (s.len(), num(0, 4), num(4, 6), num(6, 8)) {
        (8, Some(y), Some(m), Some(d)) => format!("{y}年{m}月{d}日"),
        (6, Some(y), Some(m), _) => format!("{y}年{m}月"),
        _ => s.to_string(),
    }
}

fn sex_ja(p: &Patient) -> &'static str {
    match p.sex {
        onshi_domain::numbers::Sex::Male => "男",
        onshi_domain::numbers::Sex::Female => "女",
        onshi_domain::numbers::Sex::Unset => "未設定",
    }
}

/// The lines heading every PDF: the patient, the period asked for, when and where it was made.
fn pdf_head(
    doc: &mut medinfo_pdf::Document,
    title: &str,
    p: &Patient,
    period: Option<String>,
    facility: &str,
    made_at: &str,
) {
    doc.title(title);
    doc.text(
        0,
        format!(
            "氏名　{}（{}）　生年月日　{}　性別　{}",
            p.name,
            p.name_kana,
            ja_date(&format_yyyymmdd(p.birthdate)),
            sex_ja(p)
        ),
    );
    if let Some(period) = period {
        doc.text(0, format!("対象期間　{period}"));
    }
    doc.text(
        0,
        format!(
            "作成　{}　医療機関コード　{facility}",
            ja_date_time(made_at)
        ),
    );
    doc.footer = format!("{title}　{}　{}", p.name, ja_date_time(made_at));
}

/// `yyyyMMddHHmmss` as 「yyyy年m月d日 HH:mm」.
fn ja_date_time(s: &str) -> String {
    match (s.get(..8), s.get(8..10), s.get(10..12)) {
        (Some(d), Some(h), Some(m)) => format!("{} {h}:{m}", ja_date(d)),
        _ => s.to_string(),
    }
}

fn drug_line(d: &DrugInf) -> String {
    let mut s = d.drug_n.clone().unwrap_or_default();
    s.push('　');
    s.push_str(d.qua1.as_deref().unwrap_or(""));
    s.push_str(d.unit.as_deref().unwrap_or(""));
    if let Some(u) = &d.usage_n {
        s.push('　');
        s.push_str(u);
    }
    if let Some(t) = &d.times {
        s.push_str(&format!("　{t}回"));
    }
    if let Some(sp) = &d.sp_inst {
        s.push_str(&format!("　（{sp}）"));
    }
    s
}

/// One section of drug months.
fn drug_section(doc: &mut medinfo_pdf::Document, heading: &str, months: &[MonthInf]) {
    doc.heading(heading);
    let mut any = false;
    for m in months.iter().filter(|m| !m.days.is_empty()) {
        any = true;
        let h = &m.head;
        let mut g = format!(
            "{}　{}",
            ja_date(h.me_tr_month.as_deref().unwrap_or("")),
            h.me_tr_di_h_nm.as_deref().unwrap_or("")
        );
        match h.in_out.as_deref() {
            Some("1") => g.push_str("（院内）"),
            Some("2") => g.push_str("（院外）"),
            _ => {}
        }
        if let Some(pr) = &h.prls_h_nm {
            g.push_str(&format!("　処方　{pr}"));
        }
        doc.group(g);
        for day in &m.days {
            let mut d = format!("調剤日　{}", ja_date(&day.di_date));
            if let Some(pr) = &day.pr_date {
                d.push_str(&format!("　処方日　{}", ja_date(pr)));
            }
            doc.text(1, d);
            for drug in &day.drugs {
                doc.text(2, drug_line(drug));
            }
        }
    }
    if !any {
        doc.text(0, "該当する情報はありません。");
    }
    doc.blank();
}

/// The PDF of FileCategory 1 (薬剤情報) or 3 (薬剤情報 + 診療情報).
fn drug_pdf(
    r: &MedicalInfoRequest,
    p: &Patient,
    records: &MedicalRecords,
    facility: &str,
    made_at: &str,
) -> Vec<u8> {
    let with_diagnosis = r.file_category.with_diagnosis();
    let title = if with_diagnosis {
        "薬剤情報・診療情報"
    } else {
        "薬剤情報"
    };
    let mut doc = medinfo_pdf::Document::default();
    let month = |m: Option<chrono::NaiveDate>| m.map(|d| format!("{}年{}月", d.year(), d.month()));
    let period = match (month(r.start_month), month(r.end_month)) {
        (None, None) => None,
        (a, b) => Some(format!(
            "{}～{}",
            a.unwrap_or_default(),
            b.unwrap_or_default()
        )),
    };
    pdf_head(&mut doc, title, p, period, facility, made_at);
    doc.blank();
    let of = |s: DrugSource| records.drugs.iter().filter(move |d| d.source == s);
    drug_section(
        &mut doc,
        "診療報酬明細書（レセプト）等の薬剤情報",
        &drug_months(of(DrugSource::Claim)),
    );
    drug_section(
        &mut doc,
        "電子処方箋の処方情報",
        &drug_months(of(DrugSource::Prescription)),
    );
    drug_section(
        &mut doc,
        "電子処方箋の調剤情報",
        &drug_months(of(DrugSource::Dispensing)),
    );
    if with_diagnosis {
        doc.heading("診療情報（診療行為・手術等）");
        let months = treatment_months(&records.diagnoses);
        if months.is_empty() {
            doc.text(0, "該当する情報はありません。");
        }
        for m in months {
            doc.group(format!(
                "{}　{}",
                ja_date(m.head.me_tr_month.as_deref().unwrap_or("")),
                m.head.me_tr_di_h_nm.as_deref().unwrap_or("")
            ));
            for t in &m.treatments {
                let mut s = t.sin_inf_n.clone().unwrap_or_default();
                if let Some(q) = &t.qua1 {
                    s.push_str(&format!("　{q}{}", t.unit.as_deref().unwrap_or("")));
                }
                if let Some(n) = &t.times {
                    s.push_str(&format!("　{n}回"));
                }
                doc.text(1, s);
            }
        }
    }
    medinfo_pdf::render(&doc, title)
}

/// The PDF of a 特定健診情報 request with FileCategory 1.
fn checkup_pdf(p: &Patient, items: &[CheckupItem], facility: &str, made_at: &str) -> Vec<u8> {
    let title = "特定健診情報";
    let mut doc = medinfo_pdf::Document::default();
    pdf_head(&mut doc, title, p, None, facility, made_at);
    doc.blank();
    let mut by_day: BTreeMap<chrono::NaiveDate, Vec<&CheckupItem>> = BTreeMap::new();
    for i in items {
        by_day.entry(i.checked_on).or_default().push(i);
    }
    if by_day.is_empty() {
        doc.text(0, "該当する情報はありません。");
    }
    for (day, items) in by_day.into_iter().rev() {
        doc.heading(format!("実施日　{}", ja_date(&format_yyyymmdd(day))));
        for i in items {
            let value = i.value_name.clone().unwrap_or_else(|| i.value.clone());
            doc.text(
                0,
                format!(
                    "{}　{}{}",
                    i.item_name,
                    value,
                    i.unit
                        .as_deref()
                        .map(|u| format!(" {u}"))
                        .unwrap_or_default()
                ),
            );
        }
        doc.blank();
    }
    medinfo_pdf::render(&doc, title)
}
