//! The exchange folder: `req` (the receipt computer writes requests), `res` (the terminal
//! answers, same name with `req` → `res`) and `face` (results of card confirmations at the
//! reader). The terminal's own files — its store, the desk's databases, and `terminal.json`,
//! which tells `onshi reader place` where the terminal's API listens — live in a data folder
//! *outside* the folder receipt computers share: `--data`, by default [`default_data_dir`]
//! (`<exchange>.terminal` beside it). An old layout (`<exchange>/.terminal/`) is refused with
//! the steps to move it ([`Exchange::prepare`]).
//!
//! Every file the terminal writes appears whole or not at all: it is written to a hidden
//! temporary file in the same folder, fsynced, renamed into place, and the folder fsynced.

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use serde::{Deserialize, Serialize};

/// The folders of one terminal.
#[derive(Debug, Clone)]
pub struct Exchange {
    pub root: PathBuf,
    pub req: PathBuf,
    pub res: PathBuf,
    pub face: PathBuf,
    pub data: PathBuf,
}

/// The terminal's data folder when none is given: beside the exchange folder, never inside it
/// (`/srv/oqs/1311234567` → `/srv/oqs/1311234567.terminal`).
pub fn default_data_dir(root: &Path) -> PathBuf {
    let name = root
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "exchange".into());
    let parent = root.parent().unwrap_or(Path::new("."));
    parent.join(format!("{name}.terminal"))
}

/// The files of the terminal and the desk that belong in the data folder.
const OWN_FILES: [&str; 4] = [
    "terminal.sqlite",
    "desk.sqlite",
    "claims.sqlite",
    "staff.sqlite",
];

impl Exchange {
    /// The folders of `root`, with the terminal's own files in [`default_data_dir`].
    pub fn new(root: &Path) -> Self {
        Self::with_data(root, &default_data_dir(root))
    }

    /// The folders of `root`, with the terminal's own files in `data` (`None`: the default).
    pub fn with_data_opt(root: &Path, data: Option<&Path>) -> Self {
        match data {
            Some(d) => Self::with_data(root, d),
            None => Self::new(root),
        }
    }

    pub fn with_data(root: &Path, data: &Path) -> Self {
        Exchange {
            root: root.to_path_buf(),
            req: root.join("req"),
            res: root.join("res"),
            face: root.join("face"),
            data: data.to_path_buf(),
        }
    }

    /// Where earlier versions kept the terminal's own files: inside the shared folder.
    pub fn old_data_dir(&self) -> PathBuf {
        self.root.join(".terminal")
    }

    /// Refuses an old layout: the databases still under `<exchange>/.terminal/` while the data
    /// folder has none. The message says what to move where.
    pub fn check_layout(&self) -> std::io::Result<()> {
        let old = self.old_data_dir();
        if old == self.data {
            return Err(std::io::Error::other(format!(
                "the data folder {} is inside the exchange folder that receipt computers share; choose one outside it (--data)",
                self.data.display()
            )));
        }
        let mut left: Vec<String> = OWN_FILES
            .into_iter()
            .filter(|f| old.join(f).exists())
            .map(|f| format!("{}", old.join(f).display()))
            .collect();
        if left.is_empty() {
            return Ok(());
        }
        // with the old databases, the reader's device key (a private key) was kept in the
        // exchange folder itself by default
        let old_key = self.root.join("reader.key.json");
        let old_key = old_key.exists() && !self.data.join("reader.key.json").exists();
        let old_key_path = self.root.join("reader.key.json");
        if old_key {
            left.push(format!("{}", old_key_path.display()));
        }
        if self.data.join("terminal.sqlite").exists() && !old_key {
            tracing::warn!(old = %old.display(), data = %self.data.display(), "an old copy of the terminal's files is still inside the exchange folder; it is not used and can be removed");
            return Ok(());
        }
        Err(std::io::Error::other(format!(
            "the terminal's own files ({}) are in the old place, inside the folder receipt computers share. They now live in the data folder {data}. Stop the terminal, then move them (the databases with their -wal and -shm files): mkdir -p '{data}' && mv '{old}'/*.sqlite* '{data}'/{key} — and start it again (with the same --data).",
            left.join(", "),
            data = self.data.display(),
            old = old.display(),
            key = if old_key {
                format!(
                    " && mv '{}' '{}'/",
                    old_key_path.display(),
                    self.data.display()
                )
            } else {
                String::new()
            },
        )))
    }

