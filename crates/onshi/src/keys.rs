//! The deployment's secret keys (My Number hash, PIN hash), generated on first run and kept
//! in a file readable only by its owner. Losing the file makes the stored hashes unmatchable,
//! so it sits beside the database it belongs to.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use onshi_card::PinHasher;
use onshi_domain::numbers::MyNumberHasher;
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize)]
struct KeyFile {
    my_number_key: String,
    pin_key: String,
}

pub struct Keys {
    pub my_number: MyNumberHasher,
    pub pins: PinHasher,
}

/// Default key file for a database: `<db>.keys.json`.
pub fn default_path(db: &Path) -> PathBuf {
    let mut p = db.as_os_str().to_owned();
    p.push(".keys.json");
    PathBuf::from(p)
}

fn random_hex() -> Result<String> {
    let mut b = [0u8; 32];
    getrandom::fill(&mut b).map_err(|e| anyhow::anyhow!("no system randomness: {e}"))?;
    Ok(hex::encode(b))
}

/// Loads the key file, creating it with fresh random keys if it does not exist.
pub fn load_or_create(path: &Path) -> Result<Keys> {
    if !path.exists() {
        let kf = KeyFile {
            my_number_key: random_hex()?,
            pin_key: random_hex()?,
        };
        if let Some(dir) = path.parent()
            && !dir.as_os_str().is_empty()
        {
            std::fs::create_dir_all(dir)?;
        }
        let tmp = path.with_extension("tmp");
        std::fs::write(&tmp, serde_json::to_vec_pretty(&kf)?)
            .with_context(|| format!("writing key file {}", tmp.display()))?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o600))?;
        }
        std::fs::rename(&tmp, path)?;
        tracing::info!(path = %path.display(), "generated new secret keys");
    }
    let raw =
        std::fs::read(path).with_context(|| format!("reading key file {}", path.display()))?;
    let kf: KeyFile = serde_json::from_slice(&raw)
        .with_context(|| format!("key file {} is not valid", path.display()))?;
    let mk = hex::decode(&kf.my_number_key).context("my_number_key is not hex")?;
    let pk = hex::decode(&kf.pin_key).context("pin_key is not hex")?;
    if mk.len() < 16 || pk.len() < 16 {
        bail!(
            "key file {}: keys must be at least 16 bytes",
            path.display()
        );
    }
    Ok(Keys {
        my_number: MyNumberHasher::new(&mk).map_err(|e| anyhow::anyhow!("{e}"))?,
        pins: PinHasher::new(&pk).map_err(|e| anyhow::anyhow!("{e}"))?,
    })
}
