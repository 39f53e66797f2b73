//! The reception desk's decision engine: what to do when a patient comes, above all when
//! confirmation with the My Number card cannot be done (保発0710第1号 and the PIN-less card
//! notice; SPEC R1–R27).
//!
//! From a [`Situation`] — the day of service, clinic or pharmacy, who is at the desk, what
//! was presented and how identity and the online confirmation went, the R8 failure, the
//! outage mode, a returning patient, the 申立書 — [`assess`] gives a [`Decision`]: the next
//! step to offer staff (with equally good alternatives), how identity was established, how the
//! qualification is confirmed, and once settled the share the patient pays and the claim
//! basis (current / oral / lost / 不詳) with the numbers or the 摘要 text of R20.
//!
//! The engine is pure: no I/O, no clock (the service date is an input). A clerk's screen walks
//! it step by step: each decision's `next_step` asks for one more fact, which the screen
//! records in the situation before asking again. The same situation always gives the same
//! decision, so a visit can store the situation and recompute.
//!
//! Rules that change with time are rows of [`calendar::DatedRule::CALENDAR`].
//!
//! # Where SPEC and the seed differ, and how this module reads them
//! The seed wins where they differ:
//! - **R4 / waiting area.** SPEC R4 says the visual check is impossible when the patient is
//!   absent. The PIN-less notice (2 ② ※) also allows staff to compare the face of a patient
//!   sitting in the waiting area (待合スペース等) with the card's photo; so presence has three
//!   values ([`PatientPresence`]) and only `absent` rules the visual check out.
//! - **R15 / PIN.** SPEC R15 names 目視確認 as the remedy when face authentication fails; the
//!   seed (2(2)) names the PIN as well. A PIN-set card is offered both; a PIN-less card only
//!   目視確認 (R2).
//! - **R11 / 70歳以上等.** SPEC says "70 and over"; the seed says 「70歳以上等」 and the form
//!   asks the share of 後期 members too, so a declared 後期 member under 70 gets the same note.
//! - **R12 / outage mode.** The notice's body lists power cuts, network failures and broken
//!   readers; annex 1 ※2 attaches the outage mode to every equipment-class case. The engine
//!   offers it for every equipment cause (annex 1).
//! - **PIN-less cards.** The seed announces issue "from November" 2023 (予定); SPEC's calendar
//!   has 2023-12-15, the actual start. Both are kept in the calendar row's note; the engine
//!   does not refuse an earlier PIN-less card.
//!
//! Readings of points the seed leaves open (documented in docs/formats/assess.md):
//! - A proxy (R4) with a PIN-set card may enter the card's PIN; without identity, the proxy
//!   goes to the prescription (pharmacy) or 資格確認書, then the 申立書 (signed with the
//!   relation to the patient, R25), then 10割.
//! - Under 70 the share is the statutory share by age, whatever the form says (the form asks
//!   the share of 70+ and 後期 only, R24); 70+ answering わからない pay the statutory share of
//!   一般 and the insurer settles any difference (R11).
//! - A 不詳 claim (R20) is "from the 2023-09 claims": a day of service is taken to be claimed
//!   in the following month, so days from 2023-08-01 qualify.
//! - After 2024-12-02 the 資格情報のお知らせ shown with a card that cannot be read stands in
//!   for the portal screen (public guidance beyond the seed and SPEC); alone it counts only
//!   under the 2025-12-02 – 2026-03-31 measure with an online numbers confirmation.

pub mod calendar;
pub mod decision;
mod engine;
pub mod situation;
pub mod tekiyou;

#[cfg(test)]
mod tests;

pub use calendar::{Calendar, DatedRule, DatedRuleId};
pub use decision::{
    Claim, ClaimBasis, ClaimFile, Confirmation, ConfirmationSource, Decision, FailureClass,
    Identity, Note, Share, ShareSource, Step, StepOffer,
};
pub use engine::{FIRST_DAY, assess};
pub use situation::{
    Attempt, CardAtDesk, CardForm, CardIssued, DocumentShown, EquipmentFailure, FacilityType,
    FailureCause, InsuranceType, Moushitatesho, OnlineResult, OutageMode, OutageSearch,
    OutageStatus, PatientPresence, PinAttempt, Presented, QualificationSeen, ReturningPatient,
    Situation,
};

use crate::codes::QualificationValidity;

/// A situation the engine refuses: bad JSON, or facts that contradict each other or a rule.
/// Names the field (a dotted path, e.g. `my_number_card.pin`) and the rule.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message} ({rule})")]
pub struct DeskError {
    pub field: String,
    /// The R-number broken, or `json` for input that does not parse, `range` for a value out
    /// of range.
    pub rule: &'static str,
    pub message: String,
}

impl DeskError {
    fn new(field: impl Into<String>, rule: &'static str, message: impl Into<String>) -> Self {
        DeskError {
            field: field.into(),
            rule,
            message: message.into(),
        }
    }
}

