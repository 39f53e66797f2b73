//! The 申立書's two screens: the entry form for the clerk (or the patient on a tablet), and the
//! printable sheet laid out like annex 3 — the explanation sheet first (R26), then the form
//! with its two sections (R24, R25) — pre-filled from what is known, for patients who write by
//! hand.

use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};

use crate::Desk;
use crate::html::{esc, page};
use crate::moushitatesho::{ERAS, FieldMessage, FormInput, ISSUED, TYPES};
use crate::visits::Visit;

/// The explanation sheet (説明書) of annex 3, as printed (R26).
pub const EXPLANATION: &str = "本申立書は、有効な保険証が発行されているにもかかわらず、マイナンバーカードにより資格確認を行った場合に、以下のような理由でオンライン資格確認ができない患者さんに、本来の自己負担額での保険診療を行うためにご記載をお願いする文書になります。";
pub const EXPLANATION_SHARE: &str = "本申立書をご記載いただくことにより、3割負担（未就学児は2割負担。70歳以上等の方は1～3割）により自己負担額を計算します。";
pub const EXPLANATION_TELL: &str = "※ 被保険者番号等の情報（保険証のコピーや写真を含む。）がわかり次第、必ず受診された医療機関等にお伝えください。";
pub const EXPLANATION_CASES: [&str; 2] = [
    "転職等により保険証が発行されているものの、データ登録中のためオンライン資格確認ができない場合",
    "機器のトラブル等により、マイナンバーカードでオンライン資格確認ができない場合",
];
/// The form's note on the use and deletion of its data (R27).
pub const USE_NOTE: &str = "※ 以下の各項目に可能な範囲で記入いただき、□には、あてはまる場合に「✓」を記入してください。なお、本申立書に記入いただいた情報は、医療機関等の診療報酬請求等に必要な範囲でのみ使用し、診療報酬請求等の請求・支払等に係る必要な事務を終えた段階で、速やかに廃棄します。";
pub const NOTE1: &str = "※1 保険種別で社保（保険者が健康保険組合、共済組合、全国健康保険協会の場合）、国保（保険者が国民健康保険組合の場合のみ）、その他（自衛官・公費単独医療の場合）、わからないの□に「✓」を記入された場合は、事業所名（お勤め先の会社名等）の記入をお願いします。";
pub const NOTE2: &str = "※2 70歳以上の方、または後期高齢者医療の被保険者の方は、一部負担金の割合についてもご記入ください。なお、ご記入いただいた一部負担金の割合が実際と異なっていた場合、後日、保険者から差額を請求等させていただく場合があります。";
pub const NOTE3: &str =
    "※3 マイナンバーカードの券面に記載された住所以外の居所がある場合はこちらにご記入ください。";
pub const NOTE4: &str = "※4 マイナンバーカードの券面に記載された氏名、生年月日、性別、住所をそのまま記入いただくとともに、氏名のフリガナも併せてご記入ください。";
pub const NOTE5: &str = "※5 (患者との関係)欄は、保護者の方等が署名された場合にご記入ください。";

fn radio(name: &str, value: &str, current: &str, label: &str) -> String {
    format!(
        "<label><input type=\"radio\" name=\"{name}\" value=\"{value}\"{}> {label}</label>",
        if current == value { " checked" } else { "" }
    )
}

fn text(name: &str, value: &str, extra: &str) -> String {
    format!(
        "<input type=\"text\" name=\"{name}\" id=\"f-{name}\" value=\"{}\" {extra}>",
        esc(value)
    )
}