    /// Creates the folders and removes temporary files a crash may have left.
    pub fn prepare(&self) -> std::io::Result<()> {
        self.check_layout()?;
        for d in [&self.req, &self.res, &self.face, &self.data] {
            std::fs::create_dir_all(d)?;
        }
        // temporary answer files in res/ belong to the journal (see `Terminal::handle_file`);
        // only the face folder's are swept here
        for d in [&self.face] {
            for e in std::fs::read_dir(d)?.flatten() {
                let n = e.file_name();
                let n = n.to_string_lossy();
                if n.starts_with('.') && n.ends_with(".tmp") {
                    let _ = std::fs::remove_file(e.path());
                }
            }
        }
        Ok(())
    }

    pub fn store_path(&self) -> PathBuf {
        self.data.join("terminal.sqlite")
    }

    pub fn info_path(&self) -> PathBuf {
        self.data.join("terminal.json")
    }
}

/// What `terminal.json` says about a running terminal.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TerminalInfo {
    /// base URL of the terminal's HTTP API
    pub api: String,
    pub facility: String,
    pub pid: u32,
}

static TMP_SEQ: AtomicU64 = AtomicU64::new(0);

/// Writes `bytes` to `dir/name` atomically (temp file in the same folder, fsync, rename,
/// fsync of the folder).
pub fn write_atomic(dir: &Path, name: &str, bytes: &[u8]) -> std::io::Result<()> {
    let n = TMP_SEQ.fetch_add(1, Ordering::Relaxed);
    let tmp = dir.join(format!(".{name}.{}.{n}.tmp", std::process::id()));
    let result = (|| {
        let mut f = File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        drop(f);
        std::fs::rename(&tmp, dir.join(name))?;
        File::open(dir)?.sync_all()
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// Whether a file name in `req` is a request the terminal should answer: `*.xml`, not
/// hidden, with `req` in its name (so the answer's name can be formed).
pub fn is_request_name(name: &str) -> bool {
    !name.starts_with('.')
        && name.len() > 4
        && name.is_char_boundary(name.len() - 4)
        && name[name.len() - 4..].eq_ignore_ascii_case(".xml")
        && name.contains("req")
}

/// The fixed temporary name of the answer `res_name` (one per answer, so that after a crash
/// the terminal can tell whether the answer was already moved into place).
pub fn staging_name(res_name: &str) -> String {
    format!(".{res_name}.tmp")
}

/// Writes the staging file of an answer and fsyncs it.
pub fn stage(dir: &Path, res_name: &str, bytes: &[u8]) -> std::io::Result<PathBuf> {
    let tmp = dir.join(staging_name(res_name));
    let mut f = File::create(&tmp)?;
    f.write_all(bytes)?;
    f.sync_all()?;
    Ok(tmp)
}

/// Moves a staged answer into place and fsyncs the folder.
pub fn publish(dir: &Path, res_name: &str) -> std::io::Result<()> {
    std::fs::rename(dir.join(staging_name(res_name)), dir.join(res_name))?;
    File::open(dir)?.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_data_folder_is_beside_the_exchange_folder_and_an_old_layout_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("1311234567");
        let ex = Exchange::new(&root);
        assert_eq!(ex.data, dir.path().join("1311234567.terminal"));
        assert!(!ex.data.starts_with(&root), "outside the shared folder");
        ex.prepare().unwrap();
        // an old layout: the store inside the exchange folder, nothing in the data folder
        let old = tempfile::tempdir().unwrap();
        let root = old.path().join("ex");
        std::fs::create_dir_all(root.join(".terminal")).unwrap();
        std::fs::write(root.join(".terminal/terminal.sqlite"), b"").unwrap();
        std::fs::write(root.join("reader.key.json"), b"{}").unwrap();
        let ex = Exchange::with_data(&root, &old.path().join("data"));
        let e = ex.prepare().unwrap_err().to_string();
        assert!(
            e.contains("old place") && e.contains("terminal.sqlite"),
            "{e}"
        );
        assert!(e.contains("mv ") && e.contains("reader.key.json"), "{e}");
        assert!(
            e.contains(&old.path().join("data").display().to_string()),
            "{e}"
        );
        // a data folder inside the exchange folder is refused
        let inside = Exchange::with_data(&root, &root.join(".terminal"));
        assert!(inside.prepare().unwrap_err().to_string().contains("inside"));
    }
}
