//! The *situation* at the reception desk: every fact the engine decides from. One visit's
//! situation grows one fact at a time as the clerk follows the decision's next step.
//!
//! JSON shape: snake_case fields; everything except `service_date` and `facility` may be
//! left out. A thing the patient may or may not have with them is a [`Presented`]: not yet
//! asked (the default), asked and not there (`absent`), or shown with what it says.

use crate::claims::ClaimSettings;
use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use crate::codes::QualificationValidity;
use crate::numbers::{BranchNumber, InsuredNumber, InsuredSymbol, InsurerNumber, Sex};
use crate::qualification::Qualification;
use crate::wareki::WarekiDate;

/// Everything known at the desk about one reception.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Situation {
    /// The day of service (診療日 / 調剤日). The engine reads no clock: this is "today".
    pub service_date: NaiveDate,
    /// Clinic (医科・歯科) or pharmacy (薬局).
    pub facility: FacilityType,
    /// Where the patient is (R4): at the desk, in the waiting area, or absent (a proxy came).
    #[serde(default)]
    pub patient_presence: PatientPresence,
    /// The patient's birth date when known (from the card's result, a document or the
    /// 申立書); the 申立書's own `birth_date` is used when this is missing.
    #[serde(default)]
    pub birth_date: Option<NaiveDate>,
    /// The My Number card (or スマホ保険証) and how identity went at the reader (R1–R3, R15).
    #[serde(default)]
    pub my_number_card: Presented<CardAtDesk>,
    /// The result of the online confirmation by card (照会区分 1), when it ran (R5, R6).
    #[serde(default)]
    pub online: Option<OnlineResult>,
    /// An equipment-class failure of R8 that stops the confirmation by card.
    #[serde(default)]
    pub equipment_failure: Option<EquipmentFailure>,
    /// The qualification screen of マイナポータル on the patient's phone (R9; impossible with
    /// a PIN-less card, R2).
    #[serde(default)]
    pub portal_screen: Presented<DocumentShown>,
    /// A 資格確認書 (R4, R9).
    #[serde(default)]
    pub shikaku_kakuninsho: Presented<DocumentShown>,
    /// A 健康保険証 (R9; dated: see [`super::calendar`]).
    #[serde(default)]
    pub insurance_card: Presented<DocumentShown>,
    /// The 資格情報のお知らせ (dated: with the card from 2024-12-02; alone only under the
    /// temporary measure and with an online numbers confirmation).
    #[serde(default)]
    pub shikaku_joho_oshirase: Presented<DocumentShown>,
    /// A prescription (処方箋) at a pharmacy, for a proxy (R4).
    #[serde(default)]
    pub prescription: Presented<DocumentShown>,
    /// The system-outage mode (システム障害時モード, R12–R14).
    #[serde(default)]
    pub outage_mode: Option<OutageMode>,
    /// A returning patient whose qualification the facility knows from earlier visits (R10,
    /// R16, R18, R19).
    #[serde(default)]
    pub returning_patient: Option<ReturningPatient>,
    /// The 被保険者資格申立書 (R10, R24, R25): not asked, declined (`absent`) or submitted.
    #[serde(default)]
    pub moushitatesho: Presented<Moushitatesho>,
    /// The current qualification's numbers as the patient told them (聞き取り, at the desk or
    /// afterwards, R18, R20).
    #[serde(default)]
    pub reported_numbers: Option<QualificationSeen>,
    /// The facility's claim settings (the 不詳 insurer number, the payer of a 不詳 claim of
    /// unknown type): they shape the claim file's block of the decision (R20).
    #[serde(default, skip_serializing_if = "ClaimSettings::is_default")]
    pub claim_settings: ClaimSettings,
}

/// Clinic or pharmacy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum FacilityType {
    /// 医療機関 (医科・歯科).
    Clinic,
    /// 薬局.
    Pharmacy,
}

/// Where the patient is (R4 and the PIN-less notice's 2 ②).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize, utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum PatientPresence {
    /// At the desk, in front of the reader.
    #[default]
    AtDesk,
    /// In the waiting area (待合スペース等): not at the reader, but staff can compare the
    /// patient's face with the card's photo (目視確認).
    InWaitingArea,
    /// Not on the premises: a proxy (代理人) came, e.g. to collect medicine. Neither face
    /// authentication nor the visual check is possible (R4).
    Absent,
}

/// A thing the patient may have with them: not asked yet, asked and not there, or shown.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum Presented<T> {
    /// Not asked yet (the default when the field is left out).
    #[default]
    NotAsked,
    /// Asked: the patient does not have it with them, or declines.
    Absent,
    /// Shown; the fields say what it holds.
    Shown(T),
}

