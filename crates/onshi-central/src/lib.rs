//! The central OQS services: card confirmation (R1, R2, R5, R6), confirmation by insurance
//! numbers (R7), the facility's confirmation history (資格確認履歴) and the insurers' bulk
//! import with its mislink guard.
//!
//! Boundary rules: the services take a facility that the edge (HTTP) has already
//! authenticated; they never see a PIN — the reader (`onshi-card`) reports an
//! [`IdentityOutcome`]; every confirmation, successful or not, is durably in the history
//! before its response is returned (group commit, see [`history`]).

pub mod batcher;
pub mod clock;
/// The hand-made test registry (one person per case), for the tests of the crates above: only
/// with the `fixture` feature, never in a build that ships.
#[cfg(any(test, feature = "fixture"))]
pub mod fixture;
pub mod history;
pub mod import;
pub mod medinfo;
pub mod outage;
pub mod result;
pub mod signatures;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::NaiveDate;
use chrono::Timelike;
use onshi_card::assertion::{SignatureCheck, card_challenge, parse_signature, signed_bytes};
use onshi_domain::card::{CertCheck, IdentityFailure, IdentityOutcome, check_certificate};
use onshi_domain::codes::{IdentityMethod, LimitConsent, ReferenceClassification};
use onshi_domain::kana;
use onshi_domain::medinfo::{ConsentGrant, MedicalInfoKind};
use onshi_domain::numbers::MedicalInstitutionCode;
use onshi_domain::qualification::{
    NumbersQuery, Outcome, Qualification, evaluate_by_card, evaluate_by_numbers,
};
use onshi_domain::wareki::format_yyyymmdd;
use onshi_store::{
    ConfirmationEntry, HistoryFilter, HistoryStore, MedicalInfoStore, PersonId, PersonRecord,
    QualificationRecord, ReaderRecord, RegistryRead, StoreError, TrustStore,
};
use serde::{Deserialize, Serialize};

pub use clock::{Clock, FixedClock, SystemClock};
pub use history::{HistoryError, HistoryWriter};
pub use result::{
    ConfirmationError, ConfirmationResponse, MedicalConsentElements,
    ResultOfQualificationConfirmation,
};

/// An assertion's verdict: `Err` the refusal's class and message; `Ok(Some(card))` the card
/// with its history, already read together with the checks (a registry on a database server:
/// `Central::assertion_verdict`); `Ok(None)` the card is still to be read.
type Verdict = Result<Option<Option<onshi_store::CardWithHistory>>, (&'static str, &'static str)>;

#[cfg(test)]
mod tests {
    #[test]
    fn the_history_id_is_put_into_the_stored_json() {
        let resp = serde_json::json!({"confirmation_id": 0, "segment_of_result": "1"});
        let stored = serde_json::to_string(&resp).unwrap();
        let out = super::with_confirmation_id(&stored, 42).unwrap();
        let v: serde_json::Value = serde_json::from_str(&out).unwrap();
        assert_eq!(v["confirmation_id"], 42);
        assert_eq!(v["segment_of_result"], "1");
        assert_eq!(super::with_confirmation_id("{\"other\":1}", 42), None);
    }
}

#[derive(Debug, thiserror::Error)]
pub enum CentralError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    History(#[from] HistoryError),
}

/// A card confirmation (照会区分 1) is a certified reader's signed assertion over a nonce the
/// central issued (see [`onshi_card::assertion`]).
pub use onshi_card::CardAssertion as CardConfirmation;

/// How long a nonce for a card confirmation stays usable.
pub const NONCE_TTL: Duration = Duration::from_secs(120);

/// A nonce issued to a facility for one card confirmation.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct NonceGrant {
    /// 32 random bytes, hex
    pub nonce: String,
    pub expires_in_seconds: u64,
}

#[derive(Clone)]
struct Nonces {
    map: Arc<Mutex<HashMap<String, (String, Instant)>>>,
    ttl: Duration,
    /// the table size at which expired nonces are next swept out: twice the live count after
    /// a sweep (at least [`NONCE_SWEEP_MIN`]), so that issuing stays O(1) amortised however
    /// many nonces are outstanding
    sweep_at: Arc<std::sync::atomic::AtomicUsize>,
}

const NONCE_SWEEP_MIN: usize = 10_000;

