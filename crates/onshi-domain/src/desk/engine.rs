//! The decision procedure: from a [`Situation`] to a [`Decision`].
//!
//! The order follows annex 1 of 保発0710第1号:
//! 1. a confirmed qualification from any source — the card's online result 資格（有効）, the
//!    outage-mode search, the portal screen, a 資格確認書 or insurance card, the お知らせ where
//!    the calendar allows it, a proxy's prescription — settles the share from that
//!    qualification (R5, R9, R12, R17, R4);
//! 2. otherwise the card's own steps: face → 目視確認 / PIN (R1–R3, R15), then the online
//!    confirmation (R5);
//! 3. otherwise the fallback of R8/R9: what else the patient can show (portal, documents;
//!    prescription for a proxy, R4), the outage mode for equipment failures (R12–R14), then
//!    the returning patient's oral confirmation or the 申立書 (R10), and 10割 when nothing is
//!    left (R16);
//! 4. the claim basis: current (R17) / oral (R18) / lost (R19) / 不詳 (R20).

use chrono::NaiveDate;

use super::calendar::{Calendar, DatedRuleId, OQS_FULL_OPERATION};
use super::decision::{
    Claim, ClaimBasis, ClaimFile, Confirmation, ConfirmationSource, Decision, FailureClass,
    Identity, Note, Share, ShareSource, Step, StepOffer, rule_number,
};
use super::situation::{
    Attempt, CardAtDesk, CardForm, DocumentShown, FacilityType, InsuranceType, Moushitatesho,
    OutageSearch, OutageStatus, PatientPresence, PinAttempt, Presented, QualificationSeen,
    Situation,
};
use super::tekiyou;
use super::{DeskError, validate};
use crate::codes::QualificationValidity;
use crate::cost_share::{self, IncomeClass};
use crate::numbers::InsurerKind;

/// Decides the next step, and once settled the share and the claim, for a situation.
///
/// Errors name the field of a situation that is contradictory or out of range (see
/// [`validate`]); the engine itself never fails on a valid situation.
pub fn assess(situation: &Situation) -> Result<Decision, DeskError> {
    validate(situation)?;
    let mut decision = Walk::new(situation).run();
    if let Some(claim) = decision.claim.as_mut() {
        claim.file = claim_file(claim, situation);
    }
    Ok(decision)
}

/// The claim file's insurer part for a settled claim (R17–R20), under the facility's settings.
fn claim_file(claim: &Claim, s: &Situation) -> Option<ClaimFile> {
    use crate::claims;
    let settings = &s.claim_settings;
    match claim.basis {
        ClaimBasis::Unknown => {
            let m = s.moushitatesho.shown();
            let declared = m.and_then(|m| m.insurance_type);
            let birth = s
                .birth_date
                .or_else(|| m.and_then(|m| m.birth_date).map(|w| w.to_date()));
            let koki = claims::fushou_is_koki(declared, birth, s.service_date);
            Some(ClaimFile {
                payer: claims::payer_for_declared(declared, settings),
                numbers: claims::fushou_numbers(koki, settings),
                koki,
                comments: m
                    .map(claims::fushou_comments)
                    .unwrap_or_else(|| vec![claims::FUSHOU_HEAD.to_string()]),
            })
        }
        ClaimBasis::Current | ClaimBasis::Oral | ClaimBasis::Lost => {
            let n = claim.insurer_number.as_ref()?;
            Some(ClaimFile {
                payer: claims::payer_for_insurer(n),
                numbers: claims::FiledNumbers {
                    insurer_number: n.claim_form(),
                    symbol: claim
                        .symbol
                        .as_ref()
                        .map(|v| v.as_str().to_string())
                        .unwrap_or_default(),
                    number: claim
                        .number
                        .as_ref()
                        .map(|v| v.as_str().to_string())
                        .unwrap_or_default(),
                    branch: claim
                        .branch
                        .as_ref()
                        .map(|v| v.as_str().to_string())
                        .unwrap_or_default(),
                },
                koki: n.kind() == crate::numbers::InsurerKind::Koki,
                comments: Vec::new(),
            })
        }
    }
}

/// Where the My Number card stands.
enum CardTrack<'a> {
    /// Not asked for yet.
    NotAsked,
    /// The patient has no card with them.
    Absent,
    /// Identity is still being established: the step to take.
    Identity(Pending),
    /// The visual check found the person is not the card's holder (R3).
    NotHolder,
    /// A proxy with a card that cannot establish identity (R4).
    ProxyNoIdentity,
    /// A smartphone that cannot be used (before スマホ保険証, or its authentication failed).
    PhoneUnusable,
    /// An equipment-class failure (R8 b).
    Equipment,
    /// Identity established; the online confirmation has not run.
    AwaitOnline,
    /// 資格（有効）.
    Valid(&'a QualificationSeen),
    /// 複数該当 and none picked yet.
    Multiple,
    /// 資格（無効） or 資格情報なし (R8 a), with the lost qualification when seen (R6).
    Data {
        validity: QualificationValidity,
        lost: Option<&'a QualificationSeen>,
    },
}

/// A step to offer with its alternatives.
#[derive(Clone)]
struct Pending {
    next: StepOffer,
    alternatives: Vec<StepOffer>,
}

