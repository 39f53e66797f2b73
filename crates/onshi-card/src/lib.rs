//! The emulated physical My Number card: what lives on the IC chip in the real system — the
//! PIN (here under a secret-keyed hash), its failure counter that locks at 3, whether a PIN
//! is set at all (PIN-less 顔認証マイナンバーカード), and the holder's photo reference — and
//! the reader's identity step that uses it (R1, R2, R3, R15).
//!
//! Boundary rules: this crate is the only one that ever sees a PIN; it hands the central an
//! [`IdentityOutcome`] and nothing else. A 4-digit PIN has 10,000 candidates, so it is
//! protected by the lock and by the secret key of the hash, not by hash slowness.

pub mod assertion;
pub mod chips;

pub use assertion::{CardAssertion, CertifiedReader, ReaderKey};
pub use chips::CardStore;

use hmac::{Hmac, Mac};
use onshi_domain::card::{IdentityFailure, IdentityOutcome};
use onshi_domain::codes::IdentityMethod;
use onshi_store::{ChipRow, ChipStore, PinTry, StoreError};
use sha2::Sha256;
use zeroize::Zeroizing;

/// Wrong PINs in a row that lock the card.
pub const LOCK_AFTER: u32 = 3;

#[derive(Debug, thiserror::Error)]
pub enum CardError {
    #[error("pin: must be exactly 4 digits")]
    PinFormat,
    #[error("card {0} is not known to the card emulator")]
    UnknownCard(String),
    #[error("pin key: the secret key must be at least 16 bytes")]
    ShortKey,
    #[error("key: {0}")]
    Key(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A 4-digit PIN. Not `Display`; `Debug` hides it; its memory is wiped when dropped.
#[derive(Clone, PartialEq, Eq)]
pub struct Pin(Zeroizing<String>);

impl std::fmt::Debug for Pin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Pin(****)")
    }
}

impl Pin {
    pub fn parse(s: &str) -> Result<Self, CardError> {
        if s.len() == 4 && s.bytes().all(|b| b.is_ascii_digit()) {
            Ok(Pin(Zeroizing::new(s.to_string())))
        } else {
            Err(CardError::PinFormat)
        }
    }
}

/// Keyed hash for PINs, bound to the card serial so equal PINs hash differently per card.
/// `Debug` hides the key; its memory is wiped when dropped.
#[derive(Clone)]
pub struct PinHasher {
    key: Zeroizing<Vec<u8>>,
}

impl std::fmt::Debug for PinHasher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PinHasher(..)")
    }
}

impl PinHasher {
    pub fn new(key: &[u8]) -> Result<Self, CardError> {
        if key.len() < 16 {
            return Err(CardError::ShortKey);
        }
        Ok(PinHasher {
            key: Zeroizing::new(key.to_vec()),
        })
    }

    pub fn hash(&self, serial: &str, pin: &Pin) -> String {
        hex::encode(self.hash_bytes(serial, pin))
    }

    /// [`PinHasher::hash`] before its hex encoding.
    fn hash_bytes(&self, serial: &str, pin: &Pin) -> [u8; 32] {
        let mut mac =
            <Hmac<Sha256> as Mac>::new_from_slice(&self.key).expect("HMAC takes keys of any size");
        mac.update(b"onshi-pin:");
        mac.update(serial.as_bytes());
        mac.update(b":");
        mac.update(pin.0.as_bytes());
        mac.finalize().into_bytes().into()
    }

    /// The key pair of the card's 利用者証明用電子証明書, derived from the card world's
    /// secret and the serial (nothing to store; only the card emulation can derive it).
    pub fn signing_key(&self, serial: &str) -> ed25519_dalek::SigningKey {
        let mut mac =
            <Hmac<Sha256> as Mac>::new_from_slice(&self.key).expect("HMAC takes keys of any size");
        mac.update(b"onshi-card-key:");
        mac.update(serial.as_bytes());
        let seed = Zeroizing::new(<[u8; 32]>::from(mac.finalize().into_bytes()));
        ed25519_dalek::SigningKey::from_bytes(&seed)
    }

    /// The chip's signature (hex) over the central's `challenge` under the card's
    /// certificate key: what the chip gives once it has accepted the PIN.
    pub fn chip_signature(&self, serial: &str, challenge: &[u8]) -> String {
        use ed25519_dalek::Signer;
        hex::encode(self.signing_key(serial).sign(challenge).to_bytes())
    }

    /// The certificate's public key (hex), as registered at the central.
    pub fn public_key_hex(&self, serial: &str) -> String {
        hex::encode(self.signing_key(serial).verifying_key().as_bytes())
    }

    /// The certificate's public key (its 32 bytes; [`PinHasher::public_key_hex`] in hex).
    pub fn public_key(&self, serial: &str) -> [u8; 32] {
        self.signing_key(serial).verifying_key().to_bytes()
    }

