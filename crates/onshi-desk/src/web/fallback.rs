//! The guided fallback: each form of the visit screen posts one fact (`POST
//! /desk/visits/{id}/act` with an `action` and its fields) — a document shown or not, the
//! outage mode, a returning patient, a birth date, the charge — and the engine decides what
//! follows. The desk enforces no rule itself: a fact the engine refuses is shown back as the
//! engine's message.

use axum::Form;
use axum::extract::Path;
use axum::http::StatusCode;
use axum::response::Response;
use chrono::NaiveDate;
use onshi_domain::codes::QualificationValidity;
use onshi_domain::desk::{
    Attempt, CardAtDesk, DocumentShown, EquipmentFailure, OutageMode, OutageSearch, OutageStatus,
    PinAttempt, Presented, QualificationSeen, ReturningPatient, Situation, assess,
};
use onshi_domain::numbers::{BranchNumber, InsuredNumber, InsuredSymbol, InsurerNumber};
use onshi_domain::wareki::WarekiDate;

use super::visit::CAUSES;
use super::{Params, Screen, internal, not_found, p, redirect_with};
use crate::Desk;
use crate::moushitatesho::ERAS;
use crate::visits::Visit;

pub(crate) async fn act(sc: Screen, Path(id): Path<i64>, Form(params): Form<Params>) -> Response {
    let d = &sc.desk;
    let v = match d.visits.get(id) {
        Ok(v) => v,
        Err(crate::VisitError::NotFound(_)) => return not_found(d),
        Err(e) => return internal(d, e),
    };
    match apply(d, &v, &params, sc.staff.as_deref()).await {
        Ok(message) => redirect_with(&format!("/desk/visits/{id}"), message.as_deref()),
        Err(e) => super::visit::render(&sc, &v, Some(&e), None, StatusCode::BAD_REQUEST),
    }
}

/// Reads the numbers of a qualification from a form; errors name the field in Japanese.
pub(crate) fn read_numbers(params: &Params) -> Result<QualificationSeen, String> {
    let insurer_number = InsurerNumber::parse(p(params, "insurer_number")).map_err(|_| {
        "保険者番号：6桁または8桁の正しい番号を入力してください（検証番号も確認）".to_string()
    })?;
    let symbol = InsuredSymbol::parse(p(params, "symbol"))
        .map_err(|_| "記号：入力を確認してください".to_string())?;
    let number = InsuredNumber::parse(p(params, "number"))
        .map_err(|_| "番号：入力してください".to_string())?;
    let branch = match p(params, "branch") {
        "" => None,
        b => Some(
            BranchNumber::parse(b).map_err(|_| "枝番：2桁の数字で入力してください".to_string())?,
        ),
    };
    let share_percent = match p(params, "share") {
        "" => None,
        "30" => Some(30),
        "20" => Some(20),
        "10" => Some(10),
        _ => return Err("負担割合：3割・2割・1割から選んでください".into()),
    };
    let insurer_name = Some(p(params, "insurer_name").to_string()).filter(|s| !s.is_empty());
    Ok(QualificationSeen {
        insurer_number,
        insurer_name,
        symbol,
        number,
        branch,
        share_percent,
    })
}

