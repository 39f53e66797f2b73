//! What a certified reader tells the central, and how the central checks it (R1–R3; SPEC
//! "Where the PIN lives"; docs/security.md).
//!
//! The central issues a nonce to an authenticated facility. The reader at that facility runs
//! the identity step on the card and returns a [`CardAssertion`] over that nonce:
//! - PIN: the chip checks and counts the PIN itself and, once it is right, signs the
//!   [`card_challenge`] with the key of its 利用者証明用電子証明書 (`card_signature`); the
//!   central verifies it with the certificate's public key. The PIN never leaves the card.
//! - face and 目視確認: the certified reader vouches for the method (and, for 目視, the staff
//!   member who ticked 目視で本人確認完了, R3) with its own device key.
//! - every assertion, refusals too, carries the reader's signature over
//!   [`signed_bytes`] (`reader_signature`): the facility, the reader, the nonce, the card, the
//!   date, the consent and the identity outcome, so none of them can be changed on the way.
//!
//! Signatures are ed25519 (`ed25519-dalek`); keys and signatures travel as hex.

use std::path::Path;

use chrono::NaiveDate;
use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use onshi_domain::card::{IdentityFailure, IdentityOutcome};
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use crate::chips::CardStore;
use crate::{CardError, IdentityAttempt, Reader};

/// A reader's signed report of the identity step on one card, over a central-issued nonce.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CardAssertion {
    /// the certified reader that made it (registered at the central for the facility)
    pub reader_id: String,
    /// the nonce the central issued for this confirmation (hex)
    pub nonce: String,
    pub card_serial: String,
    pub confirmation_date: NaiveDate,
    /// 限度額情報の提供に同意 (OQSCD001)
    #[serde(default)]
    pub limit_consent: bool,
    /// the medical-information consents given on the reader's screens (R2), per kind
    #[serde(default)]
    pub medical_consent: onshi_domain::medinfo::MedicalConsents,
    pub identity: IdentityOutcome,
    /// the chip's signature over [`card_challenge`] (PIN verified only), hex
    #[serde(default)]
    pub card_signature: Option<String>,
    /// the reader's signature over [`signed_bytes`], hex
    #[serde(default)]
    pub reader_signature: Option<String>,
}

fn field(out: &mut Vec<u8>, v: &[u8]) {
    out.extend_from_slice(&(v.len() as u32).to_be_bytes());
    out.extend_from_slice(v);
}

/// What the chip signs once the PIN is right: the facility, the nonce and its own serial.
pub fn card_challenge(facility: &str, nonce: &str, card_serial: &str) -> Vec<u8> {
    let mut out = b"onshi-card-auth-v1".to_vec();
    for f in [facility, nonce, card_serial] {
        field(&mut out, f.as_bytes());
    }
    out
}

/// What the reader signs: every field of the assertion but the signatures, for `facility`.
pub fn signed_bytes(facility: &str, a: &CardAssertion) -> Vec<u8> {
    let mut out = b"onshi-reader-assertion-v1".to_vec();
    let identity = serde_json::to_vec(&a.identity).unwrap_or_default();
    let date = onshi_domain::wareki::format_iso_date(a.confirmation_date);
    let consents = a.medical_consent.flags();
    for f in [
        facility.as_bytes(),
        a.reader_id.as_bytes(),
        a.nonce.as_bytes(),
        a.card_serial.as_bytes(),
        date.as_bytes(),
        if a.limit_consent { b"1" } else { b"0" },
        consents.as_bytes(),
        &identity,
        a.card_signature.as_deref().unwrap_or("").as_bytes(),
    ] {
        field(&mut out, f);
    }
    out
}

fn public_key(hex_key: &str) -> Option<VerifyingKey> {
    let b: [u8; 32] = hex::decode(hex_key).ok()?.try_into().ok()?;
    VerifyingKey::from_bytes(&b).ok()
}

/// A signature from its 128 hex digits.
pub fn parse_signature(hex_sig: &str) -> Option<Signature> {
    let b: [u8; 64] = hex::decode(hex_sig).ok()?.try_into().ok()?;
    Some(Signature::from_bytes(&b))
}

/// Why the central does not believe an assertion (each is recorded).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignatureCheck {
    Missing,
    Invalid,
    Valid,
}