/// The entry screen, with errors (red, naming the field) and reminders.
pub fn entry_page(
    d: &Desk,
    v: &Visit,
    f: &FormInput,
    errors: &[FieldMessage],
    reminders: &[FieldMessage],
    status: StatusCode,
) -> Response {
    let mut b = format!(
        "<h1>被保険者資格申立書の入力（受付 {}）</h1>\
         <p>患者さんに、わかる範囲で記入してもらってください。空欄のままでも受け付けられます。<span class=\"rule\">根拠 R10 R24 R25</span></p>\
         <p class=\"hint\">{}</p>",
        v.id,
        esc(USE_NOTE)
    );
    if !errors.is_empty() {
        b.push_str("<div class=\"errors\" id=\"form-errors\"><strong>直してください</strong><ul>");
        for e in errors {
            b.push_str(&format!(
                "<li>{}<span class=\"rule\">根拠 {}</span></li>",
                esc(&e.text()),
                e.rule
            ));
        }
        b.push_str("</ul></div>");
    }
    if !reminders.is_empty() {
        b.push_str("<div class=\"reminders\"><ul>");
        for e in reminders {
            b.push_str(&format!("<li>{}</li>", esc(&e.text())));
        }
        b.push_str("</ul></div>");
    }
    let mut types = String::new();
    for (k, t) in TYPES {
        types.push_str(&radio("insurance_type", k, &f.insurance_type, t.label()));
    }
    let mut issued = String::new();
    for (k, t) in ISSUED {
        issued.push_str(&radio("card_issued", k, &f.card_issued, t.label()));
    }
    let mut shares = String::new();
    for (k, l) in [
        ("30", "3割"),
        ("20", "2割"),
        ("10", "1割"),
        ("unknown", "わからない"),
    ] {
        shares.push_str(&radio("share", k, &f.share, l));
    }
    let mut eras = String::from("<option value=\"\">元号</option>");
    for (k, e) in ERAS {
        eras.push_str(&format!(
            "<option value=\"{k}\"{}>{}</option>",
            if f.era == k { " selected" } else { "" },
            e.kanji()
        ));
    }
    b.push_str(&format!(
        "<form method=\"post\" action=\"/desk/visits/{id}/moushitatesho\">\
         <div class=\"panel\"><h2>1 保険証等に関する事項</h2>\
         <div class=\"field\"><span class=\"name\">保険証の有無</span><label><input type=\"checkbox\" name=\"has_valid_insurance\" value=\"on\" id=\"f-has_valid_insurance\"{hv}> 有効な保険証の交付を受けている</label></div>\
         <div class=\"field\"><span class=\"name\">保険種別</span>{types}</div>\
         <div class=\"field\"><span class=\"name\">保険者等名称</span>{insurer}</div>\
         <div class=\"field\"><span class=\"name\">事業所名 ※1</span>{employer}<br><span class=\"hint\">{n1}</span></div>\
         <div class=\"field\"><span class=\"name\">保険証の交付を受けた時期</span>{issued}</div>\
         <div class=\"field\"><span class=\"name\">一部負担金の割合 ※2</span>{shares}<label><input type=\"radio\" name=\"share\" value=\"\"{noshare}> 記入しない（70歳未満）</label><br><span class=\"hint\">{n2}</span></div>\
         </div>\
         <div class=\"panel\"><h2>2 マイナンバーカードの券面事項等</h2><p class=\"hint\">{n4}</p>\
         <div class=\"cols\"><div class=\"field\"><span class=\"name\">氏名</span>{name}</div><div class=\"field\"><span class=\"name\">フリガナ</span>{kana}</div></div>\
         <div class=\"field\"><span class=\"name\">生年月日（和暦）</span><select name=\"era\" id=\"f-era\">{eras}</select> {y}年 {m}月 {dd}日</div>\
         <div class=\"field\"><span class=\"name\">性別</span>{male}{female}</div>\
         <div class=\"field\"><span class=\"name\">住所</span>{address}</div>\
         <div class=\"field\"><span class=\"name\">居所 ※3</span>{residence}<br><span class=\"hint\">{n3}</span></div>\
         <div class=\"cols\"><div class=\"field\"><span class=\"name\">記入日</span><input type=\"date\" name=\"signed_on\" value=\"{signed}\"></div>\
         <div class=\"field\"><span class=\"name\">署名した人</span><label><input type=\"checkbox\" name=\"signed_by_other\" value=\"on\"{other}> 患者以外（保護者の方等）が署名</label><br>患者との関係 ※5 {relation}</div>\
         <div class=\"field\"><span class=\"name\">連絡先電話番号</span><input type=\"tel\" name=\"phone\" id=\"f-phone\" value=\"{phone}\"></div></div>\
         </div>\
         <button class=\"primary\" type=\"submit\" id=\"submit-form\">申立書を受け付ける</button>\
         <a class=\"button\" href=\"/desk/visits/{id}/moushitatesho/print\" target=\"_blank\">印刷用を開く</a>\
         <a class=\"button\" href=\"/desk/visits/{id}\">受付に戻る</a></form>",
        id = v.id,
        hv = if f.has_valid_insurance == "on" { " checked" } else { "" },
        insurer = text("insurer_name", &f.insurer_name, "size=\"30\""),
        employer = text("employer", &f.employer, "size=\"30\""),
        n1 = esc(NOTE1),
        n2 = esc(NOTE2),
        n3 = esc(NOTE3),
        n4 = esc(NOTE4),
        noshare = if f.share.is_empty() { " checked" } else { "" },
        name = text("name", &f.name, ""),
        kana = text("name_kana", &f.name_kana, ""),
        y = text("birth_year", &f.birth_year, "size=\"3\" inputmode=\"numeric\""),
        m = text("birth_month", &f.birth_month, "size=\"3\" inputmode=\"numeric\""),
        dd = text("birth_day", &f.birth_day, "size=\"3\" inputmode=\"numeric\""),
        male = radio("sex", "1", &f.sex, "男"),
        female = radio("sex", "2", &f.sex, "女"),
        address = text("address", &f.address, "size=\"50\""),
        residence = text("other_residence", &f.other_residence, "size=\"50\""),
        signed = esc(&f.signed_on),
        other = if f.signed_by_other == "on" { " checked" } else { "" },
        relation = text("signer_relation", &f.signer_relation, "size=\"12\""),
        phone = esc(&f.phone),
    ));
    let header = format!(
        "<span class=\"fac\">{}</span>",
        esc(d.terminal.config().facility.as_str())
    );
    (status, page("被保険者資格申立書 — onshi", &header, &b)).into_response()
}