    /// The chip a newly issued card gets, as [`PinHasher::issue`] makes it, in the compact
    /// form a bulk issue holds ([`chips::NewChip`]); `None` where that form cannot hold it.
    pub fn new_chip(
        &self,
        serial: &str,
        pin: Option<&Pin>,
        locked: bool,
    ) -> Option<chips::NewChip> {
        chips::NewChip::new(
            serial,
            pin.map(|p| self.hash_bytes(serial, p)),
            if locked { LOCK_AFTER } else { 0 },
            locked,
        )
    }

    /// The chip row a newly issued card gets.
    pub fn issue(&self, serial: &str, pin: Option<&Pin>, locked: bool) -> ChipRow {
        ChipRow {
            serial: serial.to_string(),
            pin_hash: pin.map(|p| self.hash(serial, p)),
            failures: if locked { LOCK_AFTER } else { 0 },
            locked,
            photo_ref: Some(format!("photo:{serial}")),
        }
    }
}

/// What the patient / staff do at the reader for identity.
#[derive(Debug, Clone)]
pub enum IdentityAttempt {
    /// Face authentication in the certified reader; `matched` is what the emulated camera
    /// decided (the operator chooses, or a failure rate in load tests).
    Face {
        matched: bool,
    },
    Pin(Pin),
    /// 目視確認 mode (R3): staff compared the photo and ticked 目視で本人確認完了.
    Visual {
        staff_id: String,
    },
}

/// The emulated face-auth card reader, bound to the chip store.
pub struct Reader<'a> {
    chips: &'a dyn ChipStore,
    hasher: &'a PinHasher,
}

impl<'a> Reader<'a> {
    pub fn new(chips: &'a dyn ChipStore, hasher: &'a PinHasher) -> Self {
        Reader { chips, hasher }
    }

    /// Whether the card has a PIN set (`None` if unknown): the reader offers no PIN option
    /// for a PIN-less card (R2).
    pub fn has_pin(&self, serial: &str) -> Result<Option<bool>, CardError> {
        Ok(self.chips.chip(serial)?.map(|c| c.pin_hash.is_some()))
    }

    /// As [`Reader::identify`]; when the PIN is right the chip also signs `challenge` with
    /// its certificate's key (hex signature). Face and 目視確認 get no card signature: the
    /// reader vouches for them.
    pub fn identify_signed(
        &self,
        serial: &str,
        attempt: &IdentityAttempt,
        challenge: &[u8],
    ) -> Result<(IdentityOutcome, Option<String>), CardError> {
        let out = self.identify(serial, attempt)?;
        let sig = match (&out, attempt) {
            (
                IdentityOutcome::Verified {
                    method: IdentityMethod::Pin,
                    ..
                },
                IdentityAttempt::Pin(_),
            ) => Some(self.hasher.chip_signature(serial, challenge)),
            _ => None,
        };
        Ok((out, sig))
    }

