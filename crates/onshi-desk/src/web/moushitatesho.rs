//! The 被保険者資格申立書 at the desk: the entry screen (the clerk or the patient on a tablet,
//! R24, R25) and the printable sheet laid out like annex 3 — the explanation sheet first
//! (R26), then the form — pre-filled from what is known, for patients who write by hand.

use askama::Template;
use axum::Form;
use axum::extract::Path;
use axum::http::StatusCode;
use axum::response::Response;
use onshi_domain::desk::{Presented, assess};
use onshi_terminal::store::HistoryQuery;
use onshi_ui::Layout;

use super::{Screen, internal, not_found, redirect_with};
use crate::Desk;
use crate::moushitatesho::{FieldMessage, FormInput, ISSUED, TYPES};
use crate::print;
use crate::visits::Visit;

/// The printed texts of annex 3, for the templates.
pub(crate) struct Texts {
    pub explanation: &'static str,
    pub explanation_share: &'static str,
    pub explanation_tell: &'static str,
    pub cases: [&'static str; 2],
    pub use_note: &'static str,
    pub note1: &'static str,
    pub note2: &'static str,
    pub note3: &'static str,
    pub note4: &'static str,
    pub note5: &'static str,
}

const TEXTS: Texts = Texts {
    explanation: print::EXPLANATION,
    explanation_share: print::EXPLANATION_SHARE,
    explanation_tell: print::EXPLANATION_TELL,
    cases: print::EXPLANATION_CASES,
    use_note: print::USE_NOTE,
    note1: print::NOTE1,
    note2: print::NOTE2,
    note3: print::NOTE3,
    note4: print::NOTE4,
    note5: print::NOTE5,
};

const SHARES: [(&str, &str); 4] = [
    ("30", "3割"),
    ("20", "2割"),
    ("10", "1割"),
    ("unknown", "わからない"),
];

fn types() -> Vec<(&'static str, &'static str)> {
    TYPES.iter().map(|(k, t)| (*k, t.label())).collect()
}

fn issued() -> Vec<(&'static str, &'static str)> {
    ISSUED.iter().map(|(k, t)| (*k, t.label())).collect()
}

/// A printed check box.
pub(crate) fn boxed(on: bool) -> &'static str {
    if on { "☑" } else { "□" }
}

/// A blank to write in by hand when the value is not known.
pub(crate) fn blank(s: &str) -> &str {
    if s.is_empty() { "　　" } else { s }
}

#[derive(Template)]
#[template(path = "desk/moushitatesho_entry.html")]
struct Entry<'a> {
    layout: Layout,
    id: i64,
    f: &'a FormInput,
    errors: &'a [FieldMessage],
    reminders: &'a [FieldMessage],
    text: &'static Texts,
    types: Vec<(&'static str, &'static str)>,
    issued: Vec<(&'static str, &'static str)>,
    shares: &'static [(&'static str, &'static str)],
    eras: Vec<(&'static str, &'static str)>,
}

#[derive(Template)]
#[template(path = "desk/moushitatesho_print.html")]
pub(crate) struct Printable<'a> {
    layout: Layout,
    f: &'a FormInput,
    text: &'static Texts,
    types: Vec<(&'static str, &'static str)>,
    issued: Vec<(&'static str, &'static str)>,
    shares: &'static [(&'static str, &'static str)],
    eras: Vec<(&'static str, &'static str)>,
    signed: String,
}

impl<'a> Printable<'a> {
    pub fn new(layout: Layout, f: &'a FormInput) -> Self {
        let signed = f
            .signed_on
            .parse::<chrono::NaiveDate>()
            .ok()
            .and_then(|d| onshi_domain::wareki::WarekiDate::from_date(d).ok())
            .map(|w| w.to_string())
            .unwrap_or_else(|| "　　年　　月　　日".into());
        Printable {
            layout,
            f,
            text: &TEXTS,
            types: types(),
            issued: issued(),
            shares: &SHARES,
            eras: super::visit::eras(),
            signed,
        }
    }
}

/// The entry screen, with errors (red, naming the field) and reminders.
fn entry_page(
    sc: &Screen,
    v: &Visit,
    f: &FormInput,
    errors: &[FieldMessage],
    status: StatusCode,
) -> Response {
    onshi_ui::page_with(
        status,
        &Entry {
            layout: sc.layout("被保険者資格申立書 — onshi", "home"),
            id: v.id,
            f,
            errors,
            reminders: &[],
            text: &TEXTS,
            types: types(),
            issued: issued(),
            shares: &SHARES,
            eras: super::visit::eras(),
        },
    )
}

fn load(sc: &Screen, id: i64) -> Result<Visit, Box<Response>> {
    match sc.desk.visits.get(id) {
        Ok(v) => Ok(v),
        Err(crate::VisitError::NotFound(_)) => Err(Box::new(not_found(&sc.desk))),
        Err(e) => Err(Box::new(internal(&sc.desk, e))),
    }
}

/// The form as stored, or an empty one pre-filled from what is known.
fn current_input(d: &Desk, v: &Visit) -> FormInput {
    match v.situation.moushitatesho.shown() {
        Some(m) if v.form_purged_at.is_none() => FormInput::from_form(m),
        _ => known_input(d, v),
    }
}

