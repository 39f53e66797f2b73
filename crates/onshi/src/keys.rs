//! The central's secret key (the My Number hash), generated on first run and kept
//! in a file readable only by its owner. Losing the file makes the stored hashes unmatchable,
//! so it sits beside the database it belongs to, and a database that already holds keyed
//! data refuses to start without it (see docs/security.md).
//!
//! The file is created atomically: written under a temporary name opened with mode 0600 from
//! the start (never readable by others, not even briefly), fsynced, renamed into place and the
//! folder fsynced, so a crash leaves either no key file or a complete one.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use onshi_domain::numbers::MyNumberHasher;
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

#[derive(Serialize, Deserialize)]
/// (Older key files also held a `pin_key`: the chips' secret now lives with the card
/// emulation, `<cards>.keys.json`, and the field is ignored.)
struct KeyFile {
    my_number_key: Zeroizing<String>,
}

/// The keys, in types that do not print them and wipe them when dropped.
pub struct Keys {
    pub my_number: MyNumberHasher,
}

/// The card emulation's file for a database: `<db stem>.cards.sqlite` beside it.
pub fn cards_path(db: &Path) -> PathBuf {
    db.with_extension("cards.sqlite")
}

/// Default key file for a database: `<db>.keys.json`.
pub fn default_path(db: &Path) -> PathBuf {
    let mut p = db.as_os_str().to_owned();
    p.push(".keys.json");
    PathBuf::from(p)
}

fn random_hex() -> Result<Zeroizing<String>> {
    let mut b = Zeroizing::new([0u8; 32]);
    getrandom::fill(b.as_mut()).map_err(|e| anyhow::anyhow!("no system randomness: {e}"))?;
    Ok(Zeroizing::new(hex::encode(b.as_ref())))
}

/// Whether `db` holds data made with the key: persons (keyed My Number hashes). A missing or
/// empty file holds none.
pub fn holds_keyed_data(db: &Path) -> Result<bool> {
    if !db.exists() {
        return Ok(false);
    }
    let c = rusqlite::Connection::open_with_flags(db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
        .with_context(|| format!("opening {}", db.display()))?;
    let exists: bool = c.query_row(
        "SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'person')",
        [],
        |r| r.get(0),
    )?;
    if exists {
        let any: bool = c.query_row("SELECT EXISTS (SELECT 1 FROM person)", [], |r| r.get(0))?;
        return Ok(any);
    }
    Ok(false)
}

/// Loads the key file of database `db`, creating it with fresh random keys if it does not
/// exist — unless `db` already holds keyed data: then new keys would silently make every
/// stored hash unmatchable, so it refuses with what to restore.
pub fn load_or_create(path: &Path, db: &Path) -> Result<Keys> {
    if !path.exists() {
        if holds_keyed_data(db)? {
            bail!(
                "the key file {} is missing, but the database {} already holds data hashed with \
                 its keys. Restore the key file from your backup (it was made beside the \
                 database on first run); onshi will not make new keys, which would make every \
                 stored My Number and PIN hash unmatchable.",
                path.display(),
                db.display()
            );
        }
        create(path)?;
    }
    load(path)
}

fn create(path: &Path) -> Result<()> {
    let kf = KeyFile {
        my_number_key: random_hex()?,
    };
    let body = Zeroizing::new(serde_json::to_vec_pretty(&kf)?);
    create_private(path, &body)?;
    tracing::info!(path = %path.display(), "generated new secret keys");
    Ok(())
}

/// Writes a new key file `path` holding `body`, readable by its owner only, atomically (see the
/// module's doc); a key file that appeared meanwhile is kept, never replaced.
fn create_private(path: &Path, body: &[u8]) -> Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    std::fs::create_dir_all(&dir)?;
    let mut tmp_name = path.as_os_str().to_owned();
    tmp_name.push(format!(".tmp{}", std::process::id()));
    let tmp = PathBuf::from(tmp_name);
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let written = (|| -> Result<()> {
        let mut f = opts
            .open(&tmp)
            .with_context(|| format!("creating key file {}", tmp.display()))?;
        f.write_all(body)?;
        f.sync_all()?;
        Ok(())
    })();
    if let Err(e) = written {
        let _ = std::fs::remove_file(&tmp);
        return Err(e);
    }
    // Never replace a key file that appeared meanwhile (another process made it first).
    #[cfg(unix)]
    {
        match std::fs::hard_link(&tmp, path) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(e) => {
                let _ = std::fs::remove_file(&tmp);
                return Err(e).with_context(|| format!("placing key file {}", path.display()));
            }
        }
        std::fs::remove_file(&tmp)?;
    }
    #[cfg(not(unix))]
    std::fs::rename(&tmp, path)?;
    std::fs::File::open(&dir)
        .and_then(|d| d.sync_all())
        .with_context(|| format!("syncing folder {}", dir.display()))?;
    Ok(())
}