fn box_(on: bool) -> &'static str {
    if on { "☑" } else { "□" }
}

const PRINT_CSS: &str = r#"
@page{size:A4;margin:16mm}
body{font-family:"Noto Serif CJK JP","Noto Sans CJK JP",serif;font-size:11pt;color:#000;max-width:190mm;margin:0 auto}
h1{text-align:center;font-size:16pt;letter-spacing:.3em;margin:6mm 0}
h2{font-size:12pt;margin:5mm 0 2mm}
.sheet{page-break-after:always;padding:4mm 0}
table{border-collapse:collapse;width:100%}
th,td{border:1px solid #000;padding:2.2mm 3mm;text-align:left;vertical-align:middle}
th{width:42mm;background:#f2f2f2;font-weight:normal}
.small{font-size:9pt}
.fill{font-family:"Noto Sans CJK JP",sans-serif;color:#003a8c}
.sign{margin-top:6mm;line-height:2.2}
.noprint{margin:4mm 0}
@media print{.noprint{display:none}}
"#;

/// The printable 申立書: the explanation sheet, then the form, pre-filled.
pub fn printable(f: &FormInput) -> Html<String> {
    let t = |k: &str| f.insurance_type == k;
    let mut types = String::new();
    for (k, ty) in TYPES {
        types.push_str(&format!("{} {}　", box_(t(k)), ty.label()));
    }
    let mut issued = String::new();
    for (k, i) in ISSUED {
        issued.push_str(&format!("{} {}　", box_(f.card_issued == k), i.label()));
    }
    let mut shares = String::new();
    for (k, l) in [
        ("30", "3割"),
        ("20", "2割"),
        ("10", "1割"),
        ("unknown", "わからない"),
    ] {
        shares.push_str(&format!("{} {l}　", box_(f.share == k)));
    }
    let mut eras = String::new();
    for (k, e) in ERAS {
        eras.push_str(&format!("{} {}　", box_(f.era == k), e.kanji()));
    }
    let fill = |s: &str| format!("<span class=\"fill\">{}</span>", esc(s));
    let signed = f
        .signed_on
        .parse::<chrono::NaiveDate>()
        .ok()
        .and_then(|d| onshi_domain::wareki::WarekiDate::from_date(d).ok())
        .map(|w| w.to_string())
        .unwrap_or_else(|| "　　年　　月　　日".into());
    Html(format!(
        "<!DOCTYPE html><html lang=\"ja\"><head><meta charset=\"utf-8\"><title>被保険者資格申立書</title><style>{PRINT_CSS}</style></head><body>\
         <div class=\"noprint\"><button onclick=\"window.print()\" style=\"font-size:16pt;padding:3mm 8mm\">印刷する</button> 2枚（説明書と申立書）を印刷して患者さんに渡してください。</div>\
         <div class=\"sheet\" id=\"explanation\"><p>患者の皆様へのお願い</p><h1>被保険者資格申立書に関する説明書</h1>\
         <p>{e1}</p><p>{e2}</p><p><strong>{e3}</strong></p>\
         <h2>【ご記載が必要になる場合（例）】</h2><ul><li>{c1}</li><li>{c2}</li></ul></div>\
         <div class=\"sheet\" id=\"form\"><h1>被保険者資格申立書</h1>\
         <p>有効な保険証の交付を受けており、医療保険等の被保険者資格について、下記の通り申し立てます。</p>\
         <p class=\"small\">{use_note}</p>\
         <h2>1 保険証等に関する事項</h2><table>\
         <tr><th>保険証の有無</th><td>{hv} 有効な保険証の交付を受けている</td></tr>\
         <tr><th>保険種別</th><td>{types}</td></tr>\
         <tr><th>保険者等名称</th><td>{insurer}</td></tr>\
         <tr><th>事業所名 ※1</th><td>{employer}</td></tr>\
         <tr><th>保険証の交付を受けた時期</th><td>{issued}<span class=\"small\">(わかる範囲でご記入ください。)</span></td></tr>\
         <tr><th>一部負担金の割合 ※2</th><td>{shares}</td></tr></table>\
         <p class=\"small\">{n1}</p><p class=\"small\">{n2}</p>\
         <h2>2 マイナンバーカードの券面事項等</h2><table>\
         <tr><th>氏名</th><td>(フリガナ) {kana}<br>{name}</td></tr>\
         <tr><th>生年月日</th><td>{eras} {y} 年 {m} 月 {d} 日</td></tr>\
         <tr><th>性別</th><td>{male} 男　{female} 女</td></tr>\
         <tr><th>住所</th><td>{address}<br><span class=\"small\">※3 居所：</span>{residence}</td></tr></table>\
         <p class=\"small\">{n3}</p><p class=\"small\">{n4}</p>\
         <div class=\"sign\">{signed}<br>署名 ________________________ (患者との関係※5：{relation}　)<br>連絡先電話番号 {phone}</div>\
         <p class=\"small\">{n5}</p></div></body></html>",
        e1 = esc(EXPLANATION),
        e2 = esc(EXPLANATION_SHARE),
        e3 = esc(EXPLANATION_TELL),
        c1 = esc(EXPLANATION_CASES[0]),
        c2 = esc(EXPLANATION_CASES[1]),
        use_note = esc(USE_NOTE),
        hv = box_(f.has_valid_insurance == "on"),
        insurer = fill(&f.insurer_name),
        employer = fill(&f.employer),
        n1 = esc(NOTE1),
        n2 = esc(NOTE2),
        n3 = esc(NOTE3),
        n4 = esc(NOTE4),
        n5 = esc(NOTE5),
        kana = fill(&f.name_kana),
        name = fill(&f.name),
        y = fill(if f.birth_year.is_empty() {
            "　　"
        } else {
            &f.birth_year
        }),
        m = fill(if f.birth_month.is_empty() {
            "　　"
        } else {
            &f.birth_month
        }),
        d = fill(if f.birth_day.is_empty() {
            "　　"
        } else {
            &f.birth_day
        }),
        male = box_(f.sex == "1"),
        female = box_(f.sex == "2"),
        address = fill(&f.address),
        residence = fill(&f.other_residence),
        signed = fill(&signed),
        relation = fill(&f.signer_relation),
        phone = fill(&f.phone),
    ))
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
        let Html(h) = printable(&f);
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
