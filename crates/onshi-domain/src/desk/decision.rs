//! The *decision*: what the desk does next, and — once settled — what the patient pays and
//! what the claim will say. Every part carries the R-numbers it follows.

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use super::calendar::DatedRuleId;
use super::situation::QualificationSeen;
use crate::claims::{FiledNumbers, Payer};
use crate::numbers::{BranchNumber, InsuredNumber, InsuredSymbol, InsurerNumber};

/// A step the desk can take. Each has a stable snake_case code and a Japanese label.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Step {
    /// Ask for the My Number card (or スマホ保険証).
    AskForCard,
    /// The patient places the card on the reader; face authentication (R1, R2).
    ReadCard,
    /// Face authentication once more (R1).
    RetryFace,
    /// PIN entry (R1; not for a PIN-less card, R2).
    EnterPin,
    /// Switch the reader to 目視確認 mode and compare the photo (R3, R15).
    SwitchToVisualMode,
    /// Record who ticked 目視で本人確認完了 (R3).
    RecordVisualStaff,
    /// Run the online confirmation by card (R5).
    RunOnlineConfirmation,
    /// 複数該当: ask the patient which qualification applies and pick it (R5).
    SelectQualification,
    /// Ask for the マイナポータル qualification screen on the patient's phone (R9).
    AskPortalScreen,
    /// Ask for a 資格確認書 or an insurance card (R9).
    AskInsuranceDocument,
    /// Ask for the 資格情報のお知らせ (dated).
    AskOshirase,
    /// Confirm from the prescription's insurance numbers (R4).
    AskPrescription,
    /// Confirm the document's numbers online (照会区分 2, R7).
    ConfirmNumbersOnline,
    /// Phone the call centre to have the outage mode enabled (R13).
    RequestOutageMode,
    /// Search in the outage mode (R12, R14).
    SearchOutageMode,
    /// Ask a returning patient whether anything changed since the last visit (R10).
    ConfirmOrallyUnchanged,
    /// Ask the patient to fill in the 被保険者資格申立書 (R10).
    AskMoushitatesho,
    /// Find out the birth date (the share depends on age).
    EnterBirthDate,
    /// Charge the share in the decision (3割 etc.).
    ChargeShare,
    /// Charge the full cost, 10割 (R16).
    ChargeFull,
    /// Look up the lost qualification in the 資格確認履歴 (R6, R19).
    CheckConfirmationHistory,
    /// Once access is back, confirm in the outage mode (R12).
    SearchOutageModeAfterwards,
    /// Send the usage report titled 「システム障害時機能の利用報告」 (R13).
    SubmitOutageUsageReport,
    /// Ask the patient again for the insurance numbers before claiming (R20).
    AskNumbersLater,
    /// Claim with insurer number and numbers 「不詳」 and the 申立書's details in the 摘要欄 (R20).
    FileFushouClaim,
    /// Hold the claim until the numbers are known (不詳 not accepted for this claim month, R20).
    HoldClaim,
}

impl Step {
    /// The label staff see.
    pub fn label(self) -> &'static str {
        match self {
            Step::AskForCard => "マイナ保険証（マイナンバーカード）の提示を依頼",
            Step::ReadCard => "カードリーダーで本人確認（顔認証）",
            Step::RetryFace => "顔認証をやり直す",
            Step::EnterPin => "暗証番号で本人確認",
            Step::SwitchToVisualMode => "目視確認モードへ切り替え",
            Step::RecordVisualStaff => "目視確認した職員を記録",
            Step::RunOnlineConfirmation => "オンライン資格確認を実行",
            Step::SelectQualification => "該当する資格を患者に確認して選択",
            Step::AskPortalScreen => "マイナポータルの資格情報画面の提示を依頼",
            Step::AskInsuranceDocument => "資格確認書・保険証の提示を依頼",
            Step::AskOshirase => "資格情報のお知らせの提示を依頼",
            Step::AskPrescription => "処方箋の保険者番号等で資格確認",
            Step::ConfirmNumbersOnline => "記号・番号等でオンライン資格確認",
            Step::RequestOutageMode => "コールセンターにシステム障害時モードの利用を依頼",
            Step::SearchOutageMode => "システム障害時モードで検索",
            Step::ConfirmOrallyUnchanged => "前回受診時から資格情報に変更がないか口頭で確認",
            Step::AskMoushitatesho => "被保険者資格申立書の記入を依頼",
            Step::EnterBirthDate => "生年月日を確認",
            Step::ChargeShare => "自己負担分（3割等）で会計",
            Step::ChargeFull => "10割で会計",
            Step::CheckConfirmationHistory => "資格確認履歴で喪失済みの資格を確認",
            Step::SearchOutageModeAfterwards => "復旧後にシステム障害時モードで資格確認",
            Step::SubmitOutageUsageReport => "「システム障害時機能の利用報告」を提出",
            Step::AskNumbersLater => "後日、患者に被保険者番号等を確認",
            Step::FileFushouClaim => "保険者番号等「不詳」で請求（摘要欄に申立書の情報を記載）",
            Step::HoldClaim => "番号が判明するまで請求を保留",
        }
    }

    /// Whether the step ends the reception (the patient pays).
    pub fn is_charge(self) -> bool {
        matches!(self, Step::ChargeShare | Step::ChargeFull)
    }
}

