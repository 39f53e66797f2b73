//! The payer's signature on the statements it POSTs to facilities' settlement hooks: a
//! statement makes the facility purge 申立書 (R27), so the facility takes only one signed by a
//! payer whose public key it registered. The payer signs the exact bytes of the body with its
//! ed25519 key and sends `X-Onshi-Payer-Signature: <payer code>:<128 hex digits>`
//! ([`onshi_domain::claims::SETTLEMENT_SIGNATURE_HEADER`], docs/formats/settlement.md).
//!
//! The key lives in a file beside the payer's database, made at first start with mode 0600
//! (`onshi payer`, the project's key files); `onshi payer key --db …` prints the public key.

use std::sync::Arc;

use ed25519_dalek::{Signer, SigningKey};
use zeroize::Zeroizing;

/// The payer's signing key; neither `Debug` nor anything else shows its secret.
pub struct PayerKey(SigningKey);

impl std::fmt::Debug for PayerKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "PayerKey(public {})", self.public_key_hex())
    }
}

impl PayerKey {
    /// A fresh random key.
    pub fn generate() -> Result<Self, String> {
        let mut seed = Zeroizing::new([0u8; 32]);
        getrandom::fill(seed.as_mut()).map_err(|e| format!("no system randomness: {e}"))?;
        Ok(PayerKey(SigningKey::from_bytes(&seed)))
    }

    /// The key of a secret written by [`PayerKey::secret_hex`] (64 hex digits).
    pub fn from_secret_hex(secret: &str) -> Result<Self, String> {
        let bytes = Zeroizing::new(
            hex::decode(secret.trim()).map_err(|_| "secret_key: not hex".to_string())?,
        );
        let seed: &[u8; 32] = bytes
            .as_slice()
            .try_into()
            .map_err(|_| "secret_key: must be 32 bytes (64 hex digits)".to_string())?;
        Ok(PayerKey(SigningKey::from_bytes(seed)))
    }

    /// The secret, to write to the key file.
    pub fn secret_hex(&self) -> Zeroizing<String> {
        Zeroizing::new(hex::encode(self.0.to_bytes()))
    }

    /// The public key a facility registers (64 hex digits).
    pub fn public_key_hex(&self) -> String {
        hex::encode(self.0.verifying_key().as_bytes())
    }

    /// The value of the signature header for `body` sent as `payer`'s (`1` or `2`).
    pub fn signature_header(&self, payer: &str, body: &[u8]) -> String {
        format!("{payer}:{}", hex::encode(self.0.sign(body).to_bytes()))
    }
}

/// What facilities' settlement hooks are called with: the HTTP client and the key statements
/// are signed with. Without a key they go unsigned, and a facility's desk refuses them.
#[derive(Clone, Debug, Default)]
pub struct Hooks {
    pub client: reqwest::Client,
    pub key: Option<Arc<PayerKey>>,
}

impl Hooks {
    pub fn new(client: reqwest::Client, key: PayerKey) -> Self {
        Hooks {
            client,
            key: Some(Arc::new(key)),
        }
    }
}
