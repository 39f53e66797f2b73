//! The patient-portal view (the マイナポータル qualification screen, emulated; R9): the patient
//! signs in with the card and its PIN and sees the screen of their health-insurance
//! qualification that a clerk can check at the desk when the card cannot be read.
//!
//! - `GET  /portal` — sign-in
//! - `POST /portal` — card serial + PIN (form-encoded) → the qualification screen
//!
//! The PIN goes to `onshi_card::Reader` only (the chip checks it and counts failures: 3 wrong
//! PINs lock it, as at the reader). A PIN-less card (顔認証マイナンバーカード) cannot sign in at
//! all (R2), and the page says why. The R9 caveat is shown too: when the online result is
//! 資格（無効） or 資格情報なし, the portal has no current qualification to show either.

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use onshi_card::{IdentityAttempt, Pin, Reader};
use onshi_domain::card::{IdentityFailure, IdentityOutcome};
use onshi_domain::qualification::{Outcome, evaluate_by_card};

use crate::AppState;

pub fn routes() -> Router<AppState> {
    Router::new().route("/portal", get(sign_in).post(signed_in))
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

const CSS: &str = "body{font-family:'Noto Sans CJK JP',sans-serif;font-size:18px;margin:0;background:#eef3f8;color:#1b1b1b}\
header{background:#2b5797;color:#fff;padding:12px 18px;font-size:20px;font-weight:bold}\
main{max-width:640px;margin:0 auto;padding:16px}\
.card{background:#fff;border-radius:12px;padding:16px 18px;margin:12px 0;border:1px solid #c9d2da}\
input{font-size:22px;padding:10px;border:2px solid #8a99a6;border-radius:8px;width:100%;margin:4px 0 12px}\
button{font-size:22px;padding:14px;border-radius:10px;border:0;background:#2b5797;color:#fff;width:100%;font-weight:bold}\
.error{background:#fde2e1;border:2px solid #b3261e;color:#8a1c14;border-radius:8px;padding:12px}\
dl{display:grid;grid-template-columns:max-content 1fr;gap:6px 14px}dt{font-weight:bold;color:#3b4852}dd{margin:0}\
.hint{font-size:15px;color:#4a5863}.rule{font-size:13px;color:#5f6b75;border:1px solid #c9d2da;border-radius:4px;padding:0 5px}";

fn page(body: &str, status: StatusCode) -> Response {
    (
        status,
        Html(format!(
            "<!DOCTYPE html><html lang=\"ja\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">\
             <title>マイナポータル（onshi エミュレーター）</title><style>{CSS}</style></head><body>\
             <header>マイナポータル — 健康保険証の資格情報（エミュレーター）</header><main>{body}</main></body></html>"
        )),
    )
        .into_response()
}

fn form(error: Option<&str>, serial: &str) -> String {
    format!(
        "{}<div class=\"card\"><p>マイナンバーカードと暗証番号（数字4桁の利用者証明用電子証明書の暗証番号）でログインします。</p>\
         <form method=\"post\" action=\"/portal\"><label>カード番号<input type=\"text\" name=\"card_serial\" id=\"card_serial\" value=\"{}\"></label>\
         <label>暗証番号（4桁）<input type=\"password\" name=\"pin\" id=\"pin\" inputmode=\"numeric\" maxlength=\"4\" autocomplete=\"off\"></label>\
         <button type=\"submit\" id=\"login\">ログイン</button></form>\
         <p class=\"hint\">暗証番号を設定していないカード（顔認証マイナンバーカード）ではログインできません。<span class=\"rule\">R2</span></p></div>",
        error
            .map(|e| format!("<div class=\"error\" id=\"portal-error\">{}</div>", esc(e)))
            .unwrap_or_default(),
        esc(serial)
    )
}

async fn sign_in() -> Response {
    page(&form(None, ""), StatusCode::OK)
}

/// Reads `application/x-www-form-urlencoded`; never panics.
fn form_value(body: &[u8], key: &str) -> Option<String> {
    let text = std::str::from_utf8(body).ok()?;
    text.split('&').find_map(|pair| {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        (decode(k)? == key).then(|| decode(v)).flatten()
    })
}

fn decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let hex = s.get(i + 1..i + 3)?;
                out.push(u8::from_str_radix(hex, 16).ok()?);
                i += 2;
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8(out).ok()
}