/// A step offered to staff, with its label and the rules it follows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct StepOffer {
    pub step: Step,
    pub label: String,
    #[serde(with = "rule_ids")]
    pub rules: Vec<&'static str>,
}

impl StepOffer {
    pub fn new(step: Step, rules: &[&'static str]) -> Self {
        StepOffer {
            step,
            label: step.label().to_string(),
            rules: rules.to_vec(),
        }
    }
}

/// How the holder's identity was established.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(tag = "method", rename_all = "snake_case")]
pub enum Identity {
    /// 顔認証 at the reader (R1).
    Face,
    /// 暗証番号 (R1).
    Pin,
    /// 目視確認 by the named staff member (R3).
    Visual { staff_id: String },
    /// The smartphone's own authentication (スマホ保険証).
    Smartphone,
    /// Not established by the card (documents, the 申立書 or nothing).
    NotEstablished,
}

/// Where the confirmed (or declared) qualification comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ConfirmationSource {
    /// The online result by card: 資格（有効） (R5, R17).
    OnlineCard,
    /// The outage-mode search (R12, R17).
    OutageSearch,
    /// マイナポータル's qualification screen on the patient's phone (R9, R17).
    PortalScreen,
    /// A valid 資格確認書 (R4, R9).
    ShikakuKakuninsho,
    /// A valid insurance card (R9).
    InsuranceCard,
    /// An expired insurance card accepted under the temporary measure, its numbers confirmed
    /// online (R7, dated).
    InsuranceCardMeasure,
    /// The 資格情報のお知らせ shown with the My Number card (dated).
    OshiraseWithCard,
    /// The 資格情報のお知らせ alone under the temporary measure, its numbers confirmed online.
    OshiraseMeasure,
    /// The prescription's insurance numbers, for a proxy at a pharmacy (R4).
    Prescription,
    /// A returning patient's known qualification, confirmed orally unchanged (R10, R18).
    ReturningOral,
    /// Not confirmed: the patient's declaration on the 申立書 (R10).
    Moushitatesho,
    /// Nothing confirmed.
    None,
}

impl ConfirmationSource {
    /// Whether the source confirms a current qualification (as opposed to a declaration).
    pub fn confirms_current(self) -> bool {
        !matches!(
            self,
            ConfirmationSource::Moushitatesho
                | ConfirmationSource::None
                | ConfirmationSource::ReturningOral
        )
    }
}

/// How the qualification stands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Confirmation {
    pub source: ConfirmationSource,
    /// The qualification confirmed or known, when there is one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub qualification: Option<QualificationSeen>,
}

/// The R8 class of the failure, for display.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum FailureClass {
    /// 資格（無効）.
    DataInvalid,
    /// 資格情報なし.
    DataNotFound,
    /// Equipment; the OQS is still reachable.
    EquipmentOqsReachable,
    /// Equipment; the OQS is not reachable.
    EquipmentOqsUnreachable,
}

/// Where the share came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ShareSource {
    /// The ratio of the confirmed (or known) qualification.
    QualificationRatio,
    /// The statutory share by age from the birth date (SPEC "Cost share").
    StatutoryByAge,
    /// Declared on the 申立書 (R10, R24; 70+ and 後期).
    Declared,
    /// 10割 (R16).
    FullCost,
}

/// What the patient pays.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Share {
    /// Percent of the cost: 10, 20, 30, or 100 for 10割.
    pub percent: u8,
    pub source: ShareSource,
    #[serde(with = "rule_ids")]
    pub rules: Vec<&'static str>,
}

/// On what the claim is filed (3 of 保発0710第1号).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ClaimBasis {
    /// The current qualification, confirmed (R17).
    Current,
    /// The current qualification learned by asking, or confirmed orally unchanged (R18).
    Oral,
    /// A lost qualification: the 資格（無効） screen, the 資格確認履歴 or earlier visits (R19).
    Lost,
    /// Insurer number and numbers 不詳, the 申立書's details in the 摘要欄 (R20).
    Unknown,
}

