//! The facility's staff accounts for the desk (`staff.sqlite` beside `desk.sqlite`): a staff
//! id (the one written on every step, and as the 目視確認 staff of R3), a name, and the
//! password as an argon2id hash (PHC string, salted per account) — never the password.
//! Accounts are made by an administrator with `onshi staff add`.

use std::path::Path;
use std::sync::{Arc, Mutex};

use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use rusqlite::{Connection, OptionalExtension, params};

/// The file of the staff accounts inside the terminal's data folder.
pub const STAFF_FILE: &str = "staff.sqlite";

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS staff (
    staff_id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    password_hash TEXT NOT NULL,
    created_at TEXT NOT NULL
);
";

#[derive(Debug, thiserror::Error)]
pub enum StaffError {
    #[error("staff store: {0}")]
    Sql(#[from] rusqlite::Error),
    #[error("staff store: lock poisoned")]
    Poisoned,
    #[error("{field}: {message}")]
    Invalid {
        field: &'static str,
        message: String,
    },
    #[error("password hash: {0}")]
    Hash(String),
}

/// A staff member as the desk shows them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Staff {
    pub staff_id: String,
    pub name: String,
}

/// The staff accounts of one facility.
#[derive(Clone)]
pub struct StaffStore {
    conn: Arc<Mutex<Connection>>,
}

/// A staff id: 1 to 32 characters, no spaces or control characters (it is written on every
/// step and in the terminal's history).
pub fn check_staff_id(id: &str) -> Result<(), StaffError> {
    let n = id.chars().count();
    if n == 0 || n > 32 || id.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(StaffError::Invalid {
            field: "staff_id",
            message: "1 to 32 characters, without spaces".into(),
        });
    }
    Ok(())
}

impl StaffStore {
    pub fn open(path: &Path) -> Result<Self, StaffError> {
        let conn = Connection::open(path)?;
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        conn.execute_batch(SCHEMA)?;
        Ok(StaffStore {
            conn: Arc::new(Mutex::new(conn)),
        })
    }

    fn with<T>(
        &self,
        f: impl FnOnce(&Connection) -> Result<T, StaffError>,
    ) -> Result<T, StaffError> {
        let c = self.conn.lock().map_err(|_| StaffError::Poisoned)?;
        f(&c)
    }

    /// Adds an account, or replaces the name and password of an existing one.
    pub fn set(&self, staff_id: &str, name: &str, password: &str) -> Result<(), StaffError> {
        check_staff_id(staff_id)?;
        if name.trim().is_empty() || name.chars().count() > 64 {
            return Err(StaffError::Invalid {
                field: "name",
                message: "1 to 64 characters".into(),
            });
        }
        if password.chars().count() < 8 {
            return Err(StaffError::Invalid {
                field: "password",
                message: "at least 8 characters".into(),
            });
        }
        let hash = hash_password(password)?;
        let now = chrono::Utc::now().to_rfc3339();
        self.with(|c| {
            c.execute(
                "INSERT INTO staff (staff_id, name, password_hash, created_at) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT(staff_id) DO UPDATE SET name = excluded.name, password_hash = excluded.password_hash",
                params![staff_id, name.trim(), hash, now],
            )?;
            Ok(())
        })
    }

    /// The account when the password is its own; `None` for an unknown id or a wrong password
    /// (the same answer, so that ids cannot be probed).
    pub fn verify(&self, staff_id: &str, password: &str) -> Result<Option<Staff>, StaffError> {
        let row: Option<(String, String)> = self.with(|c| {
            Ok(c.query_row(
                "SELECT name, password_hash FROM staff WHERE staff_id = ?1",
                params![staff_id],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?)
        })?;
        let Some((name, hash)) = row else {
            // spend the same time as a real check
            let _ = hash_password(password);
            return Ok(None);
        };
        let parsed = PasswordHash::new(&hash).map_err(|e| StaffError::Hash(e.to_string()))?;
        Ok(Argon2::default()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok()
            .then(|| Staff {
                staff_id: staff_id.to_string(),
                name,
            }))
    }

    pub fn list(&self) -> Result<Vec<Staff>, StaffError> {
        self.with(|c| {
            let mut st = c.prepare("SELECT staff_id, name FROM staff ORDER BY staff_id")?;
            let rows = st.query_map([], |r| {
                Ok(Staff {
                    staff_id: r.get(0)?,
                    name: r.get(1)?,
                })
            })?;
            Ok(rows.collect::<Result<Vec<_>, _>>()?)
        })
    }
}

fn hash_password(password: &str) -> Result<String, StaffError> {
    let mut salt = [0u8; 16];
    getrandom::fill(&mut salt).map_err(|e| StaffError::Hash(e.to_string()))?;
    let salt = SaltString::encode_b64(&salt).map_err(|e| StaffError::Hash(e.to_string()))?;
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| StaffError::Hash(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_stored_as_salted_argon2id_hashes_and_checked() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(STAFF_FILE);
        let s = StaffStore::open(&path).unwrap();
        s.set("S01", "受付 花子", "correct horse").unwrap();
        s.set("S02", "受付 太郎", "correct horse").unwrap();
        assert_eq!(
            s.verify("S01", "correct horse").unwrap().map(|x| x.name),
            Some("受付 花子".to_string())
        );
        assert_eq!(s.verify("S01", "wrong horse").unwrap(), None);
        assert_eq!(s.verify("S99", "correct horse").unwrap(), None);
        let c = Connection::open(&path).unwrap();
        let hashes: Vec<String> = c
            .prepare("SELECT password_hash FROM staff")
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .map(Result::unwrap)
            .collect();
        assert!(
            hashes.iter().all(|h| h.starts_with("$argon2id$")),
            "{hashes:?}"
        );
        assert_ne!(hashes[0], hashes[1], "each account has its own salt");
        let bytes = std::fs::read(&path).unwrap();
        assert!(
            !bytes.windows(13).any(|w| w == b"correct horse"),
            "no password in clear on disk"
        );
        assert!(s.set("S 1", "x", "correct horse").is_err());
        assert!(s.set("S03", "x", "short").is_err());
    }
}
