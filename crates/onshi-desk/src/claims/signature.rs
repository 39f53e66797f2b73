//! The payer's signature on a settlement statement. A statement purges 申立書 (R27), so the
//! settlement hook (`POST /desk/api/claims/settlement`) takes one only from a payer whose
//! public key the facility registered (its claim settings, `payer_keys`): the payer signs the
//! exact bytes of the body with its ed25519 key and sends
//! `X-Onshi-Payer-Signature: <payer code>:<128 hex digits>`
//! ([`onshi_domain::claims::SETTLEMENT_SIGNATURE_HEADER`], docs/formats/settlement.md).

use ed25519_dalek::{Signature, VerifyingKey};
use serde::{Deserialize, Serialize};

/// A payer's public key the facility takes statements from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PayerPublicKey {
    /// 1 支払基金, 2 国保連: the statements of that payer.
    #[schema(pattern = "^[12]$", example = "1")]
    pub payer: String,
    /// The payer's ed25519 public key, 64 hex digits (`onshi payer key --db …` prints it).
    #[schema(pattern = "^[0-9a-fA-F]{64}$")]
    pub public_key: String,
}

impl PayerPublicKey {
    /// The key, or what is wrong with it (naming `field`).
    pub fn key(&self, field: &str) -> Result<VerifyingKey, String> {
        if !matches!(self.payer.as_str(), "1" | "2") {
            return Err(format!(
                "{field}.payer: must be 1 (支払基金) or 2 (国保連), got {:?}",
                self.payer
            ));
        }
        let bytes: [u8; 32] = hex::decode(self.public_key.trim())
            .ok()
            .and_then(|b| b.try_into().ok())
            .ok_or_else(|| {
                format!("{field}.public_key: must be an ed25519 public key as 64 hex digits")
            })?;
        VerifyingKey::from_bytes(&bytes)
            .map_err(|_| format!("{field}.public_key: not a valid ed25519 public key"))
    }
}

/// Why a statement's signature is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    /// No signature header (401).
    #[error(
        "X-Onshi-Payer-Signature: required, `<payer>:<hex ed25519 signature over the body>` by a payer whose public key this facility registered"
    )]
    Missing,
    /// Not `<payer>:<128 hex digits>` (401).
    #[error("X-Onshi-Payer-Signature: {0}")]
    Malformed(String),
    /// This facility registered no key of that payer (403).
    #[error(
        "X-Onshi-Payer-Signature: no public key of payer {0} is registered at this facility (claim settings, payer_keys)"
    )]
    UnknownPayer(String),
    /// No registered key of that payer made this signature over these bytes (403).
    #[error(
        "X-Onshi-Payer-Signature: the signature is not one of payer {0}'s registered keys over this body"
    )]
    Invalid(String),
}

impl SignatureError {
    /// 401 for a missing or malformed header, 403 for a signature refused.
    pub fn status(&self) -> axum::http::StatusCode {
        match self {
            SignatureError::Missing | SignatureError::Malformed(_) => {
                axum::http::StatusCode::UNAUTHORIZED
            }
            _ => axum::http::StatusCode::FORBIDDEN,
        }
    }

    /// The class of the JSON error: `auth` (401) or `signature` (403).
    pub fn class(&self) -> &'static str {
        match self {
            SignatureError::Missing | SignatureError::Malformed(_) => "auth",
            _ => "signature",
        }
    }
}

/// Checks the signature header `header` over `body` against the payers' keys `keys`; gives
/// the payer that signed (`1` or `2`).
pub fn verify(
    keys: &[PayerPublicKey],
    header: Option<&[u8]>,
    body: &[u8],
) -> Result<String, SignatureError> {
    let header = header.ok_or(SignatureError::Missing)?;
    let text = std::str::from_utf8(header)
        .map_err(|_| SignatureError::Malformed("not ASCII text".into()))?;
    let (payer, sig) = text.trim().split_once(':').ok_or_else(|| {
        SignatureError::Malformed("must be `<payer>:<hex signature>`, no `:` found".into())
    })?;
    if !matches!(payer, "1" | "2") {
        return Err(SignatureError::Malformed(format!(
            "the payer must be 1 (支払基金) or 2 (国保連), got {payer:?}"
        )));
    }
    let sig: [u8; 64] = hex::decode(sig)
        .ok()
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| {
            SignatureError::Malformed(
                "the signature must be 128 hex digits (an ed25519 signature)".into(),
            )
        })?;
    let sig = Signature::from_bytes(&sig);
    let mut any = false;
    for (i, k) in keys.iter().enumerate() {
        if k.payer != payer {
            continue;
        }
        any = true;
        let Ok(key) = k.key(&format!("payer_keys[{i}]")) else {
            continue;
        };
        if key.verify_strict(body, &sig).is_ok() {
            return Ok(payer.to_string());
        }
    }
    if any {
        Err(SignatureError::Invalid(payer.to_string()))
    } else {
        Err(SignatureError::UnknownPayer(payer.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ed25519_dalek::{Signer, SigningKey};

    fn key(seed: u8) -> (SigningKey, PayerPublicKey) {
        let k = SigningKey::from_bytes(&[seed; 32]);
        let p = PayerPublicKey {
            payer: "1".into(),
            public_key: hex::encode(k.verifying_key().as_bytes()),
        };
        (k, p)
    }

    fn header(payer: &str, k: &SigningKey, body: &[u8]) -> Vec<u8> {
        format!("{payer}:{}", hex::encode(k.sign(body).to_bytes())).into_bytes()
    }

    #[test]
    fn a_registered_payers_signature_over_the_body_is_taken_and_nothing_else() {
        let (k, p) = key(7);
        let (other, _) = key(8);
        let body = br#"{"format":"onshi-settlement/1"}"#;
        let keys = [p];
        assert_eq!(
            verify(&keys, Some(&header("1", &k, body)), body),
            Ok("1".into())
        );
        assert_eq!(verify(&keys, None, body), Err(SignatureError::Missing));
        assert!(matches!(
            verify(&keys, Some(b"1:zz"), body),
            Err(SignatureError::Malformed(_))
        ));
        assert!(matches!(
            verify(&keys, Some(b"no colon"), body),
            Err(SignatureError::Malformed(_))
        ));
        // another key, other bytes, another payer
        assert_eq!(
            verify(&keys, Some(&header("1", &other, body)), body),
            Err(SignatureError::Invalid("1".into()))
        );
        assert_eq!(
            verify(&keys, Some(&header("1", &k, body)), b"{}"),
            Err(SignatureError::Invalid("1".into()))
        );
        assert_eq!(
            verify(&keys, Some(&header("2", &k, body)), body),
            Err(SignatureError::UnknownPayer("2".into()))
        );
    }

    #[test]
    fn a_registered_key_must_be_a_payer_and_an_ed25519_key() {
        let (_, p) = key(7);
        assert!(p.key("payer_keys[0]").is_ok());
        let bad = PayerPublicKey {
            payer: "3".into(),
            ..p.clone()
        };
        assert!(
            bad.key("payer_keys[0]")
                .unwrap_err()
                .contains("payer_keys[0].payer")
        );
        let bad = PayerPublicKey {
            public_key: "abcd".into(),
            ..p
        };
        assert!(
            bad.key("payer_keys[0]")
                .unwrap_err()
                .contains("payer_keys[0].public_key")
        );
    }
}
