//! `--db`: an SQLite file path or a `postgres://…` URL, and what lives beside it (the key
//! file, the card emulation's file).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, Result, bail};
use onshi_store::{CentralStore, PostgresStore, SqliteStore};

/// The database a command works on.
#[derive(Debug, Clone)]
pub enum Db {
    Sqlite(PathBuf),
    /// the URL as given (it may hold a password: never printed, see [`Db::display`])
    Postgres(String),
}

impl std::str::FromStr for Db {
    type Err = std::convert::Infallible;
    fn from_str(s: &str) -> std::result::Result<Self, Self::Err> {
        Ok(Db::parse(s))
    }
}

/// A store opened with its concrete type (the central's service takes it by type).
pub enum Opened {
    Sqlite(Arc<SqliteStore>),
    Postgres(Arc<PostgresStore>),
}

impl Opened {
    pub fn shared(&self) -> Arc<dyn CentralStore> {
        match self {
            Opened::Sqlite(s) => s.clone(),
            Opened::Postgres(s) => s.clone(),
        }
    }
}

impl Db {
    /// `postgres://…` / `postgresql://…` is a PostgreSQL URL, anything else a file path.
    pub fn parse(s: &str) -> Db {
        if onshi_store::postgres::is_url(s) {
            Db::Postgres(s.to_string())
        } else {
            Db::Sqlite(PathBuf::from(s))
        }
    }

    /// For messages: the path, or the URL with its password hidden.
    pub fn display(&self) -> String {
        match self {
            Db::Sqlite(p) => p.display().to_string(),
            Db::Postgres(u) => match u.rfind('@') {
                Some(at) => match (u.find("://"), u[..at].rfind(':')) {
                    (Some(s), Some(c)) if c > s + 3 => format!("{}:***{}", &u[..c], &u[at..]),
                    _ => u.clone(),
                },
                None => u.clone(),
            },
        }
    }

    pub fn open_typed(&self) -> Result<Opened> {
        Ok(match self {
            Db::Sqlite(p) => Opened::Sqlite(Arc::new(SqliteStore::open(p)?)),
            Db::Postgres(u) => Opened::Postgres(Arc::new(
                PostgresStore::open(u).with_context(|| format!("opening {}", self.display()))?,
            )),
        })
    }

    /// The PostgreSQL primary with its registry reads on the streaming replica `replica`
    /// (`--db-replica`). Only for a PostgreSQL database.
    pub fn open_with_replica(
        &self,
        replica: &str,
        policy: onshi_store::postgres::ReplicaPolicy,
    ) -> Result<Opened> {
        let Db::Postgres(u) = self else {
            bail!("--db-replica: a replica is for a PostgreSQL --db (postgres://…), not a file");
        };
        if !onshi_store::postgres::is_url(replica) {
            bail!("--db-replica: expected a postgres://… URL of the primary's streaming replica");
        }
        Ok(Opened::Postgres(Arc::new(
            PostgresStore::open_with_replica(u, replica, policy)
                .with_context(|| format!("opening {}", self.display()))?,
        )))
    }

    pub fn open(&self) -> Result<Arc<dyn CentralStore>> {
        Ok(self.open_typed()?.shared())
    }

    /// The key file: `--keys`, or `<db>.keys.json` beside an SQLite file. A PostgreSQL
    /// database has no "beside": `--keys` is required.
    pub fn keys_path(&self, given: Option<PathBuf>) -> Result<PathBuf> {
        match (given, self) {
            (Some(p), _) => Ok(p),
            (None, Db::Sqlite(p)) => Ok(crate::keys::default_path(p)),
            (None, Db::Postgres(_)) => bail!(
                "--keys: a PostgreSQL database needs the key file named (e.g. --keys \
                 /etc/onshi/central.keys.json); it is made there on first run"
            ),
        }
    }

    /// The card emulation's file: beside an SQLite file, beside the key file for PostgreSQL.
    pub fn cards_path(&self, keys: &Path) -> PathBuf {
        match self {
            Db::Sqlite(p) => crate::keys::cards_path(p),
            Db::Postgres(_) => keys.with_extension("cards.sqlite"),
        }
    }

    /// Loads the key file, making it on first run — unless the database already holds data
    /// hashed with keys (see [`crate::keys::load_or_create`]).
    pub fn load_keys(&self, path: &Path) -> Result<crate::keys::Keys> {
        match self {
            Db::Sqlite(p) => crate::keys::load_or_create(path, p),
            Db::Postgres(_) => {
                if !path.exists() {
                    let s = self.open_typed()?;
                    let holds = match &s {
                        Opened::Postgres(pg) => pg.holds_keyed_data()?,
                        Opened::Sqlite(_) => false,
                    };
                    if holds {
                        bail!(
                            "the key file {} is missing, but the database {} already holds \
                             data hashed with its keys. Restore the key file from your backup; \
                             onshi will not make new keys, which would make every stored My \
                             Number hash unmatchable.",
                            path.display(),
                            self.display()
                        );
                    }
                }
                crate::keys::load_or_create(path, Path::new(""))
            }
        }
    }
}