/// The claim as the desk leaves it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Claim {
    pub basis: ClaimBasis,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub insurer_number: Option<InsurerNumber>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub insurer_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub symbol: Option<InsuredSymbol>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub number: Option<InsuredNumber>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub branch: Option<BranchNumber>,
    /// The 摘要欄 text (R20), starting with 「不詳」.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tekiyou: Option<String>,
    /// For [`ClaimBasis::Unknown`]: whether a 不詳 claim is accepted for this day of service
    /// in the ordinary claim month (from the 2023-09 claims, R20).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fushou_allowed: Option<bool>,
    #[serde(with = "rule_ids")]
    pub rules: Vec<&'static str>,
    /// What the claim file carries for this basis: payer, the 保険者 record's numbers and, for
    /// 不詳, the 摘要 comments (R17–R20). Filled by [`super::assess`] from the situation's
    /// claim settings, so a receipt computer that only calls assess writes the same claim.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file: Option<ClaimFile>,
}

/// The insurer part of the claim file (see [`crate::claims`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ClaimFile {
    /// 審査支払機関.
    pub payer: Payer,
    /// The numbers of the 保険者 record (HO) as written.
    pub numbers: FiledNumbers,
    /// 後期高齢者医療 (the 不詳 number has 8 digits, the レセプト種別 13xx).
    pub koki: bool,
    /// The free comments (CO 810000001) of the 摘要, in order: for 不詳, 「不詳」 first (R20).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub comments: Vec<String>,
}

impl Claim {
    /// A claim on a qualification's numbers.
    pub fn on(basis: ClaimBasis, q: &QualificationSeen, rules: &[&'static str]) -> Self {
        Claim {
            basis,
            insurer_number: Some(q.insurer_number.clone()),
            insurer_name: q.insurer_name.clone(),
            symbol: Some(q.symbol.clone()),
            number: Some(q.number.clone()),
            branch: q.branch.clone(),
            tekiyou: None,
            fushou_allowed: None,
            rules: rules.to_vec(),
            file: None,
        }
    }
}

/// Something staff should know, in Japanese, with the rule it comes from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Note {
    #[serde(with = "rule_id")]
    #[schema(value_type = String, example = "R17")]
    pub rule: RuleId,
    pub text: String,
}

/// The engine's answer for one situation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Decision {
    pub service_date: NaiveDate,
    /// `true` once the next step is to charge the patient: share and claim are final for the
    /// desk (follow-ups may still improve the claim).
    pub settled: bool,
    /// The step to offer staff now.
    pub next_step: StepOffer,
    /// Other steps that are equally acceptable now.
    pub alternatives: Vec<StepOffer>,
    /// The R8 class when confirmation by card failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure_class: Option<FailureClass>,
    pub identity: Identity,
    pub confirmation: Confirmation,
    /// What the patient pays; present once known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub share: Option<Share>,
    /// The claim basis; present once settled with an insurance claim (absent for 10割).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub claim: Option<Claim>,
    /// Steps after the desk (for the claim).
    pub follow_ups: Vec<StepOffer>,
    pub notes: Vec<Note>,
    /// Every rule the decision followed, in order of number.
    #[serde(with = "rule_ids")]
    pub rules: Vec<&'static str>,
    /// The dated rules in force on the day of service.
    pub dated_rules: Vec<DatedRuleId>,
}

/// A rule id ("R1" … "R27"); an alias so that serde does not try to borrow it from the input.
pub type RuleId = &'static str;

/// The rule ids a decision may cite: R1 … R27 of SPEC.md.
pub const RULE_IDS: [&str; 27] = [
    "R1", "R2", "R3", "R4", "R5", "R6", "R7", "R8", "R9", "R10", "R11", "R12", "R13", "R14", "R15",
    "R16", "R17", "R18", "R19", "R20", "R21", "R22", "R23", "R24", "R25", "R26", "R27",
];

/// The static id for a rule id read back from JSON.
pub fn rule_id_static(text: &str) -> Option<&'static str> {
    RULE_IDS.iter().copied().find(|id| *id == text)
}

/// The number of a rule id ("R12" → 12), for ordering.
pub fn rule_number(id: &str) -> u32 {
    id.trim_start_matches('R').parse().unwrap_or(u32::MAX)
}

mod rule_ids {
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    pub fn serialize<S: Serializer>(ids: &[&'static str], s: S) -> Result<S::Ok, S::Error> {
        ids.serialize(s)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<&'static str>, D::Error> {
        let texts = Vec::<String>::deserialize(d)?;
        texts
            .iter()
            .map(|t| {
                super::rule_id_static(t)
                    .ok_or_else(|| serde::de::Error::custom(format!("unknown rule id {t:?}")))
            })
            .collect()
    }
}

mod rule_id {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(id: &&'static str, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(id)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<&'static str, D::Error> {
        let text = String::deserialize(d)?;
        super::rule_id_static(&text)
            .ok_or_else(|| serde::de::Error::custom(format!("unknown rule id {text:?}")))
    }
}