/// Reads a situation from JSON; an error names the field where the input went wrong.
pub fn parse_situation(json: &str) -> Result<Situation, DeskError> {
    let mut de = serde_json::Deserializer::from_str(json);
    let situation: Situation = serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let path = e.path().to_string();
        let field = if path == "." {
            "(root)".to_string()
        } else {
            path
        };
        let error = DeskError::new(field, "json", e.into_inner().to_string());
        refine(json, error)
    })?;
    de.end()
        .map_err(|e| DeskError::new("(root)", "json", e.to_string()))?;
    Ok(situation)
}

/// Serde reads a tagged object (`{"status": "shown", …}`) as a whole, so an error inside it
/// names only the object. Read the object's content again on its own to name the field in it.
fn refine(json: &str, error: DeskError) -> DeskError {
    let Ok(serde_json::Value::Object(root)) = serde_json::from_str::<serde_json::Value>(json)
    else {
        return error;
    };
    let field = error.field.as_str();
    let (object, tag, expected) = match field {
        "outage_mode.search" => (
            root.get("outage_mode").and_then(|m| m.get("search")),
            "result",
            "found",
        ),
        _ => (root.get(field), "status", "shown"),
    };
    let Some(serde_json::Value::Object(object)) = object else {
        return error;
    };
    if object.get(tag).and_then(|t| t.as_str()) != Some(expected) {
        return error;
    }
    let mut content = object.clone();
    content.remove(tag);
    let content = serde_json::Value::Object(content);
    let inner = match field {
        "my_number_card" => content_error::<CardAtDesk>(content),
        "moushitatesho" => content_error::<Moushitatesho>(content),
        "outage_mode.search" => content_error::<FoundContent>(content),
        "portal_screen"
        | "shikaku_kakuninsho"
        | "insurance_card"
        | "shikaku_joho_oshirase"
        | "prescription" => content_error::<DocumentShown>(content),
        _ => None,
    };
    match inner {
        Some((path, message)) if !path.is_empty() => {
            DeskError::new(format!("{field}.{path}"), "json", message)
        }
        Some((_, message)) => DeskError::new(field, "json", message),
        None => error,
    }
}

/// The content of `{"result": "found", …}`.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct FoundContent {
    #[serde(rename = "qualification")]
    _qualification: QualificationSeen,
}

fn content_error<T: serde::de::DeserializeOwned>(
    content: serde_json::Value,
) -> Option<(String, String)> {
    match serde_path_to_error::deserialize::<_, T>(content) {
        Ok(_) => None,
        Err(e) => {
            let path = e.path().to_string();
            let path = if path == "." { String::new() } else { path };
            Some((path, e.into_inner().to_string()))
        }
    }
}

/// Parses and assesses in one go (what `onshi assess` and `POST /v1/assess` do).
pub fn assess_json(json: &str) -> Result<Decision, DeskError> {
    assess(&parse_situation(json)?)
}