/// A confirmation by the numbers of an insurance card / 資格確認書 (照会区分 2, R7).
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct NumbersConfirmation {
    pub confirmation_date: NaiveDate,
    pub query: NumbersQuery,
    /// who typed the numbers
    #[serde(default)]
    pub staff_id: Option<String>,
    #[serde(default)]
    pub limit_consent: bool,
}

/// A confirmation's response, and the same as JSON text.
#[derive(Debug, Clone)]
pub struct Confirmed {
    pub response: ConfirmationResponse,
    pub json: String,
}

/// The stored response was serialized before its history id existed, with
/// `"confirmation_id":0` as its first member; this puts the id in without serializing again.
/// `None` if the text does not start that way.
fn with_confirmation_id(stored: &str, id: i64) -> Option<String> {
    let rest = stored.strip_prefix("{\"confirmation_id\":0")?;
    Some(format!("{{\"confirmation_id\":{id}{rest}"))
}

/// The central service.
#[derive(Clone)]
pub struct Central {
    registry: Arc<dyn RegistryRead>,
    trust: Arc<dyn TrustStore>,
    medinfo: Arc<dyn MedicalInfoStore>,
    nonces: Nonces,
    history_store: Arc<dyn HistoryStore>,
    history: HistoryWriter,
    signatures: signatures::SignatureChecker,
    /// the store waits on the network: its hot-path calls go through `block_in_place`
    offload: bool,
    clock: Arc<dyn Clock>,
}

struct Draft {
    reference: ReferenceClassification,
    identity_method: Option<IdentityMethod>,
    staff_id: Option<String>,
    card_serial: Option<String>,
    person: Option<PersonRecord>,
    certificate: Option<CertCheck>,
    error: Option<ConfirmationError>,
    validity: Option<onshi_domain::codes::QualificationValidity>,
    results: Vec<ResultOfQualificationConfirmation>,
    /// the medical-information consents given at the reader (R2), committed with the
    /// confirmation's history entry
    consents: Vec<ConsentGrant>,
}

impl Draft {
    fn new(reference: ReferenceClassification) -> Self {
        Draft {
            reference,
            identity_method: None,
            staff_id: None,
            card_serial: None,
            person: None,
            certificate: None,
            error: None,
            validity: None,
            results: Vec::new(),
            consents: Vec::new(),
        }
    }

    fn fail(mut self, class: &str, message: String, remaining: Option<u32>) -> Self {
        self.error = Some(ConfirmationError {
            class: class.to_string(),
            message,
            remaining_attempts: remaining,
        });
        self
    }
}

