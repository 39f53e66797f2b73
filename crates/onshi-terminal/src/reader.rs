//! The emulated face-auth card reader (顔認証付きカードリーダー) at the terminal: one session per
//! card placed. Identity by face, PIN or staff's visual check (R1); no PIN for a PIN-less card
//! (R2 — the chip refuses it); after a face failure staff switch to 目視確認 mode, and the
//! staff member who ticked 目視で本人確認完了 is recorded (R3, R15). Then the consent screens
//! (限度額情報, and the medical-information consents: drug, checkup, diagnosis, operation —
//! kept in the history for later use), the confirmation at the central, the result in
//! `DIR/face` and in the terminal's confirmation history (R6).
//!
//! A session is given as the attempts the operator makes, in the order a desk makes them:
//! face first, then PIN, then 目視確認. Identity refusals (wrong PIN, face mismatch …) move on
//! to the next attempt; a refusal with no attempt left ends the session without a face file.

use chrono::NaiveDate;
use onshi_domain::wareki::format_yyyymmdd;
use onshi_formats::terminal_xml::face::face_file_name;
use onshi_formats::terminal_xml::siquc01::QualificationResponse;
use serde::{Deserialize, Serialize};

use crate::answer::{self, codes};
use crate::client::{CardRead, Identity, PinDigits};
use crate::{Terminal, exchange};

/// Consents the patient gave on the reader's screens.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Consents {
    /// 限度額適用認定証関連情報 (OQSCD001)
    #[serde(default)]
    pub limit: bool,
    /// 薬剤情報 (PharmacistsInfoConsFlg)
    #[serde(default)]
    pub drug: bool,
    /// 特定健診情報 (SpecificHealthCheckupsInfoConsFlg)
    #[serde(default)]
    pub checkup: bool,
    /// 診療情報 (DiagnosisInfoConsFlg)
    #[serde(default)]
    pub diagnosis: bool,
    /// 手術情報 (OperationInfoConsFlg)
    #[serde(default)]
    pub operation: bool,
}

impl Consents {
    /// The medical-information part, as the reader signs it for the central.
    pub fn medical(&self) -> onshi_domain::medinfo::MedicalConsents {
        onshi_domain::medinfo::MedicalConsents {
            drug: self.drug,
            checkup: self.checkup,
            diagnosis: self.diagnosis,
            operation: self.operation,
        }
    }

    /// Parses a list like `limit,drug,checkup,diagnosis,operation` (also `all`, `none`).
    pub fn parse_list(s: &str) -> Result<Self, String> {
        let mut c = Consents::default();
        for item in s.split(',').map(str::trim).filter(|x| !x.is_empty()) {
            match item {
                "limit" => c.limit = true,
                "drug" => c.drug = true,
                "checkup" => c.checkup = true,
                "diagnosis" => c.diagnosis = true,
                "operation" => c.operation = true,
                "all" => {
                    c = Consents {
                        limit: true,
                        drug: true,
                        checkup: true,
                        diagnosis: true,
                        operation: true,
                    }
                }
                "none" => c = Consents::default(),
                other => {
                    return Err(format!(
                        "consent: {other:?} is not one of limit, drug, checkup, diagnosis, operation, all, none"
                    ));
                }
            }
        }
        Ok(c)
    }
}

/// A card placed on the reader, with what the operator does.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlaceCard {
    pub card_serial: String,
    /// defaults to today (JST)
    pub confirmation_date: Option<NaiveDate>,
    /// face authentication: "ok", "fail", or "auto" (fails at the terminal's failure rate)
    pub face: Option<String>,
    pub pin: Option<String>,
    /// 目視確認 mode: the staff member who ticked 目視で本人確認完了 (R3)
    pub visual_staff_id: Option<String>,
    #[serde(default)]
    pub consent: Consents,
    /// 処方箋発行選択 (OQSCD017) the patient chose on the reader's screen: `electronic` or
    /// `paper`; written as `PrescriptionIssueSelect` into the result
    #[serde(default)]
    pub prescription: Option<onshi_domain::codes::PrescriptionIssue>,
}

/// Why a session could not even start (bad input from the operator).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct PlaceError {
    pub field: &'static str,
    pub message: String,
}

/// What one identity attempt came to: `ok`, or the central's error class (serialized as the
/// class string, e.g. `face_mismatch`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AttemptResult {
    Ok,
    CardUnknown,
    CardRevoked,
    ChipBroken,
    CertificateExpired,
    /// R2: a PIN was given for a PIN-less card.
    PinNotSet,
    PinWrong,
    PinLocked,
    /// R15: staff may switch to 目視確認.
    FaceMismatch,
    /// R3: 目視確認 without the staff member.
    StaffMissing,
    ChipUnreadable,
    /// The central did not answer in time.
    CentralUnreachable,
    /// A class this terminal does not know.
    Other,
}

