//! Bulk confirmation fetch: `OQSmuquc02req_*.xml` gives the `ReceptionNumber` of an upload;
//! the answer `OQSmuquc02res_*.xml` says 処理中 (`SegmentOfResult` 2) while the terminal is still
//! confirming, and once done lists one `BulkConfirmUnit` per uploaded entry, in upload order,
//! with the counts. SPEC does not fix these element names; see `docs/formats/terminal-xml.md`.

use super::common::{RequestHeader, ResponseHeader, ResultBody, read_message};
use super::muquc01::parse_count;
use super::tree::join;
use super::{Encoding, XmlError, XmlWriter};

/// `OQSmuquc02req`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BulkFetchRequest {
    pub header: RequestHeader,
    pub reception_number: String,
}

impl BulkFetchRequest {
    pub fn read(bytes: &[u8]) -> Result<(Encoding, Self), XmlError> {
        let (enc, root) = read_message(bytes)?;
        let header = RequestHeader::read(&root)?;
        let bp = "XmlMsg/MessageBody";
        let body = root.required_child("XmlMsg", "MessageBody")?;
        let r = body.required(bp, "ReceptionNumber")?;
        if r.len() > 32 || !r.bytes().all(|b| b.is_ascii_alphanumeric()) {
            return Err(XmlError::invalid(
                join(bp, "ReceptionNumber"),
                format!("must be the ReceptionNumber of an OQSmuquc01res, got {r:?}"),
            ));
        }
        Ok((
            enc,
            BulkFetchRequest {
                header,
                reception_number: r.to_string(),
            },
        ))
    }

    pub fn write(&self, enc: Encoding) -> Result<Vec<u8>, XmlError> {
        let mut w = XmlWriter::new(enc);
        w.open("XmlMsg");
        self.header.write(&mut w);
        w.open("MessageBody");
        w.leaf("ReceptionNumber", &self.reception_number);
        w.close();
        w.finish()
    }
}

/// One uploaded entry's result.
#[derive(Debug, Clone, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub struct BulkConfirmUnit {
    /// `SequenceNumber`: 1-based position in the upload
    pub sequence_number: u32,
    /// the same elements as the body of an `OQSsiquc01res`
    pub result: ResultBody,
}

/// `OQSmuquc02res`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct BulkFetchResponse {
    pub header: ResponseHeader,
    pub processing_result_status: String,
    pub processing_result_code: Option<String>,
    pub processing_result_message: Option<String>,
    pub reception_number: Option<String>,
    /// `NumberOfRequests`: entries uploaded
    pub number_of_requests: Option<u32>,
    /// `NumberOfProcessed`: entries confirmed so far
    pub number_of_processed: Option<u32>,
    /// `NumberOfNormalEnd`: units with ProcessingResultStatus 1
    pub number_of_normal_end: Option<u32>,
    /// `NumberOfErrors`: units with ProcessingResultStatus 2
    pub number_of_errors: Option<u32>,
    /// `BulkConfirmUnit` elements directly under `MessageBody` (as public bulk readers expect),
    /// only once every entry is processed
    pub units: Vec<BulkConfirmUnit>,
}

impl BulkFetchResponse {
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
        for (name, v) in [
            ("NumberOfRequests", self.number_of_requests),
            ("NumberOfProcessed", self.number_of_processed),
            ("NumberOfNormalEnd", self.number_of_normal_end),
            ("NumberOfErrors", self.number_of_errors),
        ] {
            if let Some(n) = v {
                w.leaf(name, &n.to_string());
            }
        }
        for u in &self.units {
            w.open("BulkConfirmUnit");
            w.leaf("SequenceNumber", &u.sequence_number.to_string());
            u.result.write_inner(&mut w);
            w.close();
        }
        w.close();
        w.finish()
    }

    pub fn read(bytes: &[u8]) -> Result<(Encoding, Self), XmlError> {
        let (enc, root) = read_message(bytes)?;
        let header = ResponseHeader::read(&root)?;
        let bp = "XmlMsg/MessageBody";
        let body = root.required_child("XmlMsg", "MessageBody")?;
        let mut units = Vec::new();
        // directly under MessageBody; onshi's earlier answers nested them in a
        // `BulkConfirmUnitList`, still read
        let (holder, hp) = match body.child("BulkConfirmUnitList") {
            Some(list) => (list, format!("{bp}/BulkConfirmUnitList")),
            None => (body, bp.to_string()),
        };
        {
            for (i, u) in holder.children_named("BulkConfirmUnit").enumerate() {
                let p = format!("{hp}/BulkConfirmUnit[{}]", i + 1);
                let seq =
                    parse_count(&p, u, "SequenceNumber")?.ok_or_else(|| XmlError::Missing {
                        path: join(&p, "SequenceNumber"),
                    })?;
                units.push(BulkConfirmUnit {
                    sequence_number: seq,
                    result: ResultBody::read_inner(&p, u)?,
                });
            }
        }
        Ok((
            enc,
            BulkFetchResponse {
                header,
                processing_result_status: body.required(bp, "ProcessingResultStatus")?.into(),
                processing_result_code: body.nonempty("ProcessingResultCode"),
                processing_result_message: body.nonempty("ProcessingResultMessage"),
                reception_number: body.nonempty("ReceptionNumber"),
                number_of_requests: parse_count(bp, body, "NumberOfRequests")?,
                number_of_processed: parse_count(bp, body, "NumberOfProcessed")?,
                number_of_normal_end: parse_count(bp, body, "NumberOfNormalEnd")?,
                number_of_errors: parse_count(bp, body, "NumberOfErrors")?,
                units,
            },
        ))
    }
}