impl Pending {
    fn one(step: Step, rules: &[&'static str]) -> Self {
        Pending {
            next: StepOffer::new(step, rules),
            alternatives: Vec::new(),
        }
    }
    fn with(mut self, step: Step, rules: &[&'static str]) -> Self {
        self.alternatives.push(StepOffer::new(step, rules));
        self
    }
}

/// What a document or screen gives.
enum Evidence<'a> {
    /// Accepted: the source, the qualification, the rules.
    Accepted(ConfirmationSource, &'a QualificationSeen, Vec<&'static str>),
    /// Acceptable only once its numbers are confirmed online (R7).
    NeedsCheck(StepOffer),
}

/// The end of the walk (one value per decision, so its size does not matter).
#[allow(clippy::large_enum_variant)]
enum Outcome {
    Pending(Pending, Confirmation),
    Settled {
        share: Share,
        claim: Option<Claim>,
        confirmation: Confirmation,
    },
}

struct Walk<'a> {
    s: &'a Situation,
    cal: Calendar,
    notes: Vec<Note>,
    follow_ups: Vec<StepOffer>,
    context_rules: Vec<&'static str>,
    failure_class: Option<FailureClass>,
    identity: Identity,
}

impl<'a> Walk<'a> {
    fn new(s: &'a Situation) -> Self {
        Walk {
            s,
            cal: Calendar::on(s.service_date),
            notes: Vec::new(),
            follow_ups: Vec::new(),
            context_rules: Vec::new(),
            failure_class: None,
            identity: Identity::NotEstablished,
        }
    }

    fn note(&mut self, rule: &'static str, text: impl Into<String>) {
        let text = text.into();
        if !self.notes.iter().any(|n| n.text == text) {
            self.notes.push(Note { rule, text });
        }
    }