fn check(hex_key: &str, msg: &[u8], sig: Option<&str>) -> SignatureCheck {
    let Some(sig) = sig.filter(|s| !s.is_empty()) else {
        return SignatureCheck::Missing;
    };
    match (public_key(hex_key), parse_signature(sig)) {
        (Some(k), Some(s)) if k.verify_strict(msg, &s).is_ok() => SignatureCheck::Valid,
        _ => SignatureCheck::Invalid,
    }
}

/// Checks the reader's signature with its registered public key.
pub fn verify_reader(facility: &str, a: &CardAssertion, reader_key: &str) -> SignatureCheck {
    check(
        reader_key,
        &signed_bytes(facility, a),
        a.reader_signature.as_deref(),
    )
}

/// Checks the chip's signature with the public key of the card's certificate.
pub fn verify_card(facility: &str, a: &CardAssertion, card_key: &str) -> SignatureCheck {
    check(
        card_key,
        &card_challenge(facility, &a.nonce, &a.card_serial),
        a.card_signature.as_deref(),
    )
}

/// A certified reader's device key. `Debug` hides it; wiped when dropped (dalek's zeroize).
pub struct ReaderKey {
    pub id: String,
    key: SigningKey,
}

impl std::fmt::Debug for ReaderKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ReaderKey({}, ..)", self.id)
    }
}

#[derive(Serialize, Deserialize)]
struct ReaderKeyFile {
    id: String,
    secret_key: Zeroizing<String>,
}

impl ReaderKey {
    /// A fresh random device key.
    pub fn generate(id: &str) -> Result<Self, CardError> {
        let mut seed = Zeroizing::new([0u8; 32]);
        getrandom::fill(seed.as_mut()).map_err(|e| CardError::Key(e.to_string()))?;
        Ok(ReaderKey {
            id: id.to_string(),
            key: SigningKey::from_bytes(&seed),
        })
    }

    /// The public key to register at the central (hex).
    pub fn public_key_hex(&self) -> String {
        hex::encode(self.key.verifying_key().as_bytes())
    }

    fn sign(&self, msg: &[u8]) -> String {
        hex::encode(self.key.sign(msg).to_bytes())
    }

    /// Signs `a` as made for `facility` (sets `reader_signature`).
    pub fn sign_assertion(&self, facility: &str, a: &mut CardAssertion) {
        a.reader_signature = Some(self.sign(&signed_bytes(facility, a)));
    }

    /// Loads the device key file, or makes one (mode 0600, written then renamed, fsynced)
    /// with a fresh key and id `id`.
    pub fn load_or_create(path: &Path, id: &str) -> Result<Self, CardError> {
        let key_err = |e: String| CardError::Key(format!("{}: {e}", path.display()));
        if path.exists() {
            let raw = Zeroizing::new(std::fs::read(path).map_err(|e| key_err(e.to_string()))?);
            let f: ReaderKeyFile =
                serde_json::from_slice(&raw).map_err(|e| key_err(e.to_string()))?;
            let b: Zeroizing<Vec<u8>> = Zeroizing::new(
                hex::decode(f.secret_key.as_str()).map_err(|e| key_err(e.to_string()))?,
            );
            let seed: [u8; 32] = b
                .as_slice()
                .try_into()
                .map_err(|_| key_err("secret_key must be 32 bytes".into()))?;
            return Ok(ReaderKey {
                id: f.id,
                key: SigningKey::from_bytes(&seed),
            });
        }
        let k = ReaderKey::generate(id)?;
        let body = Zeroizing::new(
            serde_json::to_vec_pretty(&ReaderKeyFile {
                id: id.to_string(),
                secret_key: Zeroizing::new(hex::encode(k.key.to_bytes())),
            })
            .map_err(|e| key_err(e.to_string()))?,
        );
        write_private(path, &body).map_err(|e| key_err(e.to_string()))?;
        Ok(k)
    }
}

/// Writes a file readable by its owner only, atomically (temporary name, fsync, rename,
/// folder fsync).
pub fn write_private(path: &Path, body: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => std::path::PathBuf::from("."),
    };
    std::fs::create_dir_all(&dir)?;
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(format!(".tmp{}", std::process::id()));
    let tmp = std::path::PathBuf::from(tmp);
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let r = (|| {
        let mut f = opts.open(&tmp)?;
        f.write_all(body)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)?;
        std::fs::File::open(&dir)?.sync_all()
    })();
    if r.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    r
}