impl AttemptResult {
    /// From the central's error class (`None`: the attempt succeeded).
    pub fn from_class(class: Option<&str>) -> Self {
        match class {
            None => AttemptResult::Ok,
            Some("card_unknown") => AttemptResult::CardUnknown,
            Some("card_revoked") => AttemptResult::CardRevoked,
            Some("chip_broken") => AttemptResult::ChipBroken,
            Some("certificate_expired") => AttemptResult::CertificateExpired,
            Some("pin_not_set") => AttemptResult::PinNotSet,
            Some("pin_wrong") => AttemptResult::PinWrong,
            Some("pin_locked") => AttemptResult::PinLocked,
            Some("face_mismatch") => AttemptResult::FaceMismatch,
            Some("staff_missing") => AttemptResult::StaffMissing,
            Some("chip_unreadable") => AttemptResult::ChipUnreadable,
            Some(_) => AttemptResult::Other,
        }
    }

    /// Identity was not established; the reader moves on to the next attempt, if any.
    pub fn is_identity_refusal(self) -> bool {
        matches!(
            self,
            AttemptResult::PinWrong
                | AttemptResult::PinLocked
                | AttemptResult::PinNotSet
                | AttemptResult::FaceMismatch
                | AttemptResult::StaffMissing
        )
    }
}

/// How a reader session ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SessionOutcome {
    /// The central answered 正常終了 (any 資格有効性).
    Confirmed,
    /// The central could not confirm this card: revoked, certificate past grace, unknown …
    Error,
    /// Identity was not established.
    Refused,
    /// No answer from the central in time.
    Unreachable,
}

/// One identity attempt and what came of it.
#[derive(Debug, Clone, Serialize)]
pub struct Attempt {
    pub method: &'static str,
    pub result: AttemptResult,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// What the session ended with.
#[derive(Debug, Clone, Serialize)]
pub struct Session {
    pub outcome: SessionOutcome,
    pub attempts: Vec<Attempt>,
    pub segment_of_result: Option<String>,
    pub qualification_validity: Option<String>,
    pub error_code: Option<String>,
    pub error_message: Option<String>,
    /// the face file written (name in `DIR/face`)
    pub face_file: Option<String>,
    pub history_id: Option<i64>,
    /// the answer as written into the face file
    pub response: Option<QualificationResponse>,
}

/// Facts of the reader kept in the history.
#[derive(Debug, Clone)]
pub(crate) struct ReaderFacts {
    pub card_serial: String,
    pub identity_method: Option<String>,
    pub staff_id: Option<String>,
}

impl Terminal {
    fn attempts(&self, p: &PlaceCard) -> Result<Vec<Identity>, PlaceError> {
        let mut v = Vec::new();
        if let Some(f) = &p.face {
            let matched = match f.as_str() {
                "ok" => true,
                "fail" => false,
                "auto" => {
                    let rate = self.inner.cfg.face_failure_rate;
                    let r: f64 = self
                        .inner
                        .rng
                        .lock()
                        .map(|mut g| rand::Rng::random(&mut *g))
                        .unwrap_or(1.0);
                    r >= rate
                }
                _ => {
                    return Err(PlaceError {
                        field: "face",
                        message: "must be \"ok\", \"fail\" or \"auto\"".into(),
                    });
                }
            };
            v.push(Identity::Face { matched });
        }
        if let Some(pin) = &p.pin {
            let d = PinDigits::parse(pin).map_err(|m| PlaceError {
                field: "pin",
                message: m,
            })?;
            v.push(Identity::Pin(d));
        }
        if let Some(s) = &p.visual_staff_id {
            if s.trim().is_empty() {
                return Err(PlaceError {
                    field: "visual_staff_id",
                    message: "目視確認 needs the id of the staff member who ticked 目視で本人確認完了 (R3)".into(),
                });
            }
            v.push(Identity::Visual {
                staff_id: s.trim().to_string(),
            });
        }
        if v.is_empty() {
            return Err(PlaceError {
                field: "face",
                message: "give at least one of face, pin, visual_staff_id (R1)".into(),
            });
        }
        if p.card_serial.trim().is_empty() || p.card_serial.len() > 64 {
            return Err(PlaceError {
                field: "card_serial",
                message: "must be 1 to 64 characters".into(),
            });
        }
        Ok(v)
    }