    fn follow_up(&mut self, step: Step, rules: &[&'static str]) {
        if !self.follow_ups.iter().any(|f| f.step == step) {
            self.follow_ups.push(StepOffer::new(step, rules));
        }
    }

    fn cite(&mut self, rules: &[&'static str]) {
        self.context_rules.extend_from_slice(rules);
    }

    fn run(mut self) -> Decision {
        let track = self.card_track();
        let outcome = self.decide(&track);
        self.finish(outcome)
    }

    // ---------------------------------------------------------------- the card (R1–R5, R15)

    fn card_track(&mut self) -> CardTrack<'a> {
        let s = self.s;
        let card = match &s.my_number_card {
            Presented::NotAsked => return CardTrack::NotAsked,
            Presented::Absent => return CardTrack::Absent,
            Presented::Shown(card) => card,
        };
        if let Some(identity) = established_identity(card, s.patient_presence) {
            self.identity = identity;
        }
        // R8 b: an equipment failure stops the confirmation by card whatever identity did.
        if let Some(failure) = s.equipment_failure {
            self.cite(&["R8"]);
            self.failure_class = Some(if failure.oqs_reachable() {
                FailureClass::EquipmentOqsReachable
            } else {
                FailureClass::EquipmentOqsUnreachable
            });
            self.note(
                "R8",
                format!(
                    "機器不良等（{}）によりマイナンバーカードでのオンライン資格確認ができません（オンライン資格確認等システムへのアクセス: {}）。",
                    failure.cause.label(),
                    if failure.oqs_reachable() { "可" } else { "不可" }
                ),
            );
            return CardTrack::Equipment;
        }
        if card.form == CardForm::Smartphone {
            if !self.cal.smartphone_card() {
                self.note(
                    "R1",
                    "スマホ保険証は2025-09-19から利用できます。マイナンバーカード本体の提示を依頼してください。",
                );
                return CardTrack::PhoneUnusable;
            }
            if card.phone_auth == Attempt::Failed {
                self.note(
                    "R1",
                    "スマートフォンでの本人確認ができませんでした。マイナンバーカード本体の提示を依頼してください。",
                );
                return CardTrack::PhoneUnusable;
            }
        }
        if let Some(online) = &s.online {
            // Validated: an online result only comes with an established identity.
            return match online.validity {
                QualificationValidity::Valid | QualificationValidity::ValidUnregistered => {
                    match &online.qualification {
                        Some(q) => CardTrack::Valid(q),
                        None => CardTrack::AwaitOnline,
                    }
                }
                QualificationValidity::Multiple => match &online.qualification {
                    Some(q) => {
                        self.note(
                            "R18",
                            "複数該当: 患者に確認して選択した資格で確認しています。",
                        );
                        CardTrack::Valid(q)
                    }
                    None => CardTrack::Multiple,
                },
                validity => {
                    self.cite(&["R8"]);
                    let lost = online.qualification.as_ref();
                    self.failure_class = Some(if validity == QualificationValidity::NotFound {
                        FailureClass::DataNotFound
                    } else {
                        FailureClass::DataInvalid
                    });
                    let text = if validity == QualificationValidity::NotFound {
                        "「資格情報なし」: 保険者の登録がないか、登録データの確認中です。"
                    } else {
                        "「資格（無効）」: 直近の資格は喪失済みで、新しい資格は登録されていません。"
                    };
                    self.note("R8", text);
                    if lost.is_some() {
                        self.cite(&["R6"]);
                    }
                    CardTrack::Data { validity, lost }
                }
            };
        }
        if card.form == CardForm::Smartphone {
            if card.phone_auth != Attempt::Succeeded
                && self.s.patient_presence == PatientPresence::Absent
            {
                // R4: the phone's own authentication is the holder's; a proxy cannot do it.
                self.cite(&["R4"]);
                self.note(
                    "R4",
                    "患者本人が不在のためスマートフォンでの本人確認はできません。処方箋または資格確認書で資格確認してください。",
                );
                return CardTrack::ProxyNoIdentity;
            }
            return match card.phone_auth {
                Attempt::Succeeded => CardTrack::AwaitOnline,
                _ => CardTrack::Identity(Pending::one(Step::ReadCard, &["R1"])),
            };
        }
        self.identity_steps(card)
    }

    /// R1–R4, R15: the next identity step for a plastic card with no online result yet.
    fn identity_steps(&mut self, card: &CardAtDesk) -> CardTrack<'a> {
        let presence = self.s.patient_presence;
        if card.visual == Attempt::Succeeded && !has_staff(card) && !identity_by_machine(card) {
            // R3: who ticked 目視で本人確認完了 must be recorded.
            return CardTrack::Identity(Pending::one(Step::RecordVisualStaff, &["R3"]));
        }
        if established_identity(card, presence).is_some() {
            return CardTrack::AwaitOnline;
        }
        if card.visual == Attempt::Failed {
            // R3: staff judged the person is not the holder; the card cannot be used by them.
            self.cite(&["R3"]);
            self.note(
                "R3",
                "目視確認で本人と確認できませんでした。このカードでは資格確認できません（第三者の利用防止）。",
            );
            return CardTrack::NotHolder;
        }
        let pin_usable = card.pin_set && !matches!(card.pin, PinAttempt::Locked);
        match presence {
            PatientPresence::Absent => {
                // R4: neither face nor visual check without the patient. A PIN-set card's PIN
                // may still be entered.
                self.cite(&["R4"]);
                if pin_usable {
                    let mut pending = Pending::one(Step::EnterPin, &["R1", "R4"]);
                    if self.s.facility == FacilityType::Pharmacy {
                        pending = pending.with(Step::AskPrescription, &["R4"]);
                    }
                    return CardTrack::Identity(pending.with(Step::AskInsuranceDocument, &["R4"]));
                }
                self.note(
                    "R4",
                    "患者本人が不在のため顔認証・目視確認はできません。処方箋または資格確認書で資格確認してください。",
                );
                if card.pin == PinAttempt::Locked {
                    self.note("R1", "暗証番号はロックされています（解除は市区町村窓口）。");
                }
                CardTrack::ProxyNoIdentity
            }
            PatientPresence::InWaitingArea => {
                // PIN-less notice 2 ②: staff may compare the face of the patient waiting in
                // the waiting area with the card's photo.
                let rules: &[&'static str] = if card.pin_set {
                    &["R3", "R4"]
                } else {
                    &["R2", "R3", "R4"]
                };
                CardTrack::Identity(Pending::one(Step::SwitchToVisualMode, rules))
            }
            PatientPresence::AtDesk => {
                let tried = card.face != Attempt::NotTried
                    || card.pin != PinAttempt::NotTried
                    || card.visual != Attempt::NotTried;
                if !tried {
                    let rules: &[&'static str] = if card.pin_set { &["R1"] } else { &["R1", "R2"] };
                    return CardTrack::Identity(Pending::one(Step::ReadCard, rules));
                }
                // R15 (and R2 for a PIN-less card): 目視確認 is the remedy when face fails;
                // a PIN-set card may also use its PIN (保発0710第1号 2(2)).
                let visual_rules: &[&'static str] = if card.pin_set {
                    &["R3", "R15"]
                } else {
                    &["R2", "R3", "R15"]
                };
                let mut pending = Pending::one(Step::SwitchToVisualMode, visual_rules)
                    .with(Step::RetryFace, &["R1"]);
                if pin_usable {
                    pending = pending.with(Step::EnterPin, &["R1", "R15"]);
                } else if !card.pin_set {
                    self.note(
                        "R2",
                        "暗証番号の設定が不要なカードです。暗証番号による本人確認はできません。",
                    );
                } else {
                    self.note("R1", "暗証番号はロックされています（解除は市区町村窓口）。");
                }
                CardTrack::Identity(pending)
            }
        }
    }

    // ------------------------------------------------------------------------- the walk

    fn decide(&mut self, track: &CardTrack<'a>) -> Outcome {
        // 1. The card's own 資格（有効）.
        if let CardTrack::Valid(q) = track {
            return self.settle_confirmed(ConfirmationSource::OnlineCard, q, vec!["R5", "R17"]);
        }
        // 1'. Any other source that confirms the qualification.
        let mut needs_check = None;
        for evidence in self.other_evidence(track) {
            match evidence {
                Evidence::Accepted(source, q, rules) => {
                    return self.settle_confirmed(source, q, rules);
                }
                Evidence::NeedsCheck(step) => {
                    needs_check.get_or_insert(step);
                }
            }
        }
        if let Some(step) = needs_check {
            return Outcome::Pending(
                Pending {
                    next: step,
                    alternatives: Vec::new(),
                },
                none_confirmed(),
            );
        }
        // 2. The card's steps.
        match track {
            CardTrack::NotAsked => {
                let mut pending = Pending::one(Step::AskForCard, &["R1"]);
                if self.s.patient_presence == PatientPresence::Absent
                    && self.s.facility == FacilityType::Pharmacy
                    && self.s.prescription.is_not_asked()
                {
                    pending = pending.with(Step::AskPrescription, &["R4"]);
                }
                if self.documents_not_asked() {
                    pending = pending.with(Step::AskInsuranceDocument, &["R9"]);
                }
                return Outcome::Pending(pending, none_confirmed());
            }
            CardTrack::Identity(p) => return Outcome::Pending(p.clone(), none_confirmed()),
            CardTrack::AwaitOnline => {
                return Outcome::Pending(
                    Pending::one(Step::RunOnlineConfirmation, &["R5"]),
                    none_confirmed(),
                );
            }
            CardTrack::Multiple => {
                return Outcome::Pending(
                    Pending::one(Step::SelectQualification, &["R5", "R18"]),
                    none_confirmed(),
                );
            }
            CardTrack::PhoneUnusable => {
                let mut pending = Pending::one(Step::AskForCard, &["R1"]);
                if self.documents_not_asked() {
                    pending = pending.with(Step::AskInsuranceDocument, &["R9"]);
                }
                return Outcome::Pending(pending, none_confirmed());
            }
            _ => {}
        }
        // 3. The fallback.
        self.fallback(track)
    }

    /// Every source other than the card's own result, in the order they are tried.
    fn other_evidence(&mut self, track: &CardTrack<'a>) -> Vec<Evidence<'a>> {
        let s = self.s;
        let mut found = Vec::new();
        let data_class = matches!(track, CardTrack::Data { .. });
        let reachable = s
            .equipment_failure
            .is_none_or(|failure| failure.oqs_reachable());

        // R12, R14, R17: the outage-mode search found the qualification.
        if let Some(mode) = &s.outage_mode
            && let Some(OutageSearch::Found { qualification }) = &mode.search
        {
            self.follow_up(Step::SubmitOutageUsageReport, &["R13"]);
            found.push(Evidence::Accepted(
                ConfirmationSource::OutageSearch,
                qualification,
                vec!["R12", "R14", "R17"],
            ));
        }

        // R9: the portal screen; no way out of a data-class failure.
        if let Presented::Shown(doc) = &s.portal_screen {
            if data_class {
                self.note(
                    "R9",
                    "「資格（無効）」「資格情報なし」の場合、マイナポータルでも直近の有効な資格情報は確認できません。",
                );
            } else if self.refused_by_check(doc, "マイナポータルの資格情報") {
            } else {
                found.push(Evidence::Accepted(
                    ConfirmationSource::PortalScreen,
                    &doc.qualification,
                    vec!["R9", "R17"],
                ));
            }
        }

        // R9 (R4 for a proxy): the 資格確認書, valid until its own expiry.
        if let Presented::Shown(doc) = &s.shikaku_kakuninsho {
            let mut rules = vec!["R9", "R17"];
            if s.patient_presence == PatientPresence::Absent {
                rules.insert(0, "R4");
            }
            if !self.cal.kakuninsho_valid(doc.expiry) {
                self.note("R9", "資格確認書の有効期限が切れています。");
            } else if !self.refused_by_check(doc, "資格確認書") {
                self.check_not_found_note(doc);
                found.push(Evidence::Accepted(
                    ConfirmationSource::ShikakuKakuninsho,
                    &doc.qualification,
                    rules,
                ));
            }
        }

        // R9 and the dated rules: the insurance card.
        if let Presented::Shown(doc) = &s.insurance_card {
            if self.refused_by_check(doc, "保険証") {
            } else if self.cal.insurance_card_valid(doc.expiry) {
                self.check_not_found_note(doc);
                found.push(Evidence::Accepted(
                    ConfirmationSource::InsuranceCard,
                    &doc.qualification,
                    vec!["R9", "R17"],
                ));
            } else if self.cal.expired_card_measure() {
                match doc.online_check {
                    Some(QualificationValidity::Valid) => {
                        self.note(
                            "R7",
                            "暫定措置（2025-12-02〜2026-03-31）: 有効期限切れの保険証を、記号・番号等のオンライン資格確認で有効と確認して受け付けます。",
                        );
                        found.push(Evidence::Accepted(
                            ConfirmationSource::InsuranceCardMeasure,
                            &doc.qualification,
                            vec!["R7", "R9", "R17"],
                        ));
                    }
                    None if reachable => found.push(Evidence::NeedsCheck(StepOffer::new(
                        Step::ConfirmNumbersOnline,
                        &["R7", "R9"],
                    ))),
                    _ => self.note(
                        "R7",
                        "有効期限切れの保険証は、記号・番号等でオンライン資格確認できた場合に限り受け付けられます（暫定措置）。",
                    ),
                }
            } else {
                self.note(
                    "R9",
                    "保険証は有効期限切れです（発行済みの保険証は券面の有効期限まで、最長2025-12-01まで有効）。",
                );
            }
        }

        // The 資格情報のお知らせ: with the card once insurance cards are no longer issued; alone
        // only under the temporary measure, with an online numbers confirmation.
        if let Presented::Shown(doc) = &s.shikaku_joho_oshirase {
            let with_card = matches!(track, CardTrack::Equipment | CardTrack::PhoneUnusable)
                && self.cal.oshirase_with_card();
            if self.refused_by_check(doc, "資格情報のお知らせ") {
            } else if with_card {
                found.push(Evidence::Accepted(
                    ConfirmationSource::OshiraseWithCard,
                    &doc.qualification,
                    vec!["R9", "R17"],
                ));
            } else if self.cal.expired_card_measure() {
                match doc.online_check {
                    Some(QualificationValidity::Valid) => {
                        self.note(
                            "R7",
                            "暫定措置（2025-12-02〜2026-03-31）: 資格情報のお知らせのみで、記号・番号等のオンライン資格確認により受け付けます。",
                        );
                        found.push(Evidence::Accepted(
                            ConfirmationSource::OshiraseMeasure,
                            &doc.qualification,
                            vec!["R7", "R9", "R17"],
                        ));
                    }
                    None if reachable => found.push(Evidence::NeedsCheck(StepOffer::new(
                        Step::ConfirmNumbersOnline,
                        &["R7"],
                    ))),
                    _ => self.note(
                        "R7",
                        "資格情報のお知らせのみの場合は、記号・番号等でオンライン資格確認できた場合に限り受け付けられます（暫定措置）。",
                    ),
                }
            } else {
                self.note(
                    "R9",
                    "資格情報のお知らせのみでは資格確認できません（マイナンバーカードと併せて提示する書類です）。",
                );
            }
        }

        // R4: a proxy at a pharmacy, the prescription's insurance numbers.
        if let Presented::Shown(doc) = &s.prescription
            && s.patient_presence == PatientPresence::Absent
            && s.facility == FacilityType::Pharmacy
            && !self.refused_by_check(doc, "処方箋")
        {
            found.push(Evidence::Accepted(
                ConfirmationSource::Prescription,
                &doc.qualification,
                vec!["R4", "R17"],
            ));
        }
        found
    }

    /// R7: a numbers confirmation that answered 無効 refuses the document.
    fn refused_by_check(&mut self, doc: &DocumentShown, what: &str) -> bool {
        match doc.online_check {
            Some(QualificationValidity::Invalid | QualificationValidity::InvalidNewerExists) => {
                self.note(
                    "R7",
                    format!(
                        "{what}の記号・番号等でのオンライン資格確認が「無効」でした。この資格では受け付けられません（新しい資格は照会結果に表示されません）。"
                    ),
                );
                true
            }
            _ => false,
        }
    }

    fn check_not_found_note(&mut self, doc: &DocumentShown) {
        if doc.online_check == Some(QualificationValidity::NotFound) {
            self.note(
                "R9",
                "記号・番号等での照会は「資格情報なし」（保険者のデータ登録前）ですが、提示された書類で資格確認します。",
            );
        }
    }

    fn documents_not_asked(&self) -> bool {
        self.s.shikaku_kakuninsho.is_not_asked() || self.s.insurance_card.is_not_asked()
    }

    // --------------------------------------------------------------------- the fallback

    /// R8–R10, R12–R16 when no source confirmed the qualification.
    fn fallback(&mut self, track: &CardTrack<'a>) -> Outcome {
        let s = self.s;
        let card = s.my_number_card.shown();
        let pin_set = card.is_some_and(|c| c.pin_set);
        let cal = self.cal;

        // Stage 1: what else the patient can show (R9; R4 for a proxy).
        let mut stage1: Vec<StepOffer> = Vec::new();
        match track {
            CardTrack::ProxyNoIdentity => {
                if s.facility == FacilityType::Pharmacy && s.prescription.is_not_asked() {
                    stage1.push(StepOffer::new(Step::AskPrescription, &["R4"]));
                }
                if self.documents_not_asked() {
                    stage1.push(StepOffer::new(Step::AskInsuranceDocument, &["R4"]));
                }
            }
            CardTrack::Equipment => {
                if pin_set && s.portal_screen.is_not_asked() {
                    stage1.push(StepOffer::new(Step::AskPortalScreen, &["R9"]));
                } else if !pin_set {
                    self.note(
                        "R2",
                        "暗証番号の設定が不要なカードではマイナポータルを利用できないため、資格情報画面の提示はできません。",
                    );
                }
                if self.documents_not_asked() {
                    stage1.push(StepOffer::new(Step::AskInsuranceDocument, &["R9"]));
                }
                if cal.oshirase_with_card() && s.shikaku_joho_oshirase.is_not_asked() {
                    stage1.push(StepOffer::new(Step::AskOshirase, &["R9"]));
                }
            }
            CardTrack::Data { .. } => {
                if self.documents_not_asked() {
                    stage1.push(StepOffer::new(Step::AskInsuranceDocument, &["R9"]));
                }
            }
            _ => {
                // No usable card: documents, and the お知らせ alone where the measure allows.
                if self.documents_not_asked() {
                    stage1.push(StepOffer::new(Step::AskInsuranceDocument, &["R9"]));
                }
                if cal.expired_card_measure() && s.shikaku_joho_oshirase.is_not_asked() {
                    stage1.push(StepOffer::new(Step::AskOshirase, &["R7", "R9"]));
                }
            }
        }

        // Stage 2: the outage mode, for equipment failures (R12–R14; annex 1 ※2).
        let mut stage2: Vec<StepOffer> = Vec::new();
        let mut outage_alternative = None;
        if let CardTrack::Equipment = track {
            self.cite(&["R12"]);
            match &s.outage_mode {
                Some(mode) if mode.status == OutageStatus::Active => match &mode.search {
                    None => stage2.push(StepOffer::new(Step::SearchOutageMode, &["R12", "R14"])),
                    Some(OutageSearch::NotFound) => {
                        self.note(
                            "R14",
                            "システム障害時モードの検索で該当者が見つかりませんでした。",
                        );
                        self.follow_up(Step::SubmitOutageUsageReport, &["R13"]);
                    }
                    Some(OutageSearch::Found { .. }) => {}
                },
                Some(mode) if mode.status == OutageStatus::Requested => {
                    self.note(
                        "R13",
                        "システム障害時モードの利用設定を待っています（連絡からおよそ30分）。",
                    );
                    self.follow_up(Step::SearchOutageModeAfterwards, &["R12"]);
                }
                _ => {
                    outage_alternative =
                        Some(StepOffer::new(Step::RequestOutageMode, &["R12", "R13"]));
                    self.follow_up(Step::SearchOutageModeAfterwards, &["R12"]);
                }
            }
        }

        // Stage 3: the returning patient (R10, R16, R18) and the 申立書 (R10).
        let card_holder_case = matches!(
            track,
            CardTrack::Data { .. } | CardTrack::Equipment | CardTrack::ProxyNoIdentity
        );
        let mut stage3: Vec<StepOffer> = Vec::new();
        let mut settle_oral = false;
        if let Some(rp) = &s.returning_patient {
            match rp.unchanged {
                None => {
                    let rules: &[&'static str] = if card_holder_case {
                        &["R10", "R18"]
                    } else {
                        &["R16", "R18"]
                    };
                    stage3.push(StepOffer::new(Step::ConfirmOrallyUnchanged, rules));
                }
                Some(true) => settle_oral = true,
                Some(false) => {}
            }
        }

        // The first stage with something to do gives the next step.
        let pick = |stage: Vec<StepOffer>, extra: Option<StepOffer>| -> Option<Pending> {
            let mut steps = stage.into_iter();
            let next = steps.next()?;
            let mut alternatives: Vec<StepOffer> = steps.collect();
            alternatives.extend(extra);
            Some(Pending { next, alternatives })
        };
        if let Some(p) = pick(stage1, outage_alternative.clone()) {
            return Outcome::Pending(p, none_confirmed());
        }
        if let Some(p) = pick(stage2, None) {
            return Outcome::Pending(p, none_confirmed());
        }
        if settle_oral && let Some(rp) = &s.returning_patient {
            return self.settle_returning(&rp.known_qualification, card_holder_case);
        }
        if card_holder_case && !cal.allows(DatedRuleId::Notice0710) {
            // Before 保発0710第1号 there was no 申立書: R16 as before it.
            self.note(
                "R10",
                "被保険者資格申立書の運用は保発0710第1号（2023-07-10）からです。",
            );
        } else if card_holder_case {
            match &s.moushitatesho {
                Presented::NotAsked => {
                    stage3.push(StepOffer::new(Step::AskMoushitatesho, &["R10"]))
                }
                Presented::Shown(m) => return self.settle_declared(m, track),
                Presented::Absent => {
                    if stage3.is_empty() {
                        self.note(
                            "R16",
                            "被保険者資格申立書の提出がないため、10割を請求します。",
                        );
                        return self.settle_full(&["R10", "R16"]);
                    }
                }
            }
        }
        if let Some(p) = pick(stage3, outage_alternative) {
            return Outcome::Pending(p, none_confirmed());
        }
        // R16: no card and no insurance card, or no valid qualification to confirm.
        self.note(
            "R16",
            "マイナンバーカードでも保険証等でも資格確認できないため、医療費の全額（10割）を請求します。",
        );
        self.settle_full(&["R16"])
    }

    // ------------------------------------------------------------------------ settling

    /// A confirmed qualification: share from it (or by age), claim on it (R17).
    fn settle_confirmed(
        &mut self,
        source: ConfirmationSource,
        q: &QualificationSeen,
        rules: Vec<&'static str>,
    ) -> Outcome {
        let confirmation = Confirmation {
            source,
            qualification: Some(q.clone()),
        };
        let share_rules: Vec<&'static str> =
            rules.iter().copied().filter(|r| *r != "R17").collect();
        let Some(share) = self.share_of(q, share_rules) else {
            return birth_needed(confirmation);
        };
        let claim = Claim::on(ClaimBasis::Current, q, &["R17"]);
        Outcome::Settled {
            share,
            claim: Some(claim),
            confirmation,
        }
    }

    /// R10, R16, R18: a returning patient's known qualification, orally unchanged.
    fn settle_returning(&mut self, known: &QualificationSeen, card_holder_case: bool) -> Outcome {
        let confirmation = Confirmation {
            source: ConfirmationSource::ReturningOral,
            qualification: Some(known.clone()),
        };
        let rules: Vec<&'static str> = if card_holder_case {
            self.note(
                "R10",
                "前回受診時から資格情報に変更がないことを口頭で確認したため、被保険者資格申立書の提出があったものとして扱います。",
            );
            vec!["R10"]
        } else {
            self.note(
                "R16",
                "再診で身元が分かるため、医療機関等の判断で保有する情報に基づき自己負担分（3割等）とします。",
            );
            vec!["R16"]
        };
        if let Some(online) = &self.s.online
            && online.validity != QualificationValidity::Valid
            && online
                .qualification
                .as_ref()
                .is_some_and(|lost| lost.same_numbers(known))
        {
            self.note(
                "R21",
                "オンライン資格確認ではこの資格は「無効」です。新しい保険者の登録後はレセプト振替の対象となります。",
            );
        }
        let Some(share) = self.share_of(known, rules) else {
            return birth_needed(confirmation);
        };
        Outcome::Settled {
            share,
            claim: Some(Claim::on(ClaimBasis::Oral, known, &["R18"])),
            confirmation,
        }
    }

    /// R10: the share the 申立書 declares, the claim on what is known (R18 / R19 / R20).
    fn settle_declared(&mut self, m: &Moushitatesho, track: &CardTrack<'a>) -> Outcome {
        let confirmation = Confirmation {
            source: ConfirmationSource::Moushitatesho,
            qualification: None,
        };
        if !m.has_valid_insurance {
            // R16: the patient declares no valid insurance card was issued.
            self.note(
                "R16",
                "申立書で「有効な保険証の交付を受けている」に該当しないため、10割を請求します。",
            );
            return self.settle_full(&["R10", "R16", "R24"]);
        }
        let Some(birth) = self.birth_date() else {
            self.note(
                "R10",
                "自己負担割合は年齢で決まるため、生年月日が必要です（申立書の生年月日欄）。",
            );
            return birth_needed(confirmation);
        };
        let Some(share) = self.declared_share(m, birth) else {
            return birth_needed(confirmation);
        };
        let claim = self.claim_after_declaration(m, track);
        Outcome::Settled {
            share,
            claim: Some(claim),
            confirmation,
        }
    }

    fn declared_share(&mut self, m: &Moushitatesho, birth: NaiveDate) -> Option<Share> {
        let on = self.s.service_date;
        let koki = m.insurance_type == Some(InsuranceType::Koki);
        let seventy = cost_share::age_on(birth, on).is_some_and(|age| age >= 70);
        let statutory = cost_share::statutory_share_percent(birth, on, IncomeClass::General, koki)?;
        if seventy || koki {
            // R11: a declared share of the 70+ (and 後期) is not returned for mismatch.
            self.note(
                "R11",
                "70歳以上等の患者が申し立てた割合で受領した場合、実際の割合と異なっていてもレセプトは返戻されず、差額は保険者から患者に請求（または返還）されます。",
            );
            if let Some(percent) = m.declared_share_percent {
                return Some(Share {
                    percent,
                    source: ShareSource::Declared,
                    rules: vec!["R10", "R11", "R24"],
                });
            }
            self.note(
                "R24",
                "一部負担金の割合が「わからない」ため、年齢による割合（一般所得）とします。",
            );
            return Some(Share {
                percent: statutory,
                source: ShareSource::StatutoryByAge,
                rules: vec!["R10", "R11", "R26"],
            });
        }
        if m.declared_share_percent.is_some_and(|p| p != statutory) {
            self.note(
                "R26",
                "70歳未満の自己負担割合は年齢で決まります（3割、未就学児は2割）。申立書の割合欄は使いません。",
            );
        }
        Some(Share {
            percent: statutory,
            source: ShareSource::StatutoryByAge,
            rules: vec!["R10", "R26"],
        })
    }

    /// The claim after a 申立書: what the patient told (R18), a lost qualification (R19),
    /// else 不詳 (R20).
    fn claim_after_declaration(&mut self, m: &Moushitatesho, track: &CardTrack<'a>) -> Claim {
        let s = self.s;
        if let Some(reported) = &s.reported_numbers {
            return Claim::on(ClaimBasis::Oral, reported, &["R18"]);
        }
        if let CardTrack::Data {
            lost: Some(lost), ..
        } = track
        {
            self.note(
                "R19",
                "「資格（無効）」画面の喪失済みの資格（旧保険者番号・旧記号番号）で請求できます。",
            );
            self.note_reassignment();
            self.follow_up(Step::AskNumbersLater, &["R19", "R26"]);
            return Claim::on(ClaimBasis::Lost, lost, &["R6", "R19"]);
        }
        if let Some(rp) = &s.returning_patient
            && rp.unchanged != Some(true)
        {
            self.note("R19", "過去の受診歴から確認した資格で請求できます。");
            self.note_reassignment();
            self.follow_up(Step::AskNumbersLater, &["R19", "R26"]);
            return Claim::on(ClaimBasis::Lost, &rp.known_qualification, &["R19"]);
        }
        // R20: 不詳, after asking the patient again.
        if let CardTrack::Data {
            validity: QualificationValidity::Invalid | QualificationValidity::InvalidNewerExists,
            lost: None,
        } = track
        {
            self.follow_up(Step::CheckConfirmationHistory, &["R6", "R19"]);
        }
        if let CardTrack::Equipment = track {
            self.follow_up(Step::SearchOutageModeAfterwards, &["R12", "R17"]);
        }
        self.follow_up(Step::AskNumbersLater, &["R20", "R26"]);
        let allowed = self.cal.fushou_claim_allowed();
        if allowed {
            self.follow_up(Step::FileFushouClaim, &["R20"]);
        } else {
            self.note(
                "R20",
                "「不詳」での請求は令和5年9月の請求からです。番号が判明するまで請求を保留してください。",
            );
            self.follow_up(Step::HoldClaim, &["R20"]);
        }
        self.note(
            "R22",
            "保険者番号等が不詳の請求は、審査支払機関が受診時の保険者を可能な限り特定し、特定できない場合は保険者間で按分されます。",
        );
        let text = tekiyou::fushou_tekiyou(m);
        if !tekiyou::has_contact_details(m) {
            self.note(
                "R20",
                "摘要欄に記載する住所・事業所名・連絡先が申立書にありません。可能な範囲で確認してください。",
            );
        }
        Claim {
            basis: ClaimBasis::Unknown,
            insurer_number: None,
            insurer_name: m.insurer_name.clone(),
            symbol: None,
            number: None,
            branch: None,
            tekiyou: Some(text),
            fushou_allowed: Some(allowed),
            rules: vec!["R20"],
            file: None,
        }
    }

    fn note_reassignment(&mut self) {
        self.note(
            "R21",
            "審査支払の時点で新しい保険者が登録されていれば、レセプト振替機能により返戻なく新しい保険者へ請求が振り替えられます。",
        );
        self.note(
            "R22",
            "審査支払機関が受診時の保険者を可能な限り特定し、判明した保険者が負担します。",
        );
    }

    /// R16: 10割, no insurance claim.
    fn settle_full(&mut self, rules: &[&'static str]) -> Outcome {
        Outcome::Settled {
            share: Share {
                percent: 100,
                source: ShareSource::FullCost,
                rules: rules.to_vec(),
            },
            claim: None,
            confirmation: none_confirmed(),
        }
    }

    /// The share of a qualification: its own ratio, else the statutory share by age.
    fn share_of(&mut self, q: &QualificationSeen, rules: Vec<&'static str>) -> Option<Share> {
        if let Some(percent) = q.share_percent {
            return Some(Share {
                percent,
                source: ShareSource::QualificationRatio,
                rules,
            });
        }
        let birth = self.birth_date()?;
        let koki = q.insurer_number.kind() == InsurerKind::Koki;
        let percent = cost_share::statutory_share_percent(
            birth,
            self.s.service_date,
            IncomeClass::General,
            koki,
        )?;
        if cost_share::age_on(birth, self.s.service_date).is_some_and(|age| age >= 70) {
            self.note(
                "R9",
                "70歳以上の割合は所得区分で変わります。高齢受給者証・資格情報の割合が分かれば、その割合を入力してください。",
            );
        }
        Some(Share {
            percent,
            source: ShareSource::StatutoryByAge,
            rules,
        })
    }

    fn birth_date(&self) -> Option<NaiveDate> {
        self.s.birth_date.or_else(|| {
            self.s
                .moushitatesho
                .shown()
                .and_then(|m| m.birth_date)
                .map(|w| w.to_date())
        })
    }

    // ------------------------------------------------------------------------- finish

    fn finish(mut self, outcome: Outcome) -> Decision {
        let (settled, next_step, alternatives, share, claim, confirmation) = match outcome {
            Outcome::Pending(p, confirmation) => {
                (false, p.next, p.alternatives, None, None, confirmation)
            }
            Outcome::Settled {
                share,
                claim,
                confirmation,
            } => {
                let step = if share.source == ShareSource::FullCost {
                    StepOffer::new(Step::ChargeFull, &share.rules)
                } else {
                    StepOffer::new(Step::ChargeShare, &share.rules)
                };
                (true, step, Vec::new(), Some(share), claim, confirmation)
            }
        };
        if !settled {
            // Follow-ups are for the claim; while the desk is still working they would only
            // distract, except the outage mode's, which the clerk may start now.
            self.follow_ups.retain(|f| {
                matches!(
                    f.step,
                    Step::SearchOutageModeAfterwards | Step::SubmitOutageUsageReport
                )
            });
        }
        let mut rules = self.context_rules.clone();
        rules.extend(next_step.rules.iter().copied());
        for a in &alternatives {
            rules.extend(a.rules.iter().copied());
        }
        if let Some(share) = &share {
            rules.extend(share.rules.iter().copied());
        }
        if let Some(claim) = &claim {
            rules.extend(claim.rules.iter().copied());
        }
        for f in &self.follow_ups {
            rules.extend(f.rules.iter().copied());
        }
        for n in &self.notes {
            rules.push(n.rule);
        }
        rules.sort_by_key(|r| rule_number(r));
        rules.dedup();
        Decision {
            service_date: self.s.service_date,
            settled,
            next_step,
            alternatives,
            failure_class: self.failure_class,
            identity: self.identity,
            confirmation,
            share,
            claim,
            follow_ups: self.follow_ups,
            notes: self.notes,
            rules,
            dated_rules: self.cal.in_force(),
        }
    }
}

fn none_confirmed() -> Confirmation {
    Confirmation {
        source: ConfirmationSource::None,
        qualification: None,
    }
}

fn birth_needed(confirmation: Confirmation) -> Outcome {
    Outcome::Pending(Pending::one(Step::EnterBirthDate, &["R26"]), confirmation)
}

fn has_staff(card: &CardAtDesk) -> bool {
    card.visual_staff_id
        .as_deref()
        .is_some_and(|id| !id.trim().is_empty())
}

fn identity_by_machine(card: &CardAtDesk) -> bool {
    card.face == Attempt::Succeeded || card.pin == PinAttempt::Succeeded
}

/// The identity the attempts established, if any: face, then PIN, then the visual check with
/// the staff member recorded (R1, R3).
pub(crate) fn established_identity(
    card: &CardAtDesk,
    presence: PatientPresence,
) -> Option<Identity> {
    if card.form == CardForm::Smartphone {
        return (card.phone_auth == Attempt::Succeeded).then_some(Identity::Smartphone);
    }
    if card.face == Attempt::Succeeded && presence == PatientPresence::AtDesk {
        return Some(Identity::Face);
    }
    if card.pin == PinAttempt::Succeeded && card.pin_set {
        return Some(Identity::Pin);
    }
    if card.visual == Attempt::Succeeded && presence != PatientPresence::Absent && has_staff(card) {
        return Some(Identity::Visual {
            staff_id: card
                .visual_staff_id
                .clone()
                .unwrap_or_default()
                .trim()
                .to_string(),
        });
    }
    None
}

/// The first day the engine covers.
pub const FIRST_DAY: NaiveDate = OQS_FULL_OPERATION;