pub(crate) async fn entry(sc: Screen, Path(id): Path<i64>) -> Response {
    let v = match load(&sc, id) {
        Ok(v) => v,
        Err(r) => return *r,
    };
    let input = current_input(&sc.desk, &v);
    entry_page(&sc, &v, &input, &[], StatusCode::OK)
}

pub(crate) async fn print(sc: Screen, Path(id): Path<i64>) -> Response {
    let v = match load(&sc, id) {
        Ok(v) => v,
        Err(r) => return *r,
    };
    let input = current_input(&sc.desk, &v);
    onshi_ui::page(&Printable::new(
        sc.layout("被保険者資格申立書（印刷）", "home"),
        &input,
    ))
}

pub(crate) async fn submit(
    sc: Screen,
    Path(id): Path<i64>,
    Form(input): Form<FormInput>,
) -> Response {
    let d = &sc.desk;
    let v = match load(&sc, id) {
        Ok(v) => v,
        Err(r) => return *r,
    };
    let checked = match input.check(v.service_date, v.birth_date.or(v.situation.birth_date)) {
        Ok(c) => c,
        Err(errors) => return entry_page(&sc, &v, &input, &errors, StatusCode::BAD_REQUEST),
    };
    let mut s = v.situation.clone();
    s.moushitatesho = Presented::Shown(checked.form.clone());
    if s.birth_date.is_none() {
        s.birth_date = checked.form.birth_date.map(|w| w.to_date());
    }
    let decision = match assess(&s) {
        Ok(x) => x,
        Err(e) => {
            let errors = vec![FieldMessage {
                input: "era",
                field: "申立書",
                message: e.message,
                rule: e.rule,
            }];
            return entry_page(&sc, &v, &input, &errors, StatusCode::BAD_REQUEST);
        }
    };
    if let Err(e) = d
        .visits
        .update(v.id, &s, sc.staff.as_deref(), "申立書を受け付け", &decision)
    {
        return internal(d, e);
    }
    if v.patient_label.is_none() {
        let _ = d
            .visits
            .set_patient(v.id, checked.form.name.as_deref(), None);
    }
    if v.charged_at.is_some() {
        let _ = d.visits.update_claim(v.id, &decision);
    }
    let msg = if checked.reminders.is_empty() {
        "申立書を受け付けました。".to_string()
    } else {
        format!(
            "申立書を受け付けました。確認：{}",
            checked
                .reminders
                .iter()
                .map(|r| r.text())
                .collect::<Vec<_>>()
                .join(" ／ ")
        )
    };
    redirect_with(&format!("/desk/visits/{id}"), Some(&msg))
}

/// An empty 申立書 pre-filled from what is known (R26): the name and birth date of the visit,
/// and the kana, sex and address of the card's last result in the terminal's history.
fn known_input(d: &Desk, v: &Visit) -> FormInput {
    let mut f = FormInput::prefilled(
        v.patient_label.as_deref(),
        v.birth_date.or(v.situation.birth_date),
        v.service_date,
    );
    let Ok(Some(serial)) = d.visits.card_of(v.id) else {
        return f;
    };
    let query = HistoryQuery {
        card_serial: Some(serial),
        limit: Some(5),
        ..HistoryQuery::default()
    };
    let rows = d.terminal.history(&query).unwrap_or_default();
    let insured = rows.into_iter().find_map(|row| {
        serde_json::from_value::<onshi_formats::terminal_xml::siquc01::QualificationResponse>(
            row.response,
        )
        .ok()?
        .body
        .results
        .into_iter()
        .next()
        .map(|e| e.insured)
    });
    if let Some(i) = insured {
        if f.name.is_empty() {
            f.name = i.name.unwrap_or_default();
        }
        if let Some(k) = i.name_kana {
            f.name_kana = onshi_domain::kana::to_fullwidth_katakana(&k);
        }
        if let Some(sex) = i.sex1.filter(|x| x == "1" || x == "2") {
            f.sex = sex;
        }
        if let Some(a) = i.address {
            f.address = a;
        }
    }
    f
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn r26_printable_form_carries_the_explanation_sheet_and_every_field() {
        let f = FormInput::prefilled(
            Some("鈴木　花子"),
            chrono::NaiveDate::from_ymd_opt(1992, 7, 15),
            chrono::NaiveDate::from_ymd_opt(2026, 11, 25).unwrap(),
        );
        let h = Printable::new(onshi_ui::Layout::new("申立書"), &f)
            .render()
            .unwrap();
        for needle in [
            "被保険者資格申立書に関する説明書",
            "3割負担（未就学児は2割負担。70歳以上等の方は1～3割）",
            "わかり次第、必ず受診された医療機関等にお伝えください",
            "保険証の有無",
            "保険種別",
            "保険者等名称",
            "事業所名",
            "保険証の交付を受けた時期",
            "一部負担金の割合",
            "氏名",
            "フリガナ",
            "生年月日",
            "性別",
            "住所",
            "居所",
            "署名",
            "患者との関係",
            "連絡先電話番号",
            "明治",
            "大正",
            "昭和",
            "平成",
            "令和",
            "速やかに廃棄します",
            "鈴木　花子",
            "☑ 平成",
        ] {
            assert!(h.contains(needle), "missing {needle}");
        }
    }
}
