//! The card at the reader and the numbers of a document confirmed online, both through the
//! terminal (the desk never reaches the central itself):
//!
//! - one reader session (face / PIN / 目視確認, R1–R3, R15, consents) with
//!   `Terminal::place_card`, and its outcome recorded in the visit's situation;
//! - a document's numbers confirmed online (照会区分 2, R7) the way a receipt computer does it,
//!   an `OQSsiquc01req_` file in the terminal's `req` folder answered in `res`.
//!
//! Whether an identity method is allowed (a PIN-less card, a patient not at the reader) is the
//! chip's and the engine's to say (R2, R4): the desk passes the attempt on and records what
//! came back.

use onshi_domain::codes::QualificationValidity;
use onshi_domain::desk::{
    Attempt, DocumentShown, EquipmentFailure, FailureCause, OnlineResult, PinAttempt, Presented,
    QualificationSeen, Situation, assess, validate,
};
use onshi_domain::numbers::{BranchNumber, InsuredNumber, InsuredSymbol, InsurerNumber};
use onshi_domain::wareki::WarekiDate;
use onshi_terminal::reader::{AttemptResult, Consents, PlaceCard, Session, SessionOutcome};

use super::fallback::shown_card;
use super::visit::ReaderMode;
use super::{Params, p, refusal};
use crate::Desk;
use crate::moushitatesho::ERAS;
use crate::visits::Visit;