impl<T> Presented<T> {
    pub fn shown(&self) -> Option<&T> {
        match self {
            Presented::Shown(t) => Some(t),
            _ => None,
        }
    }
    pub fn is_not_asked(&self) -> bool {
        matches!(self, Presented::NotAsked)
    }
}

/// Makes the OpenAPI schemas of every [`Presented`] in `doc` true: a shown thing is the
/// `status` tag and its fields together (`allOf` of the two), so the fields' own schema must
/// not forbid other members — `additionalProperties: false`, which utoipa derives from
/// `deny_unknown_fields`, would forbid the tag itself and no shown value would validate. serde
/// still refuses an unknown member (a 4xx naming it); the schema only stops saying that.
pub fn open_presented_schemas(doc: &mut utoipa::openapi::OpenApi) {
    use utoipa::openapi::{RefOr, Schema};
    let Some(components) = doc.components.as_mut() else {
        return;
    };
    let mut referenced = Vec::new();
    for (name, schema) in components.schemas.iter_mut() {
        let (true, RefOr::T(Schema::OneOf(variants))) = (name.starts_with("Presented_"), schema)
        else {
            continue;
        };
        for variant in variants.items.iter_mut() {
            let RefOr::T(Schema::AllOf(parts)) = variant else {
                continue;
            };
            for part in parts.items.iter_mut() {
                match part {
                    RefOr::T(Schema::Object(o)) => o.additional_properties = None,
                    RefOr::Ref(r) => referenced.push(
                        r.ref_location
                            .trim_start_matches("#/components/schemas/")
                            .to_string(),
                    ),
                    _ => {}
                }
            }
        }
    }
    for name in referenced {
        if let Some(RefOr::T(Schema::Object(o))) = components.schemas.get_mut(&name) {
            o.additional_properties = None;
        }
    }
}

/// The My Number card as presented, and the identity attempts at the reader.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CardAtDesk {
    /// Whether the card has a PIN set; `false` is a PIN-less card (顔認証マイナンバーカード, R2).
    pub pin_set: bool,
    /// A plastic card or a smartphone carrying it (スマホ保険証, dated).
    #[serde(default)]
    pub form: CardForm,
    /// Face authentication at the reader (R1).
    #[serde(default)]
    pub face: Attempt,
    /// PIN entry (R1; never for a PIN-less card, R2). `locked` after 3 wrong PINs.
    #[serde(default)]
    pub pin: PinAttempt,
    /// The staff's visual check in 目視確認 mode (R3, R15); `failed` means the staff judged the
    /// person is not the card's holder.
    #[serde(default)]
    pub visual: Attempt,
    /// Who ticked 目視で本人確認完了 (R3: must be recorded).
    #[serde(default)]
    pub visual_staff_id: Option<String>,
    /// For a smartphone: the authentication on the phone itself.
    #[serde(default)]
    pub phone_auth: Attempt,
}

/// Plastic card or smartphone.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize, utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum CardForm {
    #[default]
    Card,
    /// スマホ保険証 (from 2025-09-19).
    Smartphone,
}

/// How one identity method went.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize, utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Attempt {
    #[default]
    NotTried,
    Succeeded,
    Failed,
}

/// How the PIN went.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize, utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum PinAttempt {
    #[default]
    NotTried,
    Succeeded,
    Failed,
    /// Locked after 3 wrong PINs in a row (reset only at the municipality).
    Locked,
}

/// The online result of the confirmation by card (R5).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OnlineResult {
    /// 資格有効性 (OQSCD006) as its code: "1" 有効, "2" 無効, "3" 無効（新しい資格あり）,
    /// "4" 該当資格なし (資格情報なし), "5" 複数該当.
    #[serde(with = "validity_code")]
    #[schema(value_type = String, pattern = "^[1-6]$")]
    pub validity: QualificationValidity,
    /// For "1": the valid qualification. For "2": the lost qualification shown on the
    /// 資格（無効） screen or in the 資格確認履歴 (R6), when seen. For "5": the one the patient
    /// says applies, once staff have asked.
    #[serde(default)]
    pub qualification: Option<QualificationSeen>,
}

/// The numbers of a qualification as a screen, a document or the patient gives them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct QualificationSeen {
    /// 保険者番号 (6 or 8 digits, check digit verified).
    pub insurer_number: InsurerNumber,
    /// 保険者名 when shown.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub insurer_name: Option<String>,
    /// 記号 (may be empty).
    #[serde(default, skip_serializing_if = "symbol_is_empty")]
    pub symbol: InsuredSymbol,
    /// 番号.
    pub number: InsuredNumber,
    /// 枝番 when shown.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub branch: Option<BranchNumber>,
    /// 一部負担金の割合 in percent (10, 20 or 30) when shown (e.g. InsuredPartialContributionRatio
    /// or the 高齢受給者 ratio).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub share_percent: Option<u8>,
}