    /// Runs one reader session.
    pub async fn place_card(&self, p: &PlaceCard) -> Result<Session, PlaceError> {
        let attempts = self.attempts(p)?;
        let date = p
            .confirmation_date
            .unwrap_or_else(|| self.inner.clock.today());
        let mut done: Vec<Attempt> = Vec::new();
        let mut last = None;
        let n = attempts.len();
        for (i, identity) in attempts.into_iter().enumerate() {
            let method = identity.method();
            let staff = match &identity {
                Identity::Visual { staff_id } => Some(staff_id.clone()),
                _ => None,
            };
            let read = CardRead {
                card_serial: p.card_serial.trim().to_string(),
                confirmation_date: date,
                identity,
                limit_consent: p.consent.limit,
                medical_consent: p.consent.medical(),
            };
            let facts = ReaderFacts {
                card_serial: read.card_serial.clone(),
                identity_method: Some(method.to_string()),
                staff_id: staff,
            };
            match self.bounded(self.inner.client.read_card(&read)).await {
                Err(e) => {
                    let (code, msg) = Self::client_error(&e);
                    done.push(Attempt {
                        method,
                        result: AttemptResult::CentralUnreachable,
                        message: Some(msg.clone()),
                    });
                    let header = self.reader_header(date);
                    let (h, b) = answer::abnormal(header, code, &msg);
                    let resp = QualificationResponse { header: h, body: b };
                    let id = self.record("face", None, &resp, None, Some(&facts), Some(&p.consent));
                    return Ok(Session {
                        outcome: if code == codes::CENTRAL_UNREACHABLE {
                            SessionOutcome::Unreachable
                        } else {
                            SessionOutcome::Error
                        },
                        attempts: done,
                        segment_of_result: Some("9".into()),
                        qualification_validity: None,
                        error_code: Some(code.into()),
                        error_message: Some(msg),
                        face_file: None,
                        history_id: id,
                        response: None,
                    });
                }
                Ok(c) => {
                    let result =
                        AttemptResult::from_class(c.error.as_ref().map(|e| e.class.as_str()));
                    let refused = result.is_identity_refusal();
                    done.push(Attempt {
                        method,
                        result,
                        message: c.error.as_ref().map(|e| e.message.clone()),
                    });
                    if refused && i + 1 < n {
                        // the desk moves on (R15: after a face failure, 目視確認)
                        let (h, b) = answer::from_central(&c, None, self.face_code(), None);
                        let resp = QualificationResponse { header: h, body: b };
                        self.record(
                            "face",
                            None,
                            &resp,
                            Some(&c),
                            Some(&facts),
                            Some(&p.consent),
                        );
                        continue;
                    }
                    last = Some((c, facts, refused));
                    break;
                }
            }
        }
        let Some((c, facts, refused)) = last else {
            return Err(PlaceError {
                field: "face",
                message: "no attempt was made".into(),
            });
        };
        let (h, mut b) = answer::from_central(&c, None, self.face_code(), None);
        let now = self.now_compact();
        self.add_reference_numbers(&mut b.results);
        for r in &mut b.results {
            apply_consents(r, &p.consent, &now);
        }
        if !b.results.is_empty() {
            b.prescription_issue_select = p.prescription.map(|x| x.code().to_string());
        }
        let mut resp = QualificationResponse { header: h, body: b };
        let mut face_file = None;
        if !refused {
            let seq = self.inner.store.next("face").unwrap_or(0);
            let name = face_file_name(&now, seq);
            let enc = self.inner.cfg.face_encoding;
            let bytes = self.encode_or_explain(enc, &mut resp);
            match exchange::write_atomic(&self.inner.ex.face, &name, &bytes) {
                Ok(()) => face_file = Some(name),
                Err(e) => tracing::error!(error = %e, "face file not written"),
            }
        }
        let id = self.record(
            "face",
            face_file.as_deref(),
            &resp,
            Some(&c),
            Some(&facts),
            Some(&p.consent),
        );
        let outcome = if refused {
            SessionOutcome::Refused
        } else if c.segment_of_result == "1" {
            SessionOutcome::Confirmed
        } else {
            SessionOutcome::Error
        };
        Ok(Session {
            outcome,
            attempts: done,
            segment_of_result: Some(resp.header.segment_of_result.clone()),
            qualification_validity: resp.body.qualification_validity.clone(),
            error_code: resp.header.error_code.clone(),
            error_message: resp.header.error_message.clone(),
            face_file,
            history_id: id,
            response: Some(resp),
        })
    }

    fn face_code(&self) -> &str {
        self.inner.cfg.codes.code(self.inner.cfg.face_encoding)
    }

    fn reader_header(&self, date: NaiveDate) -> onshi_formats::terminal_xml::ResponseHeader {
        onshi_formats::terminal_xml::ResponseHeader {
            process_execution_time: self.now_compact(),
            qualification_confirmation_date: Some(format_yyyymmdd(date)),
            medical_institution_code: self.inner.cfg.facility.as_str().to_string(),
            arbitrary_file_identifier: None,
            reference_classification: Some("1".into()),
            segment_of_result: "1".into(),
            error_code: None,
            error_message: None,
            character_code_identifier: self.face_code().to_string(),
        }
    }
}

/// The time the 限度額 / 特定疾病 consent was given. The medical-information consents (R2) come
/// from the central, which recorded them with the confirmation (see `answer::entry`).
fn apply_consents(
    r: &mut onshi_formats::terminal_xml::QualificationEntry,
    c: &Consents,
    now: &str,
) {
    if c.limit {
        r.limit_consent
            .limit_application_certificate_related_cons_time = Some(now.to_string());
        r.specific_diseases_consent
            .specific_diseases_certificate_related_cons_time = Some(now.to_string());
    }
}
