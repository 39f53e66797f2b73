//! Bulk confirmation upload (一括照会): `OQSmuquc01req_*.xml` carries many
//! `QualificationConfirmSearchInfo` blocks in a `QualificationConfirmSearchInfoList`; the
//! answer `OQSmuquc01res_*.xml` gives a `ReceptionNumber` to fetch the results with
//! ([`super::muquc02`]). SPEC does not fix the list and count element names; onshi's are in
//! `docs/formats/terminal-xml.md`.

use super::common::{RequestHeader, ResponseHeader, SearchInfo, read_message};
use super::tree::join;
use super::{Encoding, XmlError, XmlWriter};

/// Most entries one upload may carry.
pub const MAX_BULK_ENTRIES: usize = 10_000;

/// `OQSmuquc01req`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BulkUploadRequest {
    pub header: RequestHeader,
    pub entries: Vec<SearchInfo>,
}

impl BulkUploadRequest {
    /// Reads an upload. Any bad entry refuses the whole file, naming the entry (1-based).
    pub fn read(bytes: &[u8]) -> Result<(Encoding, Self), XmlError> {
        let (enc, root) = read_message(bytes)?;
        let header = RequestHeader::read(&root)?;
        let bp = "XmlMsg/MessageBody";
        let body = root.required_child("XmlMsg", "MessageBody")?;
        let lp = join(bp, "QualificationConfirmSearchInfoList");
        let list = body.required_child(bp, "QualificationConfirmSearchInfoList")?;
        let mut entries = Vec::new();
        for (i, el) in list
            .children_named("QualificationConfirmSearchInfo")
            .enumerate()
        {
            if i >= MAX_BULK_ENTRIES {
                return Err(XmlError::invalid(
                    lp,
                    format!("at most {MAX_BULK_ENTRIES} entries per upload"),
                ));
            }
            let p = format!("{lp}/QualificationConfirmSearchInfo[{}]", i + 1);
            entries.push(SearchInfo::read(&p, el)?);
        }
        if entries.is_empty() {
            return Err(XmlError::Missing {
                path: join(&lp, "QualificationConfirmSearchInfo"),
            });
        }
        Ok((enc, BulkUploadRequest { header, entries }))
    }

    pub fn write(&self, enc: Encoding) -> Result<Vec<u8>, XmlError> {
        let mut w = XmlWriter::new(enc);
        w.open("XmlMsg");
        self.header.write(&mut w);
        w.open("MessageBody");
        w.open("QualificationConfirmSearchInfoList");
        for e in &self.entries {
            e.write(&mut w);
        }
        w.close();
        w.close();
        w.finish()
    }
}

/// `OQSmuquc01res`: the upload was accepted (or not).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct BulkUploadResponse {
    pub header: ResponseHeader,
    pub processing_result_status: String,
    pub processing_result_code: Option<String>,
    pub processing_result_message: Option<String>,
    /// `ReceptionNumber`: give it in `OQSmuquc02req` to fetch the results
    pub reception_number: Option<String>,
    /// `NumberOfRequests`: entries accepted
    pub number_of_requests: Option<u32>,
}

impl BulkUploadResponse {
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
        w.opt_leaf("ReceptionNumber", self.reception_number.as_deref());
        if let Some(n) = self.number_of_requests {
            w.leaf("NumberOfRequests", &n.to_string());
        }
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
            BulkUploadResponse {
                header,
                processing_result_status: body.required(bp, "ProcessingResultStatus")?.into(),
                processing_result_code: body.nonempty("ProcessingResultCode"),
                processing_result_message: body.nonempty("ProcessingResultMessage"),
                reception_number: body.nonempty("ReceptionNumber"),
                number_of_requests: parse_count(bp, body, "NumberOfRequests")?,
            },
        ))
    }
}

pub(crate) fn parse_count(
    path: &str,
    el: &super::Element,
    name: &str,
) -> Result<Option<u32>, XmlError> {
    el.nonempty(name)
        .map(|t| {
            t.parse::<u32>().map_err(|_| {
                XmlError::invalid(join(path, name), format!("must be a count, got {t:?}"))
            })
        })
        .transpose()
}
