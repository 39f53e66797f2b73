//! RE レセプト共通レコード — the head of each claim (38 fields).

use std::borrow::Cow;

use super::field::{FieldSpec as F, FieldSpec, FieldType, Kind::*, Num, YearMonth, Ymd, layout};

layout! {
    /// RE レセプト共通レコード: one per claim, first of its records.
    pub struct Re = "RE" {
        /// 2 レセプト番号 — 1, 2 … in the file.
        receipt_number: Num = F::new("レセプト番号", "receipt number", Digits, 6).req(),
        /// 3 レセプト種別 — 4 digits: 1 医科; 保険種 (1 医保・国保, 2 公費, 3 後期, 4 退職); 併用;
        /// 本人家族 (入院 odd). E.g. `1112` 医保単独本人外来, `1318` 後期単独一般外来.
        receipt_kind: Num = F::new("レセプト種別", "receipt kind", Digits, 4).fixed().req(),
        /// 4 診療年月 — service month.
        service_month: YearMonth = F::new("診療年月", "service month", YearMonth, 6).req(),
        /// 5 氏名 — name (漢字 or カナ). SPEC gives no width; the public sample carries 44
        /// bytes and an older layout 40: onshi accepts up to 100.
        name: String = F::new("氏名", "name", Text, 100).req(),
        /// 6 男女区分 — `1` male, `2` female.
        sex: Num = F::new("男女区分", "sex", Digits, 1).fixed().req(),
        /// 7 生年月日 — date of birth.
        birth_date: Ymd = F::new("生年月日", "date of birth", Date, 8).req(),
        /// 8 給付割合 — benefit ratio (normally empty).
        benefit_ratio: Option<Num> = F::new("給付割合", "benefit ratio", Digits, 3),
        /// 9 入院年月日 — admission date.
        admission_date: Option<Ymd> = F::new("入院年月日", "admission date", Date, 8),
        /// 10 病棟区分 — ward codes.
        ward: Option<String> = F::new("病棟区分", "ward", Ascii, 8),
        /// 11 一部負担金・食事療養費・生活療養費標準負担額区分.
        share_kubun: Option<Num> = F::new("一部負担金区分", "share class", Digits, 1),
        /// 12 レセプト特記事項 — up to five 2-digit codes.
        tokki: Option<Num> = F::new("レセプト特記事項", "special notes", Digits, 10),
        /// 13 病床数.
        beds: Option<Num> = F::new("病床数", "beds", Digits, 4),
        /// 14 カルテ番号等 — the facility's chart number.
        chart_number: Option<String> = F::new("カルテ番号等", "chart number", Ascii, 20),
        /// 15 割引点数単価.
        discount_unit_price: Option<String> = F::new("割引点数単価", "discount unit price", Decimal, 5),
        /// 16 予備.
        reserved1: Option<String> = F::new("予備", "reserved", Text, 40),
        /// 17 予備.
        reserved2: Option<String> = F::new("予備", "reserved", Text, 40),
        /// 18 予備.
        reserved3: Option<String> = F::new("予備", "reserved", Text, 40),
        /// 19 検索番号 — set by the payer, echoed on re-claims.
        search_number: Option<String> = F::new("検索番号", "search number", Ascii, 30),
        /// 20 記録条件仕様年月情報.
        spec_month: Option<Num> = F::new("記録条件仕様年月", "layout version month", Digits, 6),
        /// 21 請求情報.
        billing_info: Option<String> = F::new("請求情報", "billing information", Text, 100),
        /// 22–36 three × (診療科名, 人体の部位等, 性別等, 医学的処置, 特定疾病).
        departments: Departments = department_specs(),
        /// 37 カタカナ氏名 — name in full-width katakana, no space.
        kana_name: Option<String> = F::new("カタカナ氏名", "name in katakana", FullWidth, 100),
        /// 38 患者の状態.
        patient_state: Option<String> = F::new("患者の状態", "patient state", Ascii, 20),
    }
}

/// One 診療科 block of RE (fields 22–26, 27–31, 32–36).
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Department {
    /// 診療科名.
    pub name: Option<Num>,
    /// 人体の部位等.
    pub body_part: Option<Num>,
    /// 性別等.
    pub sex_etc: Option<Num>,
    /// 医学的処置.
    pub treatment: Option<Num>,
    /// 特定疾病.
    pub disease: Option<Num>,
}

/// The three 診療科 blocks of RE.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Departments(pub [Department; 3]);

impl FieldType for Departments {
    const N: usize = 15;
    fn take(fields: &mut [String]) -> Self {
        let mut d = Departments::default();
        let mut it = fields.iter_mut().map(std::mem::take);
        for dep in d.0.iter_mut() {
            let mut next = || {
                it.next()
                    .filter(|s| !s.is_empty())
                    .and_then(|s| Num::parse(&s))
            };
            dep.name = next();
            dep.body_part = next();
            dep.sex_etc = next();
            dep.treatment = next();
            dep.disease = next();
        }
        d
    }
    fn put<'a>(&'a self, out: &mut Vec<Cow<'a, str>>) {
        for dep in &self.0 {
            for v in [
                &dep.name,
                &dep.body_part,
                &dep.sex_etc,
                &dep.treatment,
                &dep.disease,
            ] {
                out.push(Cow::Borrowed(v.as_ref().map(Num::as_str).unwrap_or("")));
            }
        }
    }
}

fn department_specs() -> Vec<FieldSpec> {
    let mut v = Vec::new();
    for _ in 0..3 {
        v.push(F::new("診療科名", "department", Digits, 2));
        v.push(F::new("人体の部位等", "body part", Digits, 3));
        v.push(F::new("性別等", "sex etc.", Digits, 3));
        v.push(F::new("医学的処置", "medical treatment", Digits, 3));
        v.push(F::new("特定疾病", "specified disease", Digits, 3));
    }
    v
}

impl Re {
    /// 保険種 (second digit of レセプト種別): 1 医保・国保, 2 公費, 3 後期, 4 退職.
    pub fn insurance_kind_digit(&self) -> Option<char> {
        self.receipt_kind.as_str().chars().nth(1)
    }
    /// A 後期高齢者 claim (レセプト種別 13xx).
    pub fn is_kouki(&self) -> bool {
        self.insurance_kind_digit() == Some('3')
    }
    /// An inpatient claim (odd last digit of レセプト種別).
    pub fn is_inpatient(&self) -> bool {
        self.receipt_kind
            .as_str()
            .chars()
            .nth(3)
            .and_then(|c| c.to_digit(10))
            .is_some_and(|d| d % 2 == 1)
    }
}

impl Re {
    /// An RE with the fields a facility fills for an ordinary claim; the others empty.
    pub fn new(
        receipt_number: u32,
        receipt_kind: Num,
        service_month: YearMonth,
        name: &str,
        kana_name: Option<&str>,
        sex: Num,
        birth_date: chrono::NaiveDate,
    ) -> Re {
        Re {
            receipt_number: Num::from(receipt_number),
            receipt_kind,
            service_month,
            name: name.to_owned(),
            sex,
            birth_date: Ymd(birth_date),
            benefit_ratio: None,
            admission_date: None,
            ward: None,
            share_kubun: None,
            tokki: None,
            beds: None,
            chart_number: None,
            discount_unit_price: None,
            reserved1: None,
            reserved2: None,
            reserved3: None,
            search_number: None,
            spec_month: None,
            billing_info: None,
            departments: Departments::default(),
            kana_name: kana_name.map(str::to_owned),
            patient_state: None,
        }
    }
}