/// One reader session through the terminal (R1–R3, R5, R15), and its facts in the situation.
pub(crate) async fn reader(
    d: &Desk,
    v: &Visit,
    mut s: Situation,
    params: &Params,
    staff: Option<&str>,
) -> Result<Option<String>, String> {
    let serial = d
        .visits
        .card_of(v.id)
        .map_err(|e| e.to_string())?
        .ok_or("先に「カードを受け取った」を押してください")?;
    if s.my_number_card.shown().is_none() {
        return Err("先に「カードを受け取った」を押してください".into());
    }
    let mode = ReaderMode::parse(p(params, "mode")).ok_or("本人確認の方法を選んでください")?;
    let mut place = PlaceCard {
        card_serial: serial.clone(),
        confirmation_date: Some(s.service_date),
        face: None,
        pin: None,
        visual_staff_id: None,
        consent: Consents {
            limit: p(params, "consent_limit") == "on",
            drug: p(params, "consent_drug") == "on",
            checkup: p(params, "consent_checkup") == "on",
            diagnosis: p(params, "consent_diagnosis") == "on",
            operation: p(params, "consent_operation") == "on",
        },
        prescription: match p(params, "prescription") {
            "electronic" => Some(onshi_domain::codes::PrescriptionIssue::Electronic),
            "paper" => Some(onshi_domain::codes::PrescriptionIssue::Paper),
            _ => None,
        },
    };
    // the attempt as a fact: whether it may be made at all is the engine's to say (R2: no PIN
    // on a PIN-less card; R4: no face or visual check without the patient at the reader)
    let mut attempted = s.clone();
    if let Some(c) = shown_card(&mut attempted) {
        match mode {
            ReaderMode::Face => c.face = Attempt::Failed,
            ReaderMode::Pin => c.pin = PinAttempt::Failed,
            ReaderMode::Visual => c.visual = Attempt::Failed,
        }
    }
    validate(&attempted).map_err(|e| refusal(&e))?;
    match mode {
        ReaderMode::Face => {
            place.face = Some(
                if p(params, "face_result") == "fail" {
                    "fail"
                } else {
                    "ok"
                }
                .into(),
            );
        }
        ReaderMode::Pin => place.pin = Some(p(params, "pin").to_string()),
        ReaderMode::Visual => {
            if p(params, "visual_done") != "on" {
                return Err(
                    "目視確認：写真と本人を見比べて「目視で本人確認完了」に✓を入れてください（R3）"
                        .into(),
                );
            }
            // R3: who confirmed by sight is the signed-in staff member
            place.visual_staff_id = Some(staff.unwrap_or("").to_string());
        }
    }
    // the format of the PIN and the staff member of a 目視確認 are the terminal's to check
    let session: Session = d
        .terminal
        .place_card(&place)
        .await
        .map_err(|e| match e.field {
            "pin" => "暗証番号：4桁の数字を入力してください".to_string(),
            "visual_staff_id" => {
                "目視確認：確認した職員IDを入力してください（だれが確認したかを記録します、R3）"
                    .to_string()
            }
            _ => format!("カードリーダー：{e}"),
        })?;
    let Some(c) = shown_card(&mut s) else {
        return Err("カードがありません".into());
    };
    let result = session
        .attempts
        .last()
        .map(|a| a.result)
        .unwrap_or(AttemptResult::Other);
    let confirmed = session.outcome == SessionOutcome::Confirmed;
    let what;
    match mode {
        ReaderMode::Face => {
            c.face = if result == AttemptResult::Ok || confirmed {
                Attempt::Succeeded
            } else if result == AttemptResult::FaceMismatch {
                Attempt::Failed
            } else {
                c.face
            };
            what = format!(
                "顔認証：{}",
                if c.face == Attempt::Succeeded {
                    "一致"
                } else {
                    "一致しない"
                }
            );
        }
        ReaderMode::Pin => {
            c.pin = match result {
                AttemptResult::Ok => PinAttempt::Succeeded,
                AttemptResult::PinLocked => PinAttempt::Locked,
                AttemptResult::PinNotSet => {
                    c.pin_set = false;
                    PinAttempt::NotTried
                }
                AttemptResult::PinWrong => PinAttempt::Failed,
                _ if confirmed => PinAttempt::Succeeded,
                _ => c.pin,
            };
            what = format!(
                "暗証番号：{}",
                match c.pin {
                    PinAttempt::Succeeded => "一致",
                    PinAttempt::Locked => "ロック",
                    PinAttempt::Failed => "不一致",
                    PinAttempt::NotTried => "暗証番号なしのカード",
                }
            );
        }
        ReaderMode::Visual => {
            c.visual = Attempt::Succeeded;
            c.visual_staff_id = place.visual_staff_id.clone();
            what = format!(
                "目視確認：本人確認完了（職員 {}）",
                place.visual_staff_id.clone().unwrap_or_default()
            );
        }
    }
    let mut message = session.error_message.clone();
    match session.outcome {
        SessionOutcome::Confirmed => {
            let validity = session
                .qualification_validity
                .as_deref()
                .and_then(|x| QualificationValidity::parse(x).ok())
                .ok_or("オンライン資格確認の結果が読めません")?;
            let entries = session
                .response
                .as_ref()
                .map(|r| r.body.results.clone())
                .unwrap_or_default();
            let first = entries.first();
            let qualification = match validity {
                QualificationValidity::Valid | QualificationValidity::Invalid => {
                    first.and_then(seen_from_entry)
                }
                _ => None,
            };
            if let Some(e) = first {
                let birth = e
                    .insured
                    .birthdate
                    .as_deref()
                    .and_then(|b| onshi_domain::wareki::parse_yyyymmdd(b).ok());
                if birth.is_some() {
                    s.birth_date = birth;
                }
                d.visits
                    .set_patient(v.id, e.insured.name.as_deref(), birth)
                    .map_err(|e| e.to_string())?;
                // the claim's RE record needs 男女区分 and カナ氏名 (claims/)
                d.claims
                    .note_card_result(
                        v.id,
                        e.insured.sex1.as_deref(),
                        e.insured.name_kana.as_deref(),
                        e.insured.personal_family_classification.as_deref(),
                    )
                    .map_err(|e| e.to_string())?;
            }
            s.online = Some(OnlineResult {
                validity,
                qualification,
            });
            message = None;
        }
        SessionOutcome::Unreachable => {
            s.equipment_failure = Some(EquipmentFailure {
                cause: FailureCause::FacilityNetwork,
                oqs_reachable: Some(false),
            });
            message = Some(
                "オンライン資格確認等システムに接続できません。機器等のトラブルとして案内します。"
                    .into(),
            );
        }
        SessionOutcome::Error => {
            let cause = match result {
                AttemptResult::ChipBroken | AttemptResult::ChipUnreadable => {
                    FailureCause::IcChipBroken
                }
                AttemptResult::CertificateExpired | AttemptResult::CardRevoked => {
                    FailureCause::CertificateExpired
                }
                _ => FailureCause::CardSurfaceDamaged,
            };
            s.equipment_failure = Some(EquipmentFailure {
                cause,
                oqs_reachable: None,
            });
        }
        SessionOutcome::Refused => {}
    }
    let decision = assess(&s).map_err(|e| refusal(&e))?;
    d.visits
        .update(v.id, &s, staff, &what, &decision)
        .map_err(|e| e.to_string())?;
    Ok(message)
}

/// The document whose numbers still wait for an online check (R7).
fn unchecked_document(s: &mut Situation) -> Option<&mut DocumentShown> {
    [
        &mut s.insurance_card,
        &mut s.shikaku_kakuninsho,
        &mut s.shikaku_joho_oshirase,
        &mut s.portal_screen,
        &mut s.prescription,
    ]
    .into_iter()
    .find_map(|slot| match slot {
        Presented::Shown(doc) if doc.online_check.is_none() => Some(doc),
        _ => None,
    })
}

