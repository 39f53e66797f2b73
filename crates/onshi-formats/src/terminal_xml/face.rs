//! Face files: the result of a patient's own card confirmation at the face-auth card reader
//! (照会区分 1), written by the terminal into the `face` folder in the format of an
//! `OQSsiquc01res` ([`super::siquc01::QualificationResponse`]), named
//! `OQSsiquc01res_face_<yyyyMMddHHmmss>_<seq>.xml` (seq: 6 digits, per terminal, never reused).

/// Prefix of every face file.
pub const FACE_PREFIX: &str = "OQSsiquc01res_face_";

/// The face file name for a confirmation processed at `timestamp` (yyyyMMddHHmmss).
pub fn face_file_name(timestamp: &str, seq: u64) -> String {
    format!("{FACE_PREFIX}{timestamp}_{seq:06}.xml")
}

/// Reads the timestamp and sequence back from a face file name.
pub fn parse_face_file_name(name: &str) -> Option<(String, u64)> {
    let rest = name.strip_prefix(FACE_PREFIX)?.strip_suffix(".xml")?;
    let (ts, seq) = rest.split_once('_')?;
    if ts.len() != 14 || !ts.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some((ts.to_string(), seq.parse().ok()?))
}

pub use super::siquc01::QualificationResponse as FaceResult;
