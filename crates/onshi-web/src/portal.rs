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

use askama::Template;
use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::get;
use onshi_card::{IdentityAttempt, Pin, Reader};
use onshi_domain::card::{IdentityFailure, IdentityOutcome};
use onshi_domain::qualification::{Outcome, evaluate_by_card};

use onshi_ui::Layout;

use crate::AppState;

pub fn routes() -> Router<AppState> {
    Router::new().route("/portal", get(sign_in).post(signed_in))
}

/// The portal's one screen: the sign-in form (with the reason of a refusal), or the holder's
/// qualification screen once signed in.
#[derive(Template)]
#[template(path = "web/portal.html")]
struct PortalPage {
    layout: Layout,
    error: Option<String>,
    serial: String,
    screen: Option<Screen>,
}

struct Screen {
    name: String,
    name_kana: String,
    birthdate: String,
    today: String,
    shown: Shown,
}

enum Shown {
    Valid(QualRow),
    Multiple(Vec<QualRow>),
    Nothing,
}

struct QualRow {
    insurer_name: String,
    insurer_number: String,
    symbol: String,
    number: String,
    branch: String,
    qualification_date: String,
    share: String,
}

fn layout() -> Layout {
    Layout::new("マイナポータル（onshi エミュレーター）")
        .brand("マイナポータル — 健康保険証の資格情報（エミュレーター）")
}

fn page(error: Option<&str>, serial: &str, screen: Option<Screen>, status: StatusCode) -> Response {
    onshi_ui::page_with(
        status,
        &PortalPage {
            layout: layout(),
            error: error.map(str::to_string),
            serial: serial.to_string(),
            screen,
        },
    )
}

async fn sign_in() -> Response {
    page(None, "", None, StatusCode::OK)
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
    let refuse = |m: &str| page(Some(m), &serial, None, StatusCode::UNAUTHORIZED);
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
                Some("このカードの情報が見つかりません。"),
                serial,
                None,
                StatusCode::NOT_FOUND,
            );
        }
        Err(e) => {
            tracing::error!(error = %e, "portal: registry");
            return page(
                Some("ただいま表示できません。"),
                serial,
                None,
                StatusCode::INTERNAL_SERVER_ERROR,
            );
        }
    };
    let quals: Vec<_> = history.iter().map(|r| r.qualification.clone()).collect();
    let p = &person.person;
    let row = |q: &onshi_domain::qualification::Qualification| QualRow {
        insurer_name: q.insurer_name.clone(),
        insurer_number: q.insurer_number.as_str().to_string(),
        symbol: q.symbol.as_str().to_string(),
        number: q.number.as_str().to_string(),
        branch: q.branch.as_str().to_string(),
        qualification_date: q.qualification_date.to_string(),
        share: q
            .share_on(p.birthdate, today)
            .map(|(pct, _)| format!("{}割", pct / 10))
            .unwrap_or_else(|| "—".into()),
    };
    let shown = match evaluate_by_card(&quals, today) {
        Outcome::Valid(q) => Shown::Valid(row(q)),
        Outcome::Multiple(qs) => Shown::Multiple(qs.into_iter().map(row).collect()),
        _ => Shown::Nothing,
    };
    let screen = Screen {
        name: p.name.clone(),
        name_kana: p.name_kana.clone(),
        birthdate: p.birthdate.to_string(),
        today: today.to_string(),
        shown,
    };
    page(None, serial, Some(screen), StatusCode::OK)
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
