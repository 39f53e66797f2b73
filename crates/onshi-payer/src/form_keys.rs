//! The keys that seal a file's 申立書 details on a database server (R27).
//!
//! A claim's 摘要 comments and its worklist facts carry what the insured-status declaration
//! form said (name, address, the insurer as remembered). R27: they serve the claim and its
//! payment only and are deleted promptly once it is paid. SQLite can delete them in place
//! (`secure_delete` and a truncated WAL). PostgreSQL cannot: an `UPDATE` leaves the old row
//! version in the table's pages until a vacuum, its bytes until the space is reused, and the
//! WAL, the standbys and the backups keep what was written.
//!
//! So on PostgreSQL those details never reach the database in clear. Each accepted file that
//! has any gets a key of its own: 32 random bytes in a file of this folder, named by a random
//! id that the file's `submission` row records (`form_key`). The details are sealed under it
//! (ChaCha20-Poly1305, ring; a random nonce per value; the claim's payer and id as associated
//! data, so a sealed value cannot be moved to another claim). Once the month is settled, the
//! details are written over with what is left of them and the key file is deleted: every
//! copy that PostgreSQL or its backups kept is then unreadable. (The bytes of the deleted key
//! file are the file system's; what it does with freed blocks is the same question for the
//! SQLite file.)
//!
//! The folder is the payer's, beside its signing key: every process that opens the payer's
//! database (`serve`, `submit`, `settle`) needs the same folder. A key is written durably
//! before the transaction that uses it commits; a key whose transaction did not commit is an
//! orphan that seals nothing stored.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use ring::aead::{Aad, CHACHA20_POLY1305, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use ring::rand::{SecureRandom, SystemRandom};
use zeroize::Zeroizing;

use crate::store::{PayerStoreError, Result};

/// Bytes of a key.
const KEY_LEN: usize = 32;
/// Extension of a key file.
const EXT: &str = "form-key";

/// A folder of form keys (see the module's text).
pub struct FormKeys {
    dir: PathBuf,
    rng: SystemRandom,
    /// keys read or made by this process, by id
    cache: Mutex<HashMap<String, Arc<LessSafeKey>>>,
}

fn key_err(what: impl std::fmt::Display) -> PayerStoreError {
    PayerStoreError::Keys(what.to_string())
}