    /// Performs the identity step on the card `serial`.
    pub fn identify(
        &self,
        serial: &str,
        attempt: &IdentityAttempt,
    ) -> Result<IdentityOutcome, CardError> {
        if self.chips.chip(serial)?.is_none() {
            return Err(CardError::UnknownCard(serial.to_string()));
        }
        let refused = |failure| IdentityOutcome::Refused { failure };
        Ok(match attempt {
            IdentityAttempt::Face { matched: true } => IdentityOutcome::Verified {
                method: IdentityMethod::Face,
                staff_id: None,
            },
            IdentityAttempt::Face { matched: false } => refused(IdentityFailure::FaceMismatch),
            IdentityAttempt::Visual { staff_id } if staff_id.trim().is_empty() => {
                refused(IdentityFailure::StaffMissing)
            }
            IdentityAttempt::Visual { staff_id } => IdentityOutcome::Verified {
                method: IdentityMethod::Visual,
                staff_id: Some(staff_id.trim().to_string()),
            },
            IdentityAttempt::Pin(pin) => {
                // Checked and counted in one transaction of the chip (the lock at 3 holds under
                // any concurrency).
                let candidate = self.hasher.hash(serial, pin);
                match self.chips.try_pin(serial, &candidate, LOCK_AFTER)? {
                    None => return Err(CardError::UnknownCard(serial.to_string())),
                    Some(PinTry::NotSet) => refused(IdentityFailure::PinNotSet),
                    Some(PinTry::Locked) | Some(PinTry::Rejected { locked: true, .. }) => {
                        refused(IdentityFailure::PinLocked)
                    }
                    Some(PinTry::Rejected { failures, .. }) => refused(IdentityFailure::PinWrong {
                        remaining: LOCK_AFTER.saturating_sub(failures),
                    }),
                    Some(PinTry::Accepted) => IdentityOutcome::Verified {
                        method: IdentityMethod::Pin,
                        staff_id: None,
                    },
                }
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn setup(pin: Option<&str>) -> (tempfile::TempDir, CardStore, PinHasher) {
        let dir = tempfile::tempdir().unwrap();
        let hasher = PinHasher::new(b"0123456789abcdef0123").unwrap();
        let store = CardStore::open(dir.path().join("cards.sqlite"), hasher.clone()).unwrap();
        let pin = pin.map(|p| Pin::parse(p).unwrap());
        let mut tx = store.begin_issue().unwrap();
        tx.issue("C1", pin.as_ref(), false).unwrap();
        tx.commit().unwrap();
        (dir, store, hasher)
    }

    #[test]
    fn r1_pin_verifies_and_resets_the_counter() {
        let (_d, store, h) = setup(Some("1234"));
        let r = Reader::new(&store, &h);
        let wrong = IdentityAttempt::Pin(Pin::parse("0000").unwrap());
        let right = IdentityAttempt::Pin(Pin::parse("1234").unwrap());
        assert_eq!(
            r.identify("C1", &wrong).unwrap(),
            IdentityOutcome::Refused {
                failure: IdentityFailure::PinWrong { remaining: 2 }
            }
        );
        assert!(matches!(
            r.identify("C1", &right).unwrap(),
            IdentityOutcome::Verified {
                method: IdentityMethod::Pin,
                ..
            }
        ));
        assert_eq!(store.chip("C1").unwrap().unwrap().failures, 0);
    }

    #[test]
    fn third_wrong_pin_locks_and_then_even_the_right_pin_is_refused() {
        let (_d, store, h) = setup(Some("1234"));
        let r = Reader::new(&store, &h);
        let wrong = IdentityAttempt::Pin(Pin::parse("9999").unwrap());
        r.identify("C1", &wrong).unwrap();
        r.identify("C1", &wrong).unwrap();
        assert_eq!(
            r.identify("C1", &wrong).unwrap(),
            IdentityOutcome::Refused {
                failure: IdentityFailure::PinLocked
            }
        );
        let right = IdentityAttempt::Pin(Pin::parse("1234").unwrap());
        assert_eq!(
            r.identify("C1", &right).unwrap(),
            IdentityOutcome::Refused {
                failure: IdentityFailure::PinLocked
            }
        );
        // face authentication still works on a PIN-locked card
        assert!(matches!(
            r.identify("C1", &IdentityAttempt::Face { matched: true })
                .unwrap(),
            IdentityOutcome::Verified { .. }
        ));
    }

    #[test]
    fn r2_pin_less_card_refuses_pin_but_takes_face_and_visual() {
        let (_d, store, h) = setup(None);
        let r = Reader::new(&store, &h);
        assert_eq!(r.has_pin("C1").unwrap(), Some(false));
        assert_eq!(
            r.identify("C1", &IdentityAttempt::Pin(Pin::parse("1234").unwrap()))
                .unwrap(),
            IdentityOutcome::Refused {
                failure: IdentityFailure::PinNotSet
            }
        );
        assert!(matches!(
            r.identify("C1", &IdentityAttempt::Face { matched: true })
                .unwrap(),
            IdentityOutcome::Verified { .. }
        ));
    }

    #[test]
    fn r3_visual_records_the_staff_member_and_requires_one() {
        let (_d, store, h) = setup(None);
        let r = Reader::new(&store, &h);
        assert_eq!(
            r.identify(
                "C1",
                &IdentityAttempt::Visual {
                    staff_id: " ".into()
                }
            )
            .unwrap(),
            IdentityOutcome::Refused {
                failure: IdentityFailure::StaffMissing
            }
        );
        assert_eq!(
            r.identify(
                "C1",
                &IdentityAttempt::Visual {
                    staff_id: "S042".into()
                }
            )
            .unwrap(),
            IdentityOutcome::Verified {
                method: IdentityMethod::Visual,
                staff_id: Some("S042".into())
            }
        );
    }

    #[test]
    fn r15_face_mismatch_is_reported_for_the_visual_fallback() {
        let (_d, store, h) = setup(Some("1234"));
        let r = Reader::new(&store, &h);
        assert_eq!(
            r.identify("C1", &IdentityAttempt::Face { matched: false })
                .unwrap(),
            IdentityOutcome::Refused {
                failure: IdentityFailure::FaceMismatch
            }
        );
    }

    #[test]
    fn pin_is_hashed_per_card_and_never_stored_clear() {
        let h = PinHasher::new(b"0123456789abcdef0123").unwrap();
        let p = Pin::parse("1234").unwrap();
        assert_ne!(h.hash("C1", &p), h.hash("C2", &p));
        assert!(!h.hash("C1", &p).contains("1234"));
        assert_eq!(format!("{p:?}"), "Pin(****)");
        for bad in ["123", "12345", "12a4", "１２３４"] {
            assert!(Pin::parse(bad).is_err());
        }
    }
}