fn symbol_is_empty(symbol: &InsuredSymbol) -> bool {
    symbol.as_str().is_empty()
}

impl QualificationSeen {
    /// The numbers of a registered qualification, with the share it gives on a day (the
    /// 高齢受給者 ratio or the registered ratio; not the age rule, which the engine applies).
    pub fn from_qualification(q: &Qualification, birth: NaiveDate, on: NaiveDate) -> Self {
        let share_percent = q
            .share_on(birth, on)
            .filter(|(_, source)| *source != crate::qualification::ShareSource::AgeRule)
            .map(|(percent, _)| percent);
        QualificationSeen {
            insurer_number: q.insurer_number.clone(),
            insurer_name: Some(q.insurer_name.clone()),
            symbol: q.symbol.clone(),
            number: q.number.clone(),
            branch: Some(q.branch.clone()),
            share_percent,
        }
    }

    /// Whether two sets of numbers designate the same qualification (symbol and number
    /// compared on their folded keys; the branch only when both have one).
    pub fn same_numbers(&self, other: &QualificationSeen) -> bool {
        self.insurer_number == other.insurer_number
            && self.symbol.key() == other.symbol.key()
            && self.number.key() == other.number.key()
            && match (&self.branch, &other.branch) {
                (Some(a), Some(b)) => a == b,
                _ => true,
            }
    }
}

/// A document (or the portal screen) as shown.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DocumentShown {
    /// The numbers it carries, as transcribed by staff.
    pub qualification: QualificationSeen,
    /// Its printed expiry (有効期限), where it has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expiry: Option<NaiveDate>,
    /// The result of confirming its numbers online (照会区分 2, R7), when done: "1" 有効,
    /// "2" 無効, "3" 無効（新しい資格あり）, "4" 該当資格なし.
    #[serde(
        default,
        with = "validity_code_opt",
        skip_serializing_if = "Option::is_none"
    )]
    #[schema(value_type = Option<String>, pattern = "^[1-6]$")]
    pub online_check: Option<QualificationValidity>,
}

/// Equipment-class failure (R8 b).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EquipmentFailure {
    pub cause: FailureCause,
    /// Whether the facility can still reach the OQS (for confirmation by numbers, R7). When
    /// left out it follows from the cause ([`FailureCause::oqs_reachable_by_default`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub oqs_reachable: Option<bool>,
}

impl EquipmentFailure {
    pub fn oqs_reachable(&self) -> bool {
        self.oqs_reachable
            .unwrap_or_else(|| self.cause.oqs_reachable_by_default())
    }
}

/// The equipment causes of R8 (1(2) of 保発0710第1号).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum FailureCause {
    /// 顔認証付きカードリーダーの故障.
    ReaderBroken,
    /// 資格確認端末の故障.
    TerminalBroken,
    /// カードの券面汚損.
    CardSurfaceDamaged,
    /// ICチップの破損.
    IcChipBroken,
    /// 利用者証明用電子証明書の有効期限切れ (past the 3-month grace; 更新忘れ).
    CertificateExpired,
    /// 停電.
    PowerCut,
    /// 施設の通信障害.
    FacilityNetwork,
    /// 広範囲のネットワーク障害.
    WideAreaNetwork,
}

impl FailureCause {
    /// Reader broken and card unusable: the terminal still reaches the OQS. Terminal broken,
    /// power cut and network failures: it does not.
    pub fn oqs_reachable_by_default(self) -> bool {
        matches!(
            self,
            FailureCause::ReaderBroken
                | FailureCause::CardSurfaceDamaged
                | FailureCause::IcChipBroken
                | FailureCause::CertificateExpired
        )
    }

    /// Whether the patient's card itself is the problem (as opposed to the facility's
    /// equipment or the network).
    pub fn is_card_problem(self) -> bool {
        matches!(
            self,
            FailureCause::CardSurfaceDamaged
                | FailureCause::IcChipBroken
                | FailureCause::CertificateExpired
        )
    }

    pub fn label(self) -> &'static str {
        match self {
            FailureCause::ReaderBroken => "顔認証付きカードリーダーの故障",
            FailureCause::TerminalBroken => "資格確認端末の故障",
            FailureCause::CardSurfaceDamaged => "カードの券面汚損",
            FailureCause::IcChipBroken => "ICチップの破損",
            FailureCause::CertificateExpired => "利用者証明用電子証明書の有効期限切れ",
            FailureCause::PowerCut => "停電",
            FailureCause::FacilityNetwork => "施設の通信障害",
            FailureCause::WideAreaNetwork => "広範囲のネットワーク障害",
        }
    }
}

/// The system-outage mode (緊急時医療情報・資格確認機能, R12–R14).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OutageMode {
    pub status: OutageStatus,
    /// The search result once searched (R14); several hits are resolved by staff picking one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub search: Option<OutageSearch>,
}

