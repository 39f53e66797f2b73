//! Intake by folder: `INBOX/<payer>/<医療機関コード>/*.UKE`.
//!
//! Each facility writes its month's file into its own folder (access to the folder is the
//! facility's authentication, as with the terminal's req folder). A scan takes every `.UKE`
//! file, runs the same intake as the API (all or nothing, duplicates recognised) and answers
//! beside it with `<name>.result.json` — the submission, or every reason for the refusal. The
//! UKE file is then removed: it carries the 申立書 details of 不詳 claims (R27), and the payer
//! keeps what it needs in its database (until settlement) and the file's SHA-256.

use std::path::{Path, PathBuf};

use serde_json::json;

use crate::model::PayerCode;
use crate::service::{PayerService, ServiceError, Submitted};

/// What one scan did with one file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FolderResult {
    pub file: PathBuf,
    pub result: PathBuf,
    pub accepted: bool,
}

fn is_facility_code(s: &str) -> bool {
    s.len() == 10 && s.bytes().all(|b| b.is_ascii_digit())
}

/// Scans the inbox once; `at` is the time recorded as received.
pub fn scan_once(
    svc: &PayerService,
    inbox: &Path,
    at: &str,
) -> Result<Vec<FolderResult>, ServiceError> {
    let mut out = Vec::new();
    let mut found = Vec::new();
    for payer in [PayerCode::Kikin, PayerCode::Kokuhoren] {
        let pdir = inbox.join(payer.code());
        let Ok(facilities) = std::fs::read_dir(&pdir) else {
            continue;
        };
        let mut facilities: Vec<PathBuf> = facilities
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.is_dir())
            .collect();
        facilities.sort();
        for fdir in facilities {
            let Some(code) = fdir
                .file_name()
                .and_then(|n| n.to_str())
                .map(str::to_string)
            else {
                continue;
            };
            if !is_facility_code(&code) {
                continue;
            }
            let mut files: Vec<PathBuf> = std::fs::read_dir(&fdir)?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| {
                    p.is_file()
                        && p.extension()
                            .and_then(|e| e.to_str())
                            .is_some_and(|e| e.eq_ignore_ascii_case("uke"))
                })
                .collect();
            files.sort();
            for file in files {
                found.push((payer, code.clone(), file));
            }
        }
    }
    // one durable commit for everything the scan accepts
    let mut loaded = Vec::with_capacity(found.len());
    for (payer, code, file) in found {
        let bytes = std::fs::read(&file)?;
        let name = file
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("RECEIPTC.UKE")
            .to_string();
        loaded.push((payer, code, file, name, bytes));
    }
    let subs: Vec<Submitted<'_>> = loaded
        .iter()
        .map(|(payer, code, _, name, bytes)| Submitted {
            payer: *payer,
            facility: code,
            file_name: name,
            bytes,
            source: "folder",
            at,
        })
        .collect();
    let results = svc.intake_batch(&subs)?;
    for ((_, _, file, name, _), r) in loaded.iter().zip(results) {
        out.push(answer(file, name, r)?);
    }
    Ok(out)
}

fn answer(
    file: &Path,
    name: &str,
    r: Result<crate::service::IntakeOutcome, ServiceError>,
) -> Result<FolderResult, ServiceError> {
    let (accepted, doc) = match r {
        Ok(o) => (true, json!({ "accepted": true, "outcome": o })),
        Err(ServiceError::Refused(reasons)) => (
            false,
            json!({ "accepted": false, "reasons": reasons,
                    "message": "the file is refused whole; nothing of it was kept" }),
        ),
        Err(e) => return Err(e),
    };
    let result = file.with_file_name(format!("{name}.result.json"));
    let tmp = file.with_file_name(format!(".{name}.result.json.tmp"));
    std::fs::write(&tmp, serde_json::to_vec_pretty(&doc).unwrap_or_default())?;
    std::fs::rename(&tmp, &result)?;
    std::fs::remove_file(file)?;
    Ok(FolderResult {
        file: file.to_path_buf(),
        result,
        accepted,
    })
}