impl Central {
    pub fn new<S: RegistryRead + TrustStore + MedicalInfoStore + 'static>(
        registry: Arc<S>,
        history_store: Arc<dyn HistoryStore>,
        clock: Arc<dyn Clock>,
    ) -> Self {
        Central {
            offload: registry.waits_on_network(),
            trust: registry.clone(),
            medinfo: registry.clone(),
            registry,
            nonces: Nonces {
                map: Arc::new(Mutex::new(HashMap::new())),
                ttl: NONCE_TTL,
                sweep_at: Arc::new(std::sync::atomic::AtomicUsize::new(NONCE_SWEEP_MIN)),
            },
            history: HistoryWriter::start(history_store.clone()),
            signatures: signatures::SignatureChecker::start(),
            history_store,
            clock,
        }
    }

    /// Runs a store call of the hot path from an async handler. On a store that waits on the
    /// network (PostgreSQL) the tokio worker hands its other tasks to another thread for the
    /// length of the round trip (`block_in_place`), so the confirmations queued behind one do
    /// not wait for it; an embedded store (SQLite) answers from local pages and is called
    /// directly. Outside a multi-threaded runtime the call is always direct.
    pub fn store_call<T>(&self, f: impl FnOnce() -> T) -> T {
        use tokio::runtime::{Handle, RuntimeFlavor};
        if self.offload
            && Handle::try_current().is_ok_and(|h| h.runtime_flavor() == RuntimeFlavor::MultiThread)
        {
            // not declared `onshi_store::blocking`: the store's reads on the thread's own
            // connections measured a lower rate and twice the p99 here at 64 connections
            // (docs/performance.md); they keep to the pool
            tokio::task::block_in_place(f)
        } else {
            f()
        }
    }

    /// How the reader signatures were checked so far (batched or alone).
    pub fn signature_stats(&self) -> signatures::StatsSnapshot {
        self.signatures.snapshot()
    }

    pub fn clock(&self) -> &dyn Clock {
        self.clock.as_ref()
    }

    pub fn registry(&self) -> &dyn RegistryRead {
        self.registry.as_ref()
    }

    /// With another nonce lifetime (tests of expiry).
    pub fn with_nonce_ttl(mut self, ttl: Duration) -> Self {
        self.nonces.ttl = ttl;
        self
    }

    /// The card keys, readers and refusals.
    pub fn trust(&self) -> &dyn TrustStore {
        self.trust.as_ref()
    }

    /// A fresh single-use nonce for one card confirmation by `facility`.
    pub fn issue_nonce(
        &self,
        facility: &MedicalInstitutionCode,
    ) -> Result<NonceGrant, CentralError> {
        let mut b = [0u8; 32];
        getrandom::fill(&mut b)
            .map_err(|e| StoreError::Conflict(format!("no system randomness: {e}")))?;
        let nonce = hex::encode(b);
        let now = Instant::now();
        let mut map = self
            .nonces
            .map
            .lock()
            .map_err(|_| StoreError::Conflict("nonce table poisoned".into()))?;
        let sweep_at = &self.nonces.sweep_at;
        if map.len() >= sweep_at.load(std::sync::atomic::Ordering::Relaxed) {
            map.retain(|_, (_, exp)| *exp > now);
            sweep_at.store(
                (map.len() * 2).max(NONCE_SWEEP_MIN),
                std::sync::atomic::Ordering::Relaxed,
            );
        }
        map.insert(
            nonce.clone(),
            (facility.as_str().to_string(), now + self.nonces.ttl),
        );
        Ok(NonceGrant {
            nonce,
            expires_in_seconds: self.nonces.ttl.as_secs(),
        })
    }

    /// Registers a certified reader's device key for a facility (the operator's act).
    pub fn register_reader(
        &self,
        facility: &MedicalInstitutionCode,
        id: &str,
        public_key: &str,
    ) -> Result<(), CentralError> {
        Ok(self.trust.register_reader(&ReaderRecord {
            id: id.to_string(),
            facility: facility.as_str().to_string(),
            public_key: public_key.to_string(),
            revoked: false,
        })?)
    }

    /// Checks a reader's assertion: a registered, unrevoked reader of this facility, its
    /// signature, a nonce issued to this facility, unused and unexpired (consumed here), and
    /// for a PIN the chip's signature under the card's certificate key. `Err` carries the
    /// refusal class and message; every refusal is recorded.
    async fn verify_assertion(
        &self,
        facility: &MedicalInstitutionCode,
        a: &CardConfirmation,
    ) -> Result<Verdict, CentralError> {
        let verdict = self.assertion_verdict(facility, a).await?;
        if let Err((class, _)) = verdict {
            tracing::warn!(
                facility = facility.as_str(),
                reader = %a.reader_id,
                card = %a.card_serial,
                reason = class,
                "card assertion refused"
            );
            self.store_call(|| {
                self.trust.record_refusal(
                    facility.as_str(),
                    Some(&a.reader_id),
                    Some(&a.card_serial),
                    class,
                )
            })?;
        }
        Ok(verdict)
    }

    /// Checks one signature on the batching thread ([`signatures`]).
    async fn signature_check(
        &self,
        key: Option<signatures::PreparedKey>,
        msg: Vec<u8>,
        sig: Option<&str>,
    ) -> SignatureCheck {
        let Some(sig) = sig.filter(|s| !s.is_empty()) else {
            return SignatureCheck::Missing;
        };
        match (key, parse_signature(sig)) {
            (Some(k), Some(s)) if self.signatures.verify(k, msg, s).await => SignatureCheck::Valid,
            _ => SignatureCheck::Invalid,
        }
    }

    async fn assertion_verdict(
        &self,
        facility: &MedicalInstitutionCode,
        a: &CardConfirmation,
    ) -> Result<Verdict, CentralError> {
        let pin = matches!(
            a.identity,
            IdentityOutcome::Verified {
                method: IdentityMethod::Pin,
                ..
            }
        );
        if !self.registry.waits_on_network() {
            // local reads: one after the other, the card only once the reader is trusted
            if let Err(refusal) = self.reader_checks(facility, a).await? {
                return Ok(Err(refusal));
            }
            if !pin {
                return Ok(Ok(None));
            }
            let key = self.trust.card_public_key_async(&a.card_serial).await?;
            return Ok(self.pin_check(facility, a, key).await.map(|()| None));
        }
        // A database server: the card's read goes out together with the reader's, so that the
        // confirmation waits for one round trip instead of two. What it read is dropped
        // unseen when a check of the reader, its signature or the nonce refuses; a refusal
        // comes before any error of that read.
        let card = async {
            if pin {
                match self.registry.card_key_and_history_async(&a.card_serial) {
                    Some(both) => both.await.map(|(key, card)| (key, Some(card))),
                    None => Ok::<_, StoreError>((
                        self.trust.card_public_key_async(&a.card_serial).await?,
                        None,
                    )),
                }
            } else {
                let card = self
                    .registry
                    .card_with_history_async(&a.card_serial)
                    .await?;
                Ok::<_, StoreError>((None, Some(card)))
            }
        };
        let (checks, card) = tokio::join!(self.reader_checks(facility, a), card);
        if let Err(refusal) = checks? {
            return Ok(Err(refusal));
        }
        let (key, card) = card?;
        if pin && let Err(refusal) = self.pin_check(facility, a, key).await {
            return Ok(Err(refusal));
        }
        Ok(Ok(card))
    }

    /// The checks of an assertion that come before its card: a registered, unrevoked reader of
    /// this facility, its signature over the assertion, and the nonce (consumed here).
    async fn reader_checks(
        &self,
        facility: &MedicalInstitutionCode,
        a: &CardConfirmation,
    ) -> Result<Result<(), (&'static str, &'static str)>, CentralError> {
        let code = facility.as_str();
        let Some(reader) = self.trust.reader_async(&a.reader_id).await? else {
            return Ok(Err((
                "reader_unknown",
                "この読取装置は登録されていません。",
            )));
        };
        if reader.facility != code {
            return Ok(Err((
                "reader_foreign",
                "この読取装置は他の医療機関に登録されています。",
            )));
        }
        if reader.revoked {
            return Ok(Err((
                "reader_revoked",
                "この読取装置の登録は取り消されています。",
            )));
        }
        let reader_key = self.signatures.cached_key(&reader.public_key);
        let signed = signed_bytes(code, a);
        match self
            .signature_check(reader_key, signed, a.reader_signature.as_deref())
            .await
        {
            SignatureCheck::Valid => {}
            SignatureCheck::Missing => {
                return Ok(Err(("assertion_unsigned", "読取装置の署名がありません。")));
            }
            SignatureCheck::Invalid => {
                return Ok(Err((
                    "assertion_forged",
                    "読取装置の署名が正しくありません。",
                )));
            }
        }
        let issued = self
            .nonces
            .map
            .lock()
            .map_err(|_| StoreError::Conflict("nonce table poisoned".into()))?
            .remove(&a.nonce);
        match issued {
            None => Ok(Err((
                "assertion_replayed",
                "この確認要求は使用済みか、発行されていません。",
            ))),
            Some((f, _)) if f != code => Ok(Err((
                "assertion_foreign_nonce",
                "この確認要求は他の医療機関に発行されたものです。",
            ))),
            Some((_, exp)) if exp <= Instant::now() => Ok(Err((
                "assertion_expired",
                "この確認要求は有効期限が切れています。",
            ))),
            Some(_) => Ok(Ok(())),
        }
    }

    /// A PIN confirmation's check: the chip's signature over the central's challenge under
    /// the card's certificate key (`key`, hex; `None` when none is registered).
    async fn pin_check(
        &self,
        facility: &MedicalInstitutionCode,
        a: &CardConfirmation,
        key: Option<String>,
    ) -> Result<(), (&'static str, &'static str)> {
        let Some(key) = key else {
            return Err((
                "card_key_unknown",
                "このカードの電子証明書の公開鍵が登録されていません。",
            ));
        };
        // a card's key is met once per confirmation: not cached, its signature checked alone
        let card_key = signatures::PreparedKey::from_hex_alone(&key);
        let challenge = card_challenge(facility.as_str(), &a.nonce, &a.card_serial);
        match self
            .signature_check(card_key, challenge, a.card_signature.as_deref())
            .await
        {
            SignatureCheck::Valid => Ok(()),
            SignatureCheck::Missing => Err((
                "card_signature_missing",
                "暗証番号による本人確認にはカードの署名が必要です。",
            )),
            SignatureCheck::Invalid => {
                Err(("card_signature_invalid", "カードの署名が正しくありません。"))
            }
        }
    }

    /// R1/R2/R5/R6: confirmation by My Number card.
    pub async fn confirm_by_card(
        &self,
        facility: &MedicalInstitutionCode,
        req: &CardConfirmation,
    ) -> Result<ConfirmationResponse, CentralError> {
        Ok(self.confirm_by_card_json(facility, req).await?.response)
    }

    /// As [`Central::confirm_by_card`], with the response also as the JSON text that was
    /// stored in the history (serialized once, for the HTTP body too).
    pub async fn confirm_by_card_json(
        &self,
        facility: &MedicalInstitutionCode,
        req: &CardConfirmation,
    ) -> Result<Confirmed, CentralError> {
        let draft = match self.verify_assertion(facility, req).await? {
            Ok(Some(found)) => self.card_draft(facility, req, found)?,
            Ok(None) => {
                let found = self
                    .registry
                    .card_with_history_async(&req.card_serial)
                    .await?;
                self.card_draft(facility, req, found)?
            }
            Err((class, message)) => {
                let mut d = Draft::new(ReferenceClassification::Card);
                d.card_serial = Some(req.card_serial.clone());
                d.fail(class, message.into(), None)
            }
        };
        self.finish(facility, req.confirmation_date, draft).await
    }

    /// The draft answer of a card confirmation from the card found under its serial, with
    /// its holder and history (`found`).
    fn card_draft(
        &self,
        facility: &MedicalInstitutionCode,
        req: &CardConfirmation,
        found: Option<onshi_store::CardWithHistory>,
    ) -> Result<Draft, CentralError> {
        let mut d = Draft::new(ReferenceClassification::Card);
        d.card_serial = Some(req.card_serial.clone());
        let Some((card, history)) = found else {
            return Ok(d.fail(
                "card_unknown",
                "このカードの電子証明書は登録されていません。".into(),
                None,
            ));
        };
        if let Some((p, _)) = &history {
            d.person = Some(p.clone());
        }
        match &req.identity {
            IdentityOutcome::Refused { failure } => {
                let remaining = match failure {
                    IdentityFailure::PinWrong { remaining } => Some(*remaining),
                    _ => None,
                };
                return Ok(d.fail(failure.class(), failure.message_ja(), remaining));
            }
            IdentityOutcome::Verified { method, staff_id } => {
                d.identity_method = Some(*method);
                d.staff_id = staff_id.clone();
                if *method == IdentityMethod::Visual
                    && staff_id.as_deref().is_none_or(|s| s.trim().is_empty())
                {
                    let f = IdentityFailure::StaffMissing;
                    return Ok(d.fail(f.class(), f.message_ja(), None));
                }
            }
        }
        let cert = check_certificate(card.status, card.cert_expiry, req.confirmation_date);
        d.certificate = Some(cert);
        match cert {
            CertCheck::Revoked => {
                return Ok(d.fail(
                    "card_revoked",
                    "このカードの電子証明書は失効しています。".into(),
                    None,
                ));
            }
            CertCheck::ChipBroken => {
                let f = IdentityFailure::ChipUnreadable;
                return Ok(d.fail("chip_broken", f.message_ja(), None));
            }
            CertCheck::PastGrace { usable_until } => {
                return Ok(d.fail(
                    "certificate_expired",
                    format!(
                        "利用者証明用電子証明書の有効期限が切れ、猶予期間（{}まで）も過ぎています。市区町村で更新が必要です。",
                        usable_until.format("%Y-%m-%d")
                    ),
                    None,
                ));
            }
            CertCheck::Ok | CertCheck::InGrace { .. } => {}
        }
        let Some((person, quals)) = history else {
            return Err(StoreError::Corrupt(format!(
                "card {} points to a missing person",
                card.serial
            ))
            .into());
        };
        let plain: Vec<Qualification> = quals.iter().map(|r| r.qualification.clone()).collect();
        let outcome = evaluate_by_card(&plain, req.confirmation_date);
        d.validity = Some(outcome.validity());
        d.results = self.result_list(&person, &quals, &plain, &outcome, req);
        if !d.results.is_empty() {
            // R2: the consents given at the reader open the medical information to this
            // facility for a while, whatever the identity method (a PIN-less card too)
            let grants = self.consent_grants(person.id, facility, req);
            let elements = MedicalConsentElements::from_grants(&req.medical_consent, &grants);
            for r in &mut d.results {
                r.medical_consents = elements.clone();
            }
            d.consents = grants;
        }
        d.person = Some(person);
        Ok(d)
    }

    /// The medical-information consents of a card confirmation (given now, lasting
    /// [`onshi_domain::medinfo::CONSENT_LASTS`]); recorded with its history entry.
    fn consent_grants(
        &self,
        person: PersonId,
        facility: &MedicalInstitutionCode,
        req: &CardConfirmation,
    ) -> Vec<ConsentGrant> {
        let now = self.clock.now_jst().naive_local();
        let now = now.with_nanosecond(0).unwrap_or(now);
        MedicalInfoKind::ALL
            .into_iter()
            .filter(|k| req.medical_consent.given(*k))
            .map(|k| ConsentGrant::given(person, facility.as_str(), k, now))
            .collect()
    }

    /// The medical information store (R2).
    pub fn medinfo(&self) -> &dyn MedicalInfoStore {
        self.medinfo.as_ref()
    }

    fn result_list(
        &self,
        person: &PersonRecord,
        quals: &[QualificationRecord],
        plain: &[Qualification],
        outcome: &Outcome<'_>,
        req: &CardConfirmation,
    ) -> Vec<ResultOfQualificationConfirmation> {
        let consent = if req.limit_consent {
            LimitConsent::Consented
        } else {
            LimitConsent::NotConsented
        };
        let pick = |q: &Qualification| -> Option<&QualificationRecord> {
            plain
                .iter()
                .position(|x| std::ptr::eq(x, q))
                .map(|i| &quals[i])
        };
        let chosen: Vec<&QualificationRecord> = match outcome {
            Outcome::Valid(q) | Outcome::Invalid(q) | Outcome::InvalidNewerExists(q) => {
                pick(q).into_iter().collect()
            }
            Outcome::Multiple(qs) => qs.iter().filter_map(|q| pick(q)).collect(),
            Outcome::NotFound => Vec::new(),
        };
        chosen
            .into_iter()
            .map(|r| {
                ResultOfQualificationConfirmation::build(person, r, req.confirmation_date, consent)
            })
            .collect()
    }

    /// R7: confirmation by the numbers of a card. Never returns a newer qualification.
    pub async fn confirm_by_numbers(
        &self,
        facility: &MedicalInstitutionCode,
        req: &NumbersConfirmation,
    ) -> Result<ConfirmationResponse, CentralError> {
        Ok(self.confirm_by_numbers_json(facility, req).await?.response)
    }

    /// As [`Central::confirm_by_numbers`], with the response's JSON text.
    pub async fn confirm_by_numbers_json(
        &self,
        facility: &MedicalInstitutionCode,
        req: &NumbersConfirmation,
    ) -> Result<Confirmed, CentralError> {
        let mut d = Draft::new(ReferenceClassification::InsuranceNumbers);
        d.staff_id = req.staff_id.clone();
        let q = &req.query;
        let candidates = self
            .registry
            .qualifications_by_number(&q.insurer_number, &q.number.key())?;
        let mut person_ids: Vec<PersonId> = candidates.iter().map(|c| c.person_id).collect();
        person_ids.sort_unstable();
        person_ids.dedup();
        let consent = if req.limit_consent {
            LimitConsent::Consented
        } else {
            LimitConsent::NotConsented
        };
        let mut best: Option<(PersonRecord, Vec<QualificationRecord>, usize)> = None;
        for pid in person_ids {
            let Some((person, hist)) = self.registry.person_with_history(pid)? else {
                continue;
            };
            let plain: Vec<Qualification> = hist.iter().map(|r| r.qualification.clone()).collect();
            let matched: Vec<usize> = plain
                .iter()
                .enumerate()
                .filter(|(_, x)| q.matches(x, person.person.birthdate))
                .map(|(i, _)| i)
                .collect();
            if matched.is_empty() {
                continue;
            }
            let refs: Vec<&Qualification> = matched.iter().map(|&i| &plain[i]).collect();
            let outcome = evaluate_by_numbers(&plain, &refs, req.confirmation_date);
            let idx = match &outcome {
                Outcome::Valid(x) | Outcome::Invalid(x) | Outcome::InvalidNewerExists(x) => {
                    plain.iter().position(|y| std::ptr::eq(y, *x))
                }
                _ => None,
            };
            d.validity = Some(outcome.validity());
            if let Some(i) = idx {
                best = Some((person, hist, i));
            }
            break;
        }
        match best {
            Some((person, hist, i)) => {
                d.results = vec![ResultOfQualificationConfirmation::build(
                    &person,
                    &hist[i],
                    req.confirmation_date,
                    consent,
                )];
                d.person = Some(person);
            }
            None => {
                d.validity = Some(onshi_domain::codes::QualificationValidity::NotFound);
            }
        }
        self.finish(facility, req.confirmation_date, d).await
    }

    async fn finish(
        &self,
        facility: &MedicalInstitutionCode,
        date: NaiveDate,
        d: Draft,
    ) -> Result<Confirmed, CentralError> {
        let now = self.clock.now_jst();
        let mut resp = ConfirmationResponse {
            confirmation_id: 0,
            process_execution_time: clock::compact_time(&now),
            qualification_confirmation_date: format_yyyymmdd(date),
            medical_institution_code: facility.as_str().to_string(),
            reference_classification: d.reference.code().into(),
            segment_of_result: if d.error.is_some() { "9" } else { "1" }.into(),
            processing_result_status: if d.error.is_some() { "2" } else { "1" }.into(),
            error: d.error,
            qualification_validity: d.validity.map(|v| v.code().into()),
            qualification_validity_label: d.validity.map(|v| v.label().into()),
            identity_method: d.identity_method,
            visual_confirmation_staff_id: if d.identity_method == Some(IdentityMethod::Visual) {
                d.staff_id.clone()
            } else {
                None
            },
            certificate: d.certificate,
            result_list: d.results,
        };
        let outcome = match (&resp.error, &resp.qualification_validity) {
            (Some(e), _) => e.class.clone(),
            (None, Some(v)) => v.clone(),
            (None, None) => "unknown".into(),
        };
        let entry = ConfirmationEntry {
            id: 0,
            facility: facility.as_str().to_string(),
            processed_at: clock::stamp_millis(&now),
            confirmation_date: date,
            reference_classification: d.reference,
            identity_method: d.identity_method,
            staff_id: d.staff_id,
            card_serial: d.card_serial,
            person_id: d.person.as_ref().map(|p| p.id),
            birthdate: d.person.as_ref().map(|p| p.person.birthdate),
            kana_key: d
                .person
                .as_ref()
                .map(|p| kana::kana_key(&p.person.name_kana)),
            outcome,
            result: serde_json::value::to_raw_value(&resp)
                .map_err(|e| StoreError::Corrupt(format!("serializing a response: {e}")))?,
        };
        let stored = entry.result.get().to_string();
        resp.confirmation_id = self.history.append_with_consents(entry, d.consents).await?;
        let json = with_confirmation_id(&stored, resp.confirmation_id)
            .map_or_else(|| serde_json::to_string(&resp), Ok)
            .map_err(|e| StoreError::Corrupt(format!("serializing a response: {e}")))?;
        Ok(Confirmed {
            response: resp,
            json,
        })
    }

    /// The facility's confirmation history (R6), newest first. `facility` comes from the
    /// authenticated caller, so a facility never sees another's.
    pub fn history(
        &self,
        facility: &MedicalInstitutionCode,
        filter: &HistoryFilter,
    ) -> Result<Vec<ConfirmationEntry>, CentralError> {
        let mut rows = self
            .history_store
            .list_confirmations(facility.as_str(), filter)?;
        // The stored response was serialized before its id was assigned: put the id in.
        for r in &mut rows {
            if let Ok(mut v) = serde_json::from_str::<serde_json::Value>(r.result.get())
                && let Some(obj) = v.as_object_mut()
            {
                obj.insert("confirmation_id".into(), r.id.into());
                if let Ok(raw) = serde_json::value::to_raw_value(&v) {
                    r.result = raw;
                }
            }
        }
        Ok(rows)
    }
}