/// Checks a situation before the engine runs: dates in range, shares that exist, and facts
/// that cannot be true together.
pub fn validate(s: &Situation) -> Result<(), DeskError> {
    let on = s.service_date;
    if on < FIRST_DAY {
        return Err(DeskError::new(
            "service_date",
            "range",
            format!("{on} is before {FIRST_DAY}, the full operation of the OQS"),
        ));
    }
    if let Some(birth) = s.birth_date
        && birth > on
    {
        return Err(DeskError::new(
            "birth_date",
            "range",
            format!("{birth} is after the service date {on}"),
        ));
    }
    check_share(
        "online.qualification.share_percent",
        s.online
            .as_ref()
            .and_then(|o| o.qualification.as_ref())
            .and_then(|q| q.share_percent),
    )?;
    check_share(
        "reported_numbers.share_percent",
        s.reported_numbers.as_ref().and_then(|q| q.share_percent),
    )?;
    for (field, doc) in documents(s) {
        if let Presented::Shown(doc) = doc {
            check_share(
                &format!("{field}.qualification.share_percent"),
                doc.qualification.share_percent,
            )?;
            if doc.online_check == Some(QualificationValidity::Multiple) {
                return Err(DeskError::new(
                    format!("{field}.online_check"),
                    "R7",
                    "a confirmation by numbers answers 1, 2, 3 or 4, never 5",
                ));
            }
        }
    }
    if let Some(rp) = &s.returning_patient {
        check_share(
            "returning_patient.known_qualification.share_percent",
            rp.known_qualification.share_percent,
        )?;
        if rp.last_visit.is_some_and(|d| d > on) {
            return Err(DeskError::new(
                "returning_patient.last_visit",
                "range",
                "the last visit is after the service date",
            ));
        }
    }
    if let Some(OutageMode {
        search: Some(OutageSearch::Found { qualification }),
        ..
    }) = &s.outage_mode
    {
        check_share(
            "outage_mode.search.qualification.share_percent",
            qualification.share_percent,
        )?;
    }
    if let Some(mode) = &s.outage_mode
        && mode.search.is_some()
        && mode.status != OutageStatus::Active
    {
        return Err(DeskError::new(
            "outage_mode.search",
            "R13",
            "the outage mode can only be searched once the call centre has enabled it (status \"active\")",
        ));
    }
    if let Presented::Shown(m) = &s.moushitatesho {
        if let Some(p) = m.declared_share_percent
            && !matches!(p, 10 | 20 | 30)
        {
            return Err(DeskError::new(
                "moushitatesho.declared_share_percent",
                "R24",
                format!("the form offers 30, 20 or 10 (or わからない: leave it out), got {p}"),
            ));
        }
        if let Some(birth) = m.birth_date
            && birth.to_date() > on
        {
            return Err(DeskError::new(
                "moushitatesho.birth_date",
                "range",
                format!("{birth} is after the service date {on}"),
            ));
        }
    }
    if s.facility == FacilityType::Clinic && !s.prescription.is_not_asked() {
        return Err(DeskError::new(
            "prescription",
            "R4",
            "a prescription is presented at a pharmacy (facility \"pharmacy\")",
        ));
    }
    let card = s.my_number_card.shown();
    if let Some(card) = card {
        if !card.pin_set && card.pin != PinAttempt::NotTried {
            return Err(DeskError::new(
                "my_number_card.pin",
                "R2",
                "a PIN-less card (pin_set false) cannot use PIN identification",
            ));
        }
        if !card.pin_set && card.form == CardForm::Smartphone {
            return Err(DeskError::new(
                "my_number_card.form",
                "R2",
                "a smartphone carries the certificate of a PIN-set card only",
            ));
        }
        if !card.pin_set && !s.portal_screen.is_not_asked() {
            return Err(DeskError::new(
                "portal_screen",
                "R2",
                "a PIN-less card cannot log in to マイナポータル: there is no portal screen to ask for",
            ));
        }
        match s.patient_presence {
            PatientPresence::Absent => {
                if card.face != Attempt::NotTried {
                    return Err(DeskError::new(
                        "my_number_card.face",
                        "R4",
                        "face authentication needs the patient at the reader; the patient is absent",
                    ));
                }
                if card.visual != Attempt::NotTried {
                    return Err(DeskError::new(
                        "my_number_card.visual",
                        "R4",
                        "the visual check needs the patient; the patient is absent",
                    ));
                }
            }
            PatientPresence::InWaitingArea if card.face != Attempt::NotTried => {
                return Err(DeskError::new(
                    "my_number_card.face",
                    "R4",
                    "face authentication needs the patient at the reader; the patient is in the waiting area",
                ));
            }
            _ => {}
        }
        if card.form == CardForm::Smartphone
            && (card.face != Attempt::NotTried
                || card.pin != PinAttempt::NotTried
                || card.visual != Attempt::NotTried)
        {
            return Err(DeskError::new(
                "my_number_card.form",
                "R1",
                "a smartphone authenticates on the phone (phone_auth), not by face, PIN or visual check at the reader",
            ));
        }
    }
    if let Some(online) = &s.online {
        let Some(card) = card else {
            return Err(DeskError::new(
                "online",
                "R5",
                "a confirmation by card needs my_number_card with status \"shown\"",
            ));
        };
        if s.equipment_failure.is_some() {
            return Err(DeskError::new(
                "equipment_failure",
                "R8",
                "an equipment failure and an online result by card cannot both be given",
            ));
        }
        if engine::established_identity(card, s.patient_presence).is_none() {
            return Err(DeskError::new(
                "online",
                "R1",
                "the online confirmation by card runs only after identity is established (face, PIN, visual check with visual_staff_id, or the phone)",
            ));
        }
        match online.validity {
            QualificationValidity::Valid if online.qualification.is_none() => {
                return Err(DeskError::new(
                    "online.qualification",
                    "R5",
                    "validity \"1\" (有効) comes with the valid qualification",
                ));
            }
            QualificationValidity::InvalidNewerExists => {
                return Err(DeskError::new(
                    "online.validity",
                    "R7",
                    "\"3\" (無効（新しい資格あり）) answers a confirmation by numbers, not by card",
                ));
            }
            QualificationValidity::NotFound if online.qualification.is_some() => {
                return Err(DeskError::new(
                    "online.qualification",
                    "R5",
                    "validity \"4\" (資格情報なし) comes with no qualification",
                ));
            }
            _ => {}
        }
    }
    Ok(())
}

fn check_share(field: &str, percent: Option<u8>) -> Result<(), DeskError> {
    match percent {
        None | Some(10 | 20 | 30) => Ok(()),
        Some(p) => Err(DeskError::new(
            field,
            "range",
            format!("a share is 10, 20 or 30 percent, got {p}"),
        )),
    }
}

fn documents(s: &Situation) -> [(&'static str, &Presented<DocumentShown>); 5] {
    [
        ("portal_screen", &s.portal_screen),
        ("shikaku_kakuninsho", &s.shikaku_kakuninsho),
        ("insurance_card", &s.insurance_card),
        ("shikaku_joho_oshirase", &s.shikaku_joho_oshirase),
        ("prescription", &s.prescription),
    ]
}
