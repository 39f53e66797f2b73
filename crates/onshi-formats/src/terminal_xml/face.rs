//! Face files: the result of a patient's own card confirmation at the face-auth card reader
//! (照会区分 1), written by the terminal into the `face` folder in the format of an
//! `OQSsiquc01res` ([`super::siquc01::QualificationResponse`]), named
//! `OQSsiquc01res_face_<seq>_<yyyyMMddHHmmss>.xml` (seq: 6 digits, per terminal, never reused).
//!
//! The 14-digit timestamp is the **last** `_` field: one public face-file watcher reads it
//! from there; no public source shows where a sequence goes, so it comes before the
//! timestamp (it keeps names unique within one second). Names of onshi's earlier layout
//! (`…_face_<timestamp>_<seq>.xml`) are still recognised by [`parse_face_file_name`].

/// Prefix of every face file.
pub const FACE_PREFIX: &str = "OQSsiquc01res_face_";

/// The face file name for a confirmation processed at `timestamp` (yyyyMMddHHmmss).
pub fn face_file_name(timestamp: &str, seq: u64) -> String {
    format!("{FACE_PREFIX}{seq:06}_{timestamp}.xml")
}

/// Reads the timestamp and sequence back from a face file name (either layout).
pub fn parse_face_file_name(name: &str) -> Option<(String, u64)> {
    let rest = name.strip_prefix(FACE_PREFIX)?.strip_suffix(".xml")?;
    let (a, b) = rest.split_once('_')?;
    let is_ts = |s: &str| s.len() == 14 && s.bytes().all(|c| c.is_ascii_digit());
    let (ts, seq) = if is_ts(b) {
        (b, a)
    } else if is_ts(a) {
        (a, b)
    } else {
        return None;
    };
    if seq.is_empty() || !seq.bytes().all(|c| c.is_ascii_digit()) {
        return None;
    }
    Some((ts.to_string(), seq.parse().ok()?))
}

pub use super::siquc01::QualificationResponse as FaceResult;