/// A key id is 32 lowercase hex digits (so it never names a path outside the folder).
fn valid_id(id: &str) -> bool {
    id.len() == 32 && id.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

impl FormKeys {
    /// Opens the folder `dir`, making it (owner only) if it is not there. An existing folder
    /// that others may read or enter is refused, not changed: it may be shared (the keys need
    /// a folder of their own).
    pub fn open(dir: &Path) -> Result<Self> {
        let err = |e: &dyn std::fmt::Display| {
            key_err(format!("the form-key folder {}: {e}", dir.display()))
        };
        match std::fs::metadata(dir) {
            Ok(m) if !m.is_dir() => return Err(err(&"not a folder")),
            Ok(m) => {
                #[cfg(unix)]
                {
                    use std::os::unix::fs::PermissionsExt;
                    let mode = m.permissions().mode() & 0o777;
                    if mode & 0o077 != 0 {
                        return Err(err(&format!(
                            "others may use it (mode {mode:o}); the keys that seal the 申立書 \
                             details need a folder of their own: `chmod 700` it, or name a new \
                             folder (made owner only)"
                        )));
                    }
                }
                #[cfg(not(unix))]
                let _ = m;
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let mut b = std::fs::DirBuilder::new();
                b.recursive(true);
                #[cfg(unix)]
                {
                    use std::os::unix::fs::DirBuilderExt;
                    b.mode(0o700);
                }
                b.create(dir).map_err(|e| err(&e))?;
            }
            Err(e) => return Err(err(&e)),
        }
        Ok(FormKeys {
            dir: dir.to_path_buf(),
            rng: SystemRandom::new(),
            cache: Mutex::new(HashMap::new()),
        })
    }

    fn path(&self, id: &str) -> PathBuf {
        self.dir.join(format!("{id}.{EXT}"))
    }

    fn cache(&self) -> std::sync::MutexGuard<'_, HashMap<String, Arc<LessSafeKey>>> {
        self.cache.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn random<const N: usize>(&self) -> Result<Zeroizing<[u8; N]>> {
        let mut b = Zeroizing::new([0u8; N]);
        self.rng
            .fill(b.as_mut())
            .map_err(|_| key_err("no system randomness"))?;
        Ok(b)
    }

    /// Makes a new key, written durably (owner only) before it is returned with its id.
    pub fn create(&self) -> Result<(String, Arc<LessSafeKey>)> {
        let id = hex::encode(*self.random::<16>()?);
        let bytes = self.random::<KEY_LEN>()?;
        let hexed = Zeroizing::new(hex::encode(bytes.as_ref()));
        onshi_card::assertion::write_private(&self.path(&id), hexed.as_bytes())
            .map_err(|e| key_err(format!("writing a form key in {}: {e}", self.dir.display())))?;
        let key = Arc::new(LessSafeKey::new(
            UnboundKey::new(&CHACHA20_POLY1305, bytes.as_ref()).map_err(|_| key_err("key"))?,
        ));
        self.cache().insert(id.clone(), key.clone());
        Ok((id, key))
    }

    /// The key `id`, from this process's memory or its file.
    pub fn key(&self, id: &str) -> Result<Arc<LessSafeKey>> {
        if let Some(k) = self.cache().get(id) {
            return Ok(k.clone());
        }
        if !valid_id(id) {
            return Err(PayerStoreError::Corrupt(format!(
                "submission.form_key: {id:?} is not a key id"
            )));
        }
        let text = match std::fs::read(self.path(id)) {
            Ok(t) => Zeroizing::new(t),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(key_err(format!(
                    "the form key {id} is not in {} (its details were deleted when the month \
                     was settled, R27, or the folder is not this database's)",
                    self.dir.display()
                )));
            }
            Err(e) => return Err(key_err(format!("reading the form key {id}: {e}"))),
        };
        let mut bytes = Zeroizing::new([0u8; KEY_LEN]);
        hex::decode_to_slice(text.trim_ascii(), bytes.as_mut())
            .map_err(|e| key_err(format!("the form key {id} is damaged: {e}")))?;
        let key = Arc::new(LessSafeKey::new(
            UnboundKey::new(&CHACHA20_POLY1305, bytes.as_ref()).map_err(|_| key_err("key"))?,
        ));
        self.cache().insert(id.to_string(), key.clone());
        Ok(key)
    }

    /// `plain` sealed under `key`: the nonce, then the ciphertext and its tag.
    pub fn seal(&self, key: &LessSafeKey, aad: &[u8], plain: &[u8]) -> Result<Vec<u8>> {
        let nonce = *self.random::<NONCE_LEN>()?;
        let mut out = Vec::with_capacity(NONCE_LEN + plain.len() + CHACHA20_POLY1305.tag_len());
        out.extend_from_slice(&nonce);
        let mut body = plain.to_vec();
        key.seal_in_place_append_tag(
            Nonce::assume_unique_for_key(nonce),
            Aad::from(aad),
            &mut body,
        )
        .map_err(|_| key_err("sealing failed"))?;
        out.extend_from_slice(&body);
        Ok(out)
    }

    /// What [`FormKeys::seal`] sealed under the key `id` with the same associated data.
    pub fn open_sealed(&self, id: &str, aad: &[u8], sealed: &[u8]) -> Result<Zeroizing<Vec<u8>>> {
        let key = self.key(id)?;
        if sealed.len() < NONCE_LEN + CHACHA20_POLY1305.tag_len() {
            return Err(PayerStoreError::Corrupt(format!(
                "a value sealed under the form key {id} is too short"
            )));
        }
        let (nonce, body) = sealed.split_at(NONCE_LEN);
        let mut nb = [0u8; NONCE_LEN];
        nb.copy_from_slice(nonce);
        let mut body = Zeroizing::new(body.to_vec());
        let n = key
            .open_in_place(Nonce::assume_unique_for_key(nb), Aad::from(aad), &mut body)
            .map_err(|_| {
                PayerStoreError::Corrupt(format!(
                    "a value sealed under the form key {id} does not open (altered, or moved \
                     from another claim)"
                ))
            })?
            .len();
        body.truncate(n);
        Ok(body)
    }

    /// Deletes the keys `ids` (a missing one is already gone) and syncs the folder.
    pub fn destroy(&self, ids: &[String]) -> Result<()> {
        if ids.is_empty() {
            return Ok(());
        }
        let mut cache = self.cache();
        for id in ids {
            cache.remove(id);
            if !valid_id(id) {
                continue;
            }
            match std::fs::remove_file(self.path(id)) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(key_err(format!("deleting the form key {id}: {e}"))),
            }
        }
        drop(cache);
        std::fs::File::open(&self.dir)
            .and_then(|d| d.sync_all())
            .map_err(|e| key_err(format!("syncing {}: {e}", self.dir.display())))
    }

    /// Whether the file of key `id` is in the folder.
    #[cfg(test)]
    fn exists(&self, id: &str) -> bool {
        valid_id(id) && self.path(id).exists()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sealed_value_opens_with_its_key_and_data_only_and_not_once_the_key_is_destroyed() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("keys");
        let keys = FormKeys::open(&dir).unwrap();
        let (id, key) = keys.create().unwrap();
        let sealed = keys.seal(&key, b"1:7", "住所：秘密県".as_bytes()).unwrap();
        assert!(!sealed.windows("秘密".len()).any(|w| w == "秘密".as_bytes()));
        // from the file, as another process reads it
        let other = FormKeys::open(&dir).unwrap();
        let plain = other.open_sealed(&id, b"1:7", &sealed).unwrap();
        assert_eq!(&plain[..], "住所：秘密県".as_bytes());
        // another claim's data, or an altered byte, does not open
        assert!(matches!(
            other.open_sealed(&id, b"1:8", &sealed),
            Err(PayerStoreError::Corrupt(_))
        ));
        let mut bent = sealed.clone();
        *bent.last_mut().unwrap() ^= 1;
        assert!(other.open_sealed(&id, b"1:7", &bent).is_err());
        // two seals of the same value differ (a nonce each)
        assert_ne!(
            sealed,
            keys.seal(&key, b"1:7", "住所：秘密県".as_bytes()).unwrap()
        );
        keys.destroy(std::slice::from_ref(&id)).unwrap();
        assert!(!keys.exists(&id));
        let third = FormKeys::open(&dir).unwrap();
        assert!(matches!(
            third.open_sealed(&id, b"1:7", &sealed),
            Err(PayerStoreError::Keys(_))
        ));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&dir).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o700);
        }
    }

    #[cfg(unix)]
    #[test]
    fn a_new_folder_is_made_owner_only_and_one_open_to_others_is_refused_unchanged() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let new = dir.path().join("a").join("keys");
        FormKeys::open(&new).unwrap();
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&new), 0o700);
        let shared = dir.path().join("shared");
        std::fs::create_dir(&shared).unwrap();
        std::fs::set_permissions(&shared, std::fs::Permissions::from_mode(0o755)).unwrap();
        let e = FormKeys::open(&shared).err().expect("refused").to_string();
        assert!(e.contains("755") && e.contains("chmod 700"), "{e}");
        assert_eq!(mode(&shared), 0o755, "left as it was");
        let file = dir.path().join("file");
        std::fs::write(&file, b"").unwrap();
        assert!(FormKeys::open(&file).is_err());
    }

    #[test]
    fn a_key_id_never_names_a_path_outside_the_folder() {
        let tmp = tempfile::tempdir().unwrap();
        let keys = FormKeys::open(&tmp.path().join("keys")).unwrap();
        assert!(matches!(
            keys.key("../../etc/passwd"),
            Err(PayerStoreError::Corrupt(_))
        ));
        let (id, _) = keys.create().unwrap();
        assert!(valid_id(&id));
        let mode = {
            #[cfg(unix)]
            {
                use std::os::unix::fs::PermissionsExt;
                std::fs::metadata(keys.path(&id))
                    .unwrap()
                    .permissions()
                    .mode()
                    & 0o777
            }
            #[cfg(not(unix))]
            0o600
        };
        assert_eq!(mode, 0o600);
    }
}