async fn signed_in(State(st): State<AppState>, body: Bytes) -> Response {
    let serial = form_value(&body, "card_serial").unwrap_or_default();
    let serial = serial.trim().to_string();
    let pin = form_value(&body, "pin").unwrap_or_default();
    let refuse = |m: &str| page(&form(Some(m), &serial), StatusCode::UNAUTHORIZED);
    if serial.is_empty() || serial.len() > 64 {
        return refuse("カード番号を入力してください。");
    }
    let reader = Reader::new(st.chips.as_ref(), st.pins.as_ref());
    match reader.has_pin(&serial) {
        Ok(Some(true)) => {}
        Ok(Some(false)) => {
            return refuse(
                "このカードは暗証番号を設定していないカード（顔認証マイナンバーカード）のため、マイナポータルにはログインできません（R2）。窓口では顔認証または目視確認で資格確認できます。資格情報の画面が必要なときは、資格確認書などをご利用ください。",
            );
        }
        Ok(None) => {
            return refuse("このカードは登録されていません。カード番号を確かめてください。");
        }
        Err(e) => {
            tracing::error!(error = %e, "portal: chip");
            return refuse("カードを読み取れませんでした。");
        }
    }
    let Ok(pin) = Pin::parse(&pin) else {
        return refuse("暗証番号は数字4桁で入力してください。");
    };
    match reader.identify(&serial, &IdentityAttempt::Pin(pin)) {
        Ok(IdentityOutcome::Verified { .. }) => {}
        Ok(IdentityOutcome::Refused { failure }) => {
            let m = match failure {
                IdentityFailure::PinWrong { remaining } => {
                    format!("暗証番号が違います。あと{remaining}回間違えるとロックされます。")
                }
                IdentityFailure::PinLocked => {
                    "暗証番号がロックされています。解除はお住まいの市区町村の窓口です。".into()
                }
                other => other.message_ja(),
            };
            return refuse(&m);
        }
        Err(e) => {
            tracing::error!(error = %e, "portal: identify");
            return refuse("カードを読み取れませんでした。");
        }
    }
    screen(&st, &serial)
}

/// The qualification screen of the card's holder, on today's date.
fn screen(st: &AppState, serial: &str) -> Response {
    let registry = st.central.registry();
    let today = st.central.clock().today();
    let found = registry.card(serial).and_then(|c| match c {
        Some(c) => registry.person_with_history(c.person_id),
        None => Ok(None),
    });
    let (person, history) = match found {
        Ok(Some(x)) => x,
        Ok(None) => {
            return page(
                &form(Some("このカードの情報が見つかりません。"), serial),
                StatusCode::NOT_FOUND,
            );
        }
        Err(e) => {
            tracing::error!(error = %e, "portal: registry");
            return page(
                &form(Some("ただいま表示できません。"), serial),
                StatusCode::INTERNAL_SERVER_ERROR,
            );
        }
    };
    let quals: Vec<_> = history.iter().map(|r| r.qualification.clone()).collect();
    let p = &person.person;
    let mut body = format!(
        "<div class=\"card\"><h2>{}（{}）さん</h2><p>生年月日 {} ・ 照会日 {}</p></div>",
        esc(&p.name),
        esc(&p.name_kana),
        p.birthdate,
        today
    );
    match evaluate_by_card(&quals, today) {
        Outcome::Valid(q) => {
            let share = q
                .share_on(p.birthdate, today)
                .map(|(pct, _)| format!("{}割", pct / 10))
                .unwrap_or_else(|| "—".into());
            body.push_str(&format!(
                "<div class=\"card\" id=\"qualification\"><h2>健康保険証の資格情報</h2><dl>\
                 <dt>保険者名</dt><dd>{}</dd><dt>保険者番号</dt><dd id=\"insurer_number\">{}</dd>\
                 <dt>記号</dt><dd>{}</dd><dt>番号</dt><dd>{}</dd><dt>枝番</dt><dd>{}</dd>\
                 <dt>資格取得日</dt><dd>{}</dd><dt>一部負担金の割合</dt><dd>{share}</dd></dl>\
                 <p class=\"hint\">医療機関・薬局の窓口でこの画面を見せると、資格確認に使えます。<span class=\"rule\">R9</span></p></div>",
                esc(&q.insurer_name),
                esc(q.insurer_number.as_str()),
                esc(q.symbol.as_str()),
                esc(q.number.as_str()),
                esc(q.branch.as_str()),
                q.qualification_date,
            ));
        }
        Outcome::Multiple(qs) => {
            body.push_str("<div class=\"card\" id=\"qualification\"><h2>健康保険証の資格情報（複数）</h2>");
            for q in qs {
                body.push_str(&format!(
                    "<dl><dt>保険者名</dt><dd>{}</dd><dt>保険者番号</dt><dd>{}</dd><dt>記号・番号</dt><dd>{} ・ {} （枝番 {}）</dd></dl>",
                    esc(&q.insurer_name),
                    esc(q.insurer_number.as_str()),
                    esc(q.symbol.as_str()),
                    esc(q.number.as_str()),
                    esc(q.branch.as_str())
                ));
            }
            body.push_str("</div>");
        }
        _ => body.push_str(
            "<div class=\"card error\" id=\"no-qualification\">現在有効な医療保険の資格情報はありません。\
             加入している保険者の登録が済んでいないか、資格を喪失しています。\
             窓口でオンライン資格確認が「資格（無効）」「資格情報なし」のときは、この画面でも確認できません。<span class=\"rule\">R9</span></div>",
        ),
    }
    page(&body, StatusCode::OK)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn form_decoding_never_panics_and_reads_percent_escapes() {
        assert_eq!(
            form_value(b"card_serial=C0001&pin=1234", "pin").as_deref(),
            Some("1234")
        );
        assert_eq!(form_value(b"a=%E3%81%82+b", "a").as_deref(), Some("あ b"));
        for junk in [&b"%"[..], b"a=%zz", b"=&=&", b"\xff\xfe", b"a=%e3%81"] {
            let _ = form_value(junk, "a");
        }
    }
}