/// A certified face-auth card reader: its device key and the card emulation it reads.
pub struct CertifiedReader {
    key: ReaderKey,
    cards: std::sync::Arc<CardStore>,
}

impl CertifiedReader {
    pub fn new(key: ReaderKey, cards: std::sync::Arc<CardStore>) -> Self {
        CertifiedReader { key, cards }
    }

    pub fn id(&self) -> &str {
        &self.key.id
    }

    pub fn public_key_hex(&self) -> String {
        self.key.public_key_hex()
    }

    /// Signs `a` with this reader's device key as made for `facility`.
    pub fn sign_assertion(&self, facility: &str, a: &mut CardAssertion) {
        self.key.sign_assertion(facility, a);
    }

    pub fn cards(&self) -> &CardStore {
        &self.cards
    }

    /// Runs the identity step on the card and signs the outcome over the central's `nonce`
    /// for `facility`. An unknown card reads as an unreadable chip.
    pub fn assert(
        &self,
        facility: &str,
        nonce: &str,
        card_serial: &str,
        confirmation_date: NaiveDate,
        limit_consent: bool,
        attempt: &IdentityAttempt,
    ) -> Result<CardAssertion, CardError> {
        self.assert_with_consents(
            facility,
            nonce,
            card_serial,
            confirmation_date,
            limit_consent,
            onshi_domain::medinfo::MedicalConsents::default(),
            attempt,
        )
    }

    /// As [`CertifiedReader::assert`], with the medical-information consents the patient gave
    /// on the reader's screens (signed with the rest).
    #[allow(clippy::too_many_arguments)]
    pub fn assert_with_consents(
        &self,
        facility: &str,
        nonce: &str,
        card_serial: &str,
        confirmation_date: NaiveDate,
        limit_consent: bool,
        medical_consent: onshi_domain::medinfo::MedicalConsents,
        attempt: &IdentityAttempt,
    ) -> Result<CardAssertion, CardError> {
        let reader = Reader::new(self.cards.as_ref(), self.cards.secrets());
        let challenge = card_challenge(facility, nonce, card_serial);
        let (identity, card_signature) =
            match reader.identify_signed(card_serial, attempt, &challenge) {
                Ok(x) => x,
                Err(CardError::UnknownCard(_)) => (
                    IdentityOutcome::Refused {
                        failure: IdentityFailure::ChipUnreadable,
                    },
                    None,
                ),
                Err(e) => return Err(e),
            };
        let mut a = CardAssertion {
            reader_id: self.key.id.clone(),
            nonce: nonce.to_string(),
            card_serial: card_serial.to_string(),
            confirmation_date,
            limit_consent,
            medical_consent,
            identity,
            card_signature,
            reader_signature: None,
        };
        self.key.sign_assertion(facility, &mut a);
        Ok(a)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use onshi_domain::codes::IdentityMethod;
    use onshi_domain::medinfo::MedicalConsents;

    #[test]
    fn the_medical_consents_are_signed_with_the_rest() {
        let key = ReaderKey::generate("R1").unwrap();
        let mut a = CardAssertion {
            reader_id: "R1".into(),
            nonce: "00".into(),
            card_serial: "C1".into(),
            confirmation_date: NaiveDate::from_ymd_opt(2026, 11, 25).unwrap(),
            limit_consent: false,
            medical_consent: MedicalConsents {
                drug: true,
                ..Default::default()
            },
            identity: IdentityOutcome::Verified {
                method: IdentityMethod::Face,
                staff_id: None,
            },
            card_signature: None,
            reader_signature: None,
        };
        key.sign_assertion("1311234567", &mut a);
        let public = key.public_key_hex();
        assert_eq!(
            verify_reader("1311234567", &a, &public),
            SignatureCheck::Valid
        );
        a.medical_consent.checkup = true;
        assert_eq!(
            verify_reader("1311234567", &a, &public),
            SignatureCheck::Invalid,
            "a consent added on the way breaks the reader's signature"
        );
    }
}