/// Confirms a document's numbers online (照会区分 2, R7) the way a receipt computer does: an
/// `OQSsiquc01req_` file in the terminal's `req` folder, answered in `res`.
pub(crate) async fn numbers_query(
    d: &Desk,
    v: &Visit,
    mut s: Situation,
    params: &Params,
    staff: Option<&str>,
) -> Result<Option<String>, String> {
    let birth = match s.birth_date.or(v.birth_date) {
        Some(b) => b,
        None => {
            let era = ERAS
                .iter()
                .find(|(k, _)| *k == p(params, "era"))
                .map(|(_, e)| *e)
                .ok_or("生年月日：元号を選んでください（照会に必要です）")?;
            let num = |k: &str| {
                p(params, k)
                    .parse::<u32>()
                    .map_err(|_| "生年月日：年・月・日を数字で入力してください".to_string())
            };
            WarekiDate::new(era, num("year")?, num("month")?, num("day")?)
                .map_err(|_| {
                    "生年月日：その日付はありません（元号と年を確認してください）".to_string()
                })?
                .to_date()
        }
    };
    let doc = unchecked_document(&mut s).ok_or("オンラインで確認する書類がありません")?;
    let q = doc.qualification.clone();
    let request = onshi_formats::terminal_xml::siquc01::SingleRequest {
        header: onshi_formats::terminal_xml::RequestHeader {
            qualification_confirmation_date: v.service_date,
            medical_institution_code: d.terminal.config().facility.clone(),
            arbitrary_file_identifier: Some(format!("desk-{}", v.id)),
        },
        search: onshi_formats::terminal_xml::SearchInfo {
            insurer_number: q.insurer_number.clone(),
            symbol: q.symbol.clone(),
            number: q.number.clone(),
            branch: q.branch.clone(),
            birthdate: birth,
            limit_consent: onshi_domain::codes::LimitConsent::NotConsented,
        },
    };
    let bytes = request
        .write(onshi_formats::terminal_xml::Encoding::Utf8)
        .map_err(|e| format!("照会電文を作れません：{e}"))?;
    let stamp = d.terminal.clock().now_utc().format("%Y%m%d%H%M%S%3f");
    let name = format!("OQSsiquc01req_desk{}_{stamp}.xml", v.id);
    let res_name = name.replacen("req", "res", 1);
    let ex = d.terminal.exchange().clone();
    onshi_terminal::exchange::write_atomic(&ex.req, &name, &bytes)
        .map_err(|e| format!("照会ファイルを書けません：{e}"))?;
    // answer it now (a running terminal watching req/ may already have: it answers once)
    let _ = d.terminal.handle_file(&name).await;
    let wait = d.terminal.config().central_timeout + std::time::Duration::from_secs(3);
    let deadline = std::time::Instant::now() + wait;
    let res_path = ex.res.join(&res_name);
    let answer = loop {
        if let Ok(b) = tokio::fs::read(&res_path).await {
            break b;
        }
        if std::time::Instant::now() > deadline {
            return Err("資格確認端末から回答がありません。端末の状態を確認するか、結果を手で記録してください".into());
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    };
    let (_, resp) = onshi_formats::terminal_xml::siquc01::QualificationResponse::read(&answer)
        .map_err(|e| format!("回答を読めません：{e}"))?;
    let Some(validity) = resp
        .body
        .qualification_validity
        .as_deref()
        .and_then(|x| QualificationValidity::parse(x).ok())
    else {
        if resp.header.error_code.as_deref()
            == Some(onshi_terminal::answer::codes::CENTRAL_UNREACHABLE)
        {
            d.visits
                .mark_unconfirmed(
                    v.id,
                    "記号・番号等でのオンライン資格確認（中央に接続できない）",
                )
                .map_err(|e| e.to_string())?;
        }
        return Err(format!(
            "オンライン資格確認ができませんでした：{}",
            resp.header
                .error_message
                .unwrap_or_else(|| "（理由不明）".into())
        ));
    };
    let doc = unchecked_document(&mut s).ok_or("オンラインで確認する書類がありません")?;
    doc.online_check = Some(validity);
    if s.birth_date.is_none() {
        s.birth_date = Some(birth);
    }
    let what = format!(
        "記号・番号等でオンライン確認（{res_name}）：{}",
        validity.label()
    );
    let decision = assess(&s).map_err(|e| refusal(&e))?;
    d.visits
        .update(v.id, &s, staff, &what, &decision)
        .map_err(|e| e.to_string())?;
    Ok(None)
}

fn seen_from_entry(
    e: &onshi_formats::terminal_xml::QualificationEntry,
) -> Option<QualificationSeen> {
    let i = &e.insured;
    let insurer_number = InsurerNumber::parse(i.insurer_number.as_deref()?).ok()?;
    let number = InsuredNumber::parse(i.insured_identification_number.as_deref()?).ok()?;
    let symbol = InsuredSymbol::parse(i.insured_card_symbol.as_deref().unwrap_or("")).ok()?;
    let branch = i
        .insured_branch_number
        .as_deref()
        .and_then(|b| BranchNumber::parse(b).ok());
    let ratio = e
        .elderly
        .as_ref()
        .and_then(|x| x.elderly_recipient_contribution_ratio.as_deref())
        .or(i.insured_partial_contribution_ratio.as_deref())
        .and_then(|r| r.trim().parse::<u8>().ok())
        .filter(|r| matches!(r, 10 | 20 | 30));
    Some(QualificationSeen {
        insurer_number,
        insurer_name: i.insurer_name.clone(),
        symbol,
        number,
        branch,
        share_percent: ratio,
    })
}