/// Records one fact and the decision it leads to; returns an optional message for the clerk
/// or an error in Japanese naming the field.
pub(crate) async fn apply(
    d: &Desk,
    v: &Visit,
    params: &Params,
    staff: Option<&str>,
) -> Result<Option<String>, String> {
    let mut s = v.situation.clone();
    let action = p(params, "action");
    let mut message = None;
    let what: String = match action {
        "card_received" => {
            let serial = p(params, "card_serial");
            if serial.is_empty() || serial.chars().count() > 64 {
                return Err(
                    "カード番号：カードリーダーに置いたカードの番号を入力してください".into(),
                );
            }
            let pinless = p(params, "pinless") == "on";
            s.my_number_card = Presented::Shown(CardAtDesk {
                pin_set: !pinless,
                form: Default::default(),
                face: Attempt::NotTried,
                pin: PinAttempt::NotTried,
                visual: Attempt::NotTried,
                visual_staff_id: None,
                phone_auth: Attempt::NotTried,
            });
            d.visits.set_card(v.id, serial).map_err(|e| e.to_string())?;
            if pinless {
                "暗証番号なしのカードを受け取った".into()
            } else {
                "カードを受け取った".into()
            }
        }
        "no_card" => {
            s.my_number_card = Presented::Absent;
            "マイナ保険証なし".into()
        }
        "reader" => return super::reader::reader(d, v, s, params, staff).await,
        "visual_failed" => {
            let Some(card) = shown_card(&mut s) else {
                return Err("先にカードを受け取ってください".into());
            };
            card.visual = Attempt::Failed;
            // R3: the staff member who judged is the signed-in one
            card.visual_staff_id = staff.map(str::to_string);
            "目視確認：本人と確認できない".into()
        }
        "equipment" => {
            let cause = CAUSES
                .iter()
                .find(|(_, code)| *code == p(params, "cause"))
                .map(|(c, _)| *c)
                .ok_or("トラブルの内容を選んでください")?;
            s.equipment_failure = Some(EquipmentFailure {
                cause,
                oqs_reachable: None,
            });
            format!("トラブル：{}", cause.label())
        }
        "doc_shown" => {
            let q = read_numbers(params)?;
            let expiry = match p(params, "expiry") {
                "" => None,
                e => Some(
                    e.parse::<NaiveDate>()
                        .map_err(|_| "有効期限：日付を入力してください".to_string())?,
                ),
            };
            let doc = DocumentShown {
                qualification: q,
                expiry,
                online_check: None,
            };
            let kind = p(params, "doc");
            let slot = doc_slot(&mut s, kind).ok_or("提示されたものを選んでください")?;
            *slot = Presented::Shown(doc);
            format!("{}の提示", doc_label(kind))
        }
        "doc_absent" => {
            let mut labels = Vec::new();
            for kind in p(params, "docs").split(',') {
                if let Some(slot) = doc_slot(&mut s, kind)
                    && slot.is_not_asked()
                {
                    *slot = Presented::Absent;
                    labels.push(doc_label(kind));
                }
            }
            format!("{}なし", labels.join("・"))
        }
        "numbers_query" => return super::reader::numbers_query(d, v, s, params, staff).await,
        "numbers_online" => {
            let validity = QualificationValidity::parse(p(params, "result"))
                .map_err(|_| "結果を選んでください".to_string())?;
            let mut done = false;
            for slot in [
                &mut s.insurance_card,
                &mut s.shikaku_kakuninsho,
                &mut s.shikaku_joho_oshirase,
                &mut s.portal_screen,
                &mut s.prescription,
            ] {
                if let Presented::Shown(doc) = slot
                    && doc.online_check.is_none()
                    && !done
                {
                    doc.online_check = Some(validity);
                    done = true;
                }
            }
            if !done {
                return Err("オンラインで確認する書類がありません".into());
            }
            format!("記号・番号等でオンライン確認：{}", validity.label())
        }
        "outage" => {
            let status = match p(params, "status") {
                "requested" => OutageStatus::Requested,
                "active" => OutageStatus::Active,
                _ => return Err("状態を選んでください".into()),
            };
            s.outage_mode = Some(OutageMode {
                status,
                search: None,
            });
            "システム障害時モード：".to_string()
                + if status == OutageStatus::Active {
                    "利用可能"
                } else {
                    "依頼済み"
                }
        }
        "outage_found" => {
            let q = read_numbers(params)?;
            s.outage_mode = Some(OutageMode {
                status: OutageStatus::Active,
                search: Some(OutageSearch::Found { qualification: q }),
            });
            "システム障害時モード：該当あり".into()
        }
        "outage_not_found" => {
            s.outage_mode = Some(OutageMode {
                status: OutageStatus::Active,
                search: Some(OutageSearch::NotFound),
            });
            "システム障害時モード：該当なし".into()
        }
        "returning" => {
            let from: i64 = p(params, "from")
                .parse()
                .map_err(|_| "前回の受付を選んでください".to_string())?;
            let other = d
                .visits
                .get(from)
                .map_err(|_| "前回の受付が見つかりません".to_string())?;
            let claim = other
                .claim
                .as_ref()
                .ok_or("前回の受付に資格情報がありません")?;
            let (Some(insurer_number), Some(number)) =
                (claim.insurer_number.clone(), claim.number.clone())
            else {
                return Err("前回の受付に保険者番号・記号番号がありません".into());
            };
            s.returning_patient = Some(ReturningPatient {
                known_qualification: QualificationSeen {
                    insurer_number,
                    insurer_name: claim.insurer_name.clone(),
                    symbol: claim.symbol.clone().unwrap_or_default(),
                    number,
                    branch: claim.branch.clone(),
                    share_percent: other.charged_percent.filter(|p| *p < 100),
                },
                last_visit: Some(other.service_date),
                unchanged: None,
            });
            if s.birth_date.is_none() {
                s.birth_date = other.birth_date;
            }
            d.visits
                .set_patient(v.id, other.patient_label.as_deref(), other.birth_date)
                .map_err(|e| e.to_string())?;
            format!("再来患者：受付 {} の資格情報を使う", other.id)
        }
        "oral" => {
            let rp = s
                .returning_patient
                .as_mut()
                .ok_or("再来患者の前回情報を選んでください")?;
            let unchanged = p(params, "unchanged") == "yes";
            rp.unchanged = Some(unchanged);
            if unchanged {
                "口頭確認：変更なし"
            } else {
                "口頭確認：変更あり"
            }
            .into()
        }
        "form_declined" => {
            s.moushitatesho = Presented::Absent;
            "申立書の記入を断られた".into()
        }
        "birth_date" => {
            let era = ERAS
                .iter()
                .find(|(k, _)| *k == p(params, "era"))
                .map(|(_, e)| *e)
                .ok_or("生年月日：元号を選んでください")?;
            let num = |k: &str| {
                p(params, k)
                    .parse::<u32>()
                    .map_err(|_| "生年月日：年・月・日を数字で入力してください".to_string())
            };
            let w =
                WarekiDate::new(era, num("year")?, num("month")?, num("day")?).map_err(|_| {
                    "生年月日：その日付はありません（元号と年を確認してください）".to_string()
                })?;
            s.birth_date = Some(w.to_date());
            "生年月日を確認".into()
        }
        "select_qualification" => {
            let q = read_numbers(params)?;
            let online = s
                .online
                .as_mut()
                .ok_or("オンライン資格確認の結果がありません")?;
            online.qualification = Some(q);
            "複数該当：資格を選択".into()
        }
        "reported_numbers" => {
            let q = read_numbers(params)?;
            s.reported_numbers = Some(q);
            message = Some("聞き取った番号を記録しました。請求欄を確認してください。".to_string());
            "患者から番号を聞き取り（事後）".into()
        }
        "charge" => {
            let decision = assess(&s).map_err(|e| e.to_string())?;
            if !decision.settled {
                return Err(
                    "まだ負担割合が決まっていません。「次にすること」を進めてください".into(),
                );
            }
            d.visits
                .charge(v.id, staff, &decision)
                .map_err(|e| e.to_string())?;
            return Ok(None);
        }
        _ => return Err("操作が分かりません".into()),
    };
    let decision = assess(&s).map_err(|e| super::refusal(&e))?;
    d.visits
        .update(v.id, &s, staff, &what, &decision)
        .map_err(|e| e.to_string())?;
    if v.charged_at.is_some() {
        d.visits
            .update_claim(v.id, &decision)
            .map_err(|e| e.to_string())?;
    }
    Ok(message)
}

pub(crate) fn shown_card(s: &mut Situation) -> Option<&mut CardAtDesk> {
    match &mut s.my_number_card {
        Presented::Shown(c) => Some(c),
        _ => None,
    }
}

fn doc_slot<'a>(s: &'a mut Situation, kind: &str) -> Option<&'a mut Presented<DocumentShown>> {
    Some(match kind {
        "portal" => &mut s.portal_screen,
        "kakuninsho" => &mut s.shikaku_kakuninsho,
        "insurance_card" => &mut s.insurance_card,
        "oshirase" => &mut s.shikaku_joho_oshirase,
        "prescription" => &mut s.prescription,
        _ => return None,
    })
}

fn doc_label(kind: &str) -> &'static str {
    match kind {
        "portal" => "マイナポータルの資格情報画面",
        "kakuninsho" => "資格確認書",
        "insurance_card" => "健康保険証",
        "oshirase" => "資格情報のお知らせ",
        "prescription" => "処方箋",
        _ => "書類",
    }
}
