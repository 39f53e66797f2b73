//! Reference-number registration (照会番号登録): `OQSsiimm01req_*.xml` links the facility's
//! own patient number to a qualification (given by its insurance numbers and birth date); the
//! terminal then adds it as `ReferenceNumber` to every later result for that qualification,
//! including the face files. Answered by `OQSsiimm01res_*.xml`.

use super::common::{RequestHeader, ResponseHeader, SearchInfo, SearchInfoEcho, read_message};
use super::tree::join;
use super::{Encoding, XmlError, XmlWriter};

/// Longest 照会番号 accepted.
pub const REFERENCE_NUMBER_MAX: usize = 20;

/// Checks a 照会番号: 1 to 20 ASCII letters, digits or hyphens (leading zeros kept).
pub fn check_reference_number(path: &str, s: &str) -> Result<String, XmlError> {
    let t = s.trim();
    if t.is_empty() || t.len() > REFERENCE_NUMBER_MAX {
        return Err(XmlError::invalid(
            path,
            format!("must be 1 to {REFERENCE_NUMBER_MAX} characters, got {t:?}"),
        ));
    }
    if !t.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') {
        return Err(XmlError::invalid(
            path,
            format!("only ASCII letters, digits and '-' are allowed, got {t:?}"),
        ));
    }
    Ok(t.to_string())
}

/// `OQSsiimm01req`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefRegistrationRequest {
    pub header: RequestHeader,
    pub search: SearchInfo,
    /// `MessageBody/ReferenceNumber`
    pub reference_number: String,
}

impl RefRegistrationRequest {
    pub fn read(bytes: &[u8]) -> Result<(Encoding, Self), XmlError> {
        let (enc, root) = read_message(bytes)?;
        let header = RequestHeader::read(&root)?;
        let bp = "XmlMsg/MessageBody";
        let body = root.required_child("XmlMsg", "MessageBody")?;
        let info = body.required_child(bp, "QualificationConfirmSearchInfo")?;
        let search = SearchInfo::read(&join(bp, "QualificationConfirmSearchInfo"), info)?;
        let reference_number = check_reference_number(
            &join(bp, "ReferenceNumber"),
            body.required(bp, "ReferenceNumber")?,
        )?;
        Ok((
            enc,
            RefRegistrationRequest {
                header,
                search,
                reference_number,
            },
        ))
    }

    pub fn write(&self, enc: Encoding) -> Result<Vec<u8>, XmlError> {
        let mut w = XmlWriter::new(enc);
        w.open("XmlMsg");
        self.header.write(&mut w);
        w.open("MessageBody");
        self.search.write(&mut w);
        w.leaf("ReferenceNumber", &self.reference_number);
        w.close();
        w.finish()
    }
}

/// `OQSsiimm01res`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RefRegistrationResponse {
    pub header: ResponseHeader,
    /// OQSCD004
    pub processing_result_status: String,
    pub processing_result_code: Option<String>,
    pub processing_result_message: Option<String>,
    pub search_info: Option<SearchInfoEcho>,
    pub reference_number: Option<String>,
}

impl RefRegistrationResponse {
    pub fn write(&self, enc: Encoding) -> Result<Vec<u8>, XmlError> {
        let mut w = XmlWriter::new(enc);
        w.open("XmlMsg");
        self.header.write(&mut w);
        w.open("MessageBody");
        w.leaf("ProcessingResultStatus", &self.processing_result_status);
        if self.processing_result_status != "1" {
            w.opt_leaf(
                "ProcessingResultCode",
                self.processing_result_code.as_deref(),
            );
            w.opt_leaf(
                "ProcessingResultMessage",
                self.processing_result_message.as_deref(),
            );
        }
        if let Some(s) = &self.search_info {
            w.open("QualificationConfirmSearchInfo");
            s.write(&mut w);
            w.close();
        }
        w.opt_leaf("ReferenceNumber", self.reference_number.as_deref());
        w.close();
        w.finish()
    }

    pub fn read(bytes: &[u8]) -> Result<(Encoding, Self), XmlError> {
        let (enc, root) = read_message(bytes)?;
        let header = ResponseHeader::read(&root)?;
        let bp = "XmlMsg/MessageBody";
        let body = root.required_child("XmlMsg", "MessageBody")?;
        Ok((
            enc,
            RefRegistrationResponse {
                header,
                processing_result_status: body.required(bp, "ProcessingResultStatus")?.into(),
                processing_result_code: body.nonempty("ProcessingResultCode"),
                processing_result_message: body.nonempty("ProcessingResultMessage"),
                search_info: body
                    .child("QualificationConfirmSearchInfo")
                    .map(SearchInfoEcho::read),
                reference_number: body.nonempty("ReferenceNumber"),
            },
        ))
    }
}
