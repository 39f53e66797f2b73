//! Single qualification confirmation: `OQSsiquc01req_*.xml` (the receipt computer asks with the
//! numbers of an insurance card or 資格確認書, 照会区分 2, R7) and its answer
//! `OQSsiquc01res_*.xml`, whose format the face files share ([`super::face`]).

use super::common::{RequestHeader, ResponseHeader, ResultBody, SearchInfo, read_message};
use super::{Encoding, XmlError, XmlWriter};

/// `OQSsiquc01req`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SingleRequest {
    pub header: RequestHeader,
    pub search: SearchInfo,
}

impl SingleRequest {
    /// Reads a request file's bytes; returns the encoding it was written in too.
    pub fn read(bytes: &[u8]) -> Result<(Encoding, Self), XmlError> {
        let (enc, root) = read_message(bytes)?;
        let header = RequestHeader::read(&root)?;
        let body = root.required_child("XmlMsg", "MessageBody")?;
        let p = "XmlMsg/MessageBody/QualificationConfirmSearchInfo";
        let info = body.required_child("XmlMsg/MessageBody", "QualificationConfirmSearchInfo")?;
        let search = SearchInfo::read(p, info)?;
        Ok((enc, SingleRequest { header, search }))
    }

    pub fn write(&self, enc: Encoding) -> Result<Vec<u8>, XmlError> {
        let mut w = XmlWriter::new(enc);
        w.open("XmlMsg");
        self.header.write(&mut w);
        w.open("MessageBody");
        self.search.write(&mut w);
        w.close();
        w.finish()
    }
}

/// `OQSsiquc01res` (and the face files): header plus a [`ResultBody`].
#[derive(Debug, Clone, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub struct QualificationResponse {
    pub header: ResponseHeader,
    pub body: ResultBody,
}

impl QualificationResponse {
    pub fn write(&self, enc: Encoding) -> Result<Vec<u8>, XmlError> {
        let mut w = XmlWriter::new(enc);
        w.open("XmlMsg");
        self.header.write(&mut w);
        w.open("MessageBody");
        self.body.write_inner(&mut w);
        w.close();
        w.finish()
    }

    pub fn read(bytes: &[u8]) -> Result<(Encoding, Self), XmlError> {
        let (enc, root) = read_message(bytes)?;
        let header = ResponseHeader::read(&root)?;
        let body = root.required_child("XmlMsg", "MessageBody")?;
        let body = ResultBody::read_inner("XmlMsg/MessageBody", body)?;
        Ok((enc, QualificationResponse { header, body }))
    }

    /// The rule open-source receipt software applies: confirmed only when 正常終了, status
    /// 正常, 有効 and exactly one entry.
    pub fn is_confirmed(&self) -> bool {
        self.header.segment_of_result == "1"
            && self.body.processing_result_status == "1"
            && self.body.qualification_validity.as_deref() == Some("1")
            && self.body.results.len() == 1
    }
}