/// The payer's signing key file for its database: `<db>.signing-key.json`.
pub fn payer_key_path(db: &Path) -> PathBuf {
    let mut p = db.as_os_str().to_owned();
    p.push(".signing-key.json");
    PathBuf::from(p)
}

#[derive(Serialize, Deserialize)]
struct PayerKeyFile {
    /// the ed25519 secret key (seed), 64 hex digits
    secret_key: Zeroizing<String>,
}

/// The payer's signing key (its statements to facilities' settlement hooks, R27), from its key
/// file `path` (beside an SQLite database: [`payer_key_path`]); made with a fresh key on first
/// start (mode 0600, as the central's keys). A lost file means a new key, which every facility
/// must register again.
pub fn payer_key(path: &Path) -> Result<onshi_payer::signing::PayerKey> {
    let path = path.to_path_buf();
    if !path.exists() {
        let key = onshi_payer::signing::PayerKey::generate().map_err(anyhow::Error::msg)?;
        let body = Zeroizing::new(serde_json::to_vec_pretty(&PayerKeyFile {
            secret_key: key.secret_hex(),
        })?);
        create_private(&path, &body)?;
        tracing::info!(path = %path.display(), "generated the payer's signing key");
    }
    let raw = Zeroizing::new(
        std::fs::read(&path).with_context(|| format!("reading key file {}", path.display()))?,
    );
    let kf: PayerKeyFile = serde_json::from_slice(&raw)
        .with_context(|| format!("key file {} is not valid", path.display()))?;
    onshi_payer::signing::PayerKey::from_secret_hex(&kf.secret_key)
        .map_err(|e| anyhow::anyhow!("key file {}: {e}", path.display()))
}

fn load(path: &Path) -> Result<Keys> {
    let raw = Zeroizing::new(
        std::fs::read(path).with_context(|| format!("reading key file {}", path.display()))?,
    );
    let kf: KeyFile = serde_json::from_slice(&raw)
        .with_context(|| format!("key file {} is not valid", path.display()))?;
    let mk =
        Zeroizing::new(hex::decode(kf.my_number_key.as_str()).context("my_number_key is not hex")?);
    if mk.len() < 16 {
        bail!(
            "key file {}: keys must be at least 16 bytes",
            path.display()
        );
    }
    Ok(Keys {
        my_number: MyNumberHasher::new(&mk).map_err(|e| anyhow::anyhow!("{e}"))?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_file_is_created_owner_only_and_reloads_the_same_keys() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("c.sqlite");
        let path = default_path(&db);
        load_or_create(&path, &db).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let first = std::fs::read(&path).unwrap();
        load_or_create(&path, &db).unwrap();
        assert_eq!(
            std::fs::read(&path).unwrap(),
            first,
            "kept, not regenerated"
        );
        let left: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(left.len(), 1, "no temporary file left: {left:?}");
    }

    #[test]
    fn a_database_with_data_and_no_key_file_refuses_with_what_to_restore() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("c.sqlite");
        let c = rusqlite::Connection::open(&db).unwrap();
        c.execute_batch("CREATE TABLE person (id INTEGER); INSERT INTO person VALUES (1);")
            .unwrap();
        drop(c);
        let path = default_path(&db);
        let err = load_or_create(&path, &db).err().unwrap().to_string();
        assert!(err.contains("Restore the key file"), "{err}");
        assert!(err.contains(&path.display().to_string()), "{err}");
        assert!(!path.exists(), "no new keys made");
    }

    #[test]
    fn the_payers_signing_key_is_made_once_owner_only_and_does_not_print() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("payer.sqlite");
        let path = payer_key_path(&db);
        let k = payer_key(&path).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        assert_eq!(
            payer_key(&path).unwrap().public_key_hex(),
            k.public_key_hex(),
            "kept, not regenerated"
        );
        let raw: serde_json::Value =
            serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        let secret = raw["secret_key"].as_str().unwrap();
        assert!(!format!("{k:?}").contains(&secret[..16]));
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn keys_do_not_print() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("c.sqlite");
        let path = default_path(&db);
        let k = load_or_create(&path, &db).unwrap();
        let raw: serde_json::Value =
            serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        let key = raw["my_number_key"].as_str().unwrap();
        let shown = format!("{:?}", k.my_number);
        assert!(!shown.contains(&key[..16]), "{shown}");
    }
}