/// Where the activation of the outage mode stands (R13).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum OutageStatus {
    NotRequested,
    /// The call centre was phoned; activation takes about 30 minutes.
    Requested,
    /// The operator enabled the function for the facility.
    Active,
}

/// The result of an outage-mode search (R14).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(tag = "result", rename_all = "snake_case", deny_unknown_fields)]
pub enum OutageSearch {
    /// Found (the one staff picked when there were several).
    Found {
        qualification: QualificationSeen,
    },
    NotFound,
}

/// A returning patient known from earlier visits.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReturningPatient {
    /// The qualification the facility holds from an earlier visit.
    pub known_qualification: QualificationSeen,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_visit: Option<NaiveDate>,
    /// The patient's oral answer to "has anything changed since?": `true` nothing changed,
    /// `false` something changed; left out while not asked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unchanged: Option<bool>,
}

/// The 被保険者資格申立書 as submitted (annex 3; R24, R25). Every field may be empty: the
/// patient fills it "as far as they can".
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Moushitatesho {
    /// 「有効な保険証の交付を受けている」 ticked. Unticked: no valid qualification to claim on (R16).
    #[serde(default = "yes")]
    pub has_valid_insurance: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub insurance_type: Option<InsuranceType>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub insurer_name: Option<String>,
    /// 事業所名 (asked for 社保, 国保組合, その他, わからない).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub employer: Option<String>,
    /// 保険証の交付を受けた時期.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub card_issued: Option<CardIssued>,
    /// 一部負担金の割合 in percent (30, 20 or 10); left out for わからない or when not asked
    /// (asked of 70+ and 後期, R24).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub declared_share_percent: Option<u8>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name_kana: Option<String>,
    /// 生年月日 in 和暦 as on the form ("昭和50年1月2日", "S50.1.2").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub birth_date: Option<WarekiDate>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sex: Option<Sex>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
    /// 居所 other than the address on the card.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub other_residence: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signed_on: Option<NaiveDate>,
    /// 患者との関係 when someone else signed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signer_relation: Option<String>,
    /// 連絡先電話番号.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phone: Option<String>,
}

fn yes() -> bool {
    true
}

/// An empty form with the valid-insurance box ticked.
impl Default for Moushitatesho {
    fn default() -> Self {
        Moushitatesho {
            has_valid_insurance: true,
            insurance_type: None,
            insurer_name: None,
            employer: None,
            card_issued: None,
            declared_share_percent: None,
            name: None,
            name_kana: None,
            birth_date: None,
            sex: None,
            address: None,
            other_residence: None,
            signed_on: None,
            signer_relation: None,
            phone: None,
        }
    }
}

/// 保険種別 on the 申立書.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum InsuranceType {
    /// 社保 (健康保険組合, 共済組合, 全国健康保険協会).
    Shaho,
    /// 国保.
    Kokuho,
    /// 後期 (後期高齢者医療).
    Koki,
    /// その他 (自衛官, 公費単独).
    Other,
    /// わからない.
    Unknown,
}

impl InsuranceType {
    pub fn label(self) -> &'static str {
        match self {
            InsuranceType::Shaho => "社保",
            InsuranceType::Kokuho => "国保",
            InsuranceType::Koki => "後期",
            InsuranceType::Other => "その他",
            InsuranceType::Unknown => "わからない",
        }
    }
}

/// 保険証の交付を受けた時期.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum CardIssued {
    WithinAMonth,
    Earlier,
    Unknown,
}

impl CardIssued {
    pub fn label(self) -> &'static str {
        match self {
            CardIssued::WithinAMonth => "1か月以内",
            CardIssued::Earlier => "それより前",
            CardIssued::Unknown => "わからない",
        }
    }
}

/// 資格有効性 as its OQSCD006 code string.
pub(crate) mod validity_code {
    use serde::{Deserialize, Deserializer, Serializer};

    use crate::codes::QualificationValidity;

    pub fn serialize<S: Serializer>(v: &QualificationValidity, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(v.code())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<QualificationValidity, D::Error> {
        let text = String::deserialize(d)?;
        QualificationValidity::parse(&text).map_err(serde::de::Error::custom)
    }
}

/// An optional 資格有効性 code.
pub(crate) mod validity_code_opt {
    use serde::{Deserialize, Deserializer, Serializer};

    use crate::codes::QualificationValidity;

    pub fn serialize<S: Serializer>(
        v: &Option<QualificationValidity>,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        match v {
            Some(v) => s.serialize_str(v.code()),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<Option<QualificationValidity>, D::Error> {
        let text = Option::<String>::deserialize(d)?;
        text.map(|t| QualificationValidity::parse(&t).map_err(serde::de::Error::custom))
            .transpose()
    }
}
