//! Medical information under consent (R2): the drug-information request `YZKsiquc01req_*.xml`
//! (薬剤情報, with FileCategory 3 / 4 also 診療情報) and the checkup request
//! `TKKsiquc01req_*.xml` (特定健診情報), and their XML answers under the same name with `res`.
//!
//! The element names are those seen in open clinic software reading the real answers
//! (SPEC "Medical information under consent"): a request names the patient by the insurance
//! numbers in its `MessageHeader` (`InsurerNumber`, `InsuranceCardSymbol`,
//! `InsuredPersonIdentificationNumber`, `BranchNumber` — other names than the qualification
//! request's); an answer is a success when `ResultCode` is 1, else `MessageContents` says why.

use chrono::NaiveDate;
use onshi_domain::numbers::{
    BranchNumber, InsuredNumber, InsuredSymbol, InsurerNumber, MedicalInstitutionCode,
};
use serde::{Deserialize, Serialize};

use super::common::read_message;
use super::tree::{Element, join};
use super::{Encoding, XmlError, XmlWriter};

/// Which of the two requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum MedicalInfoMessage {
    /// `YZKsiquc01req_` 薬剤情報 (and 診療情報)
    Drug,
    /// `TKKsiquc01req_` 特定健診情報
    Checkup,
}

impl MedicalInfoMessage {
    pub fn id(self) -> &'static str {
        match self {
            MedicalInfoMessage::Drug => "YZKsiquc01",
            MedicalInfoMessage::Checkup => "TKKsiquc01",
        }
    }
}

/// `FileCategory`: 健診 1 PDF / 2 XML; 薬剤 1 PDF, 2 XML, 3 薬剤+診療 PDF, 4 薬剤+診療 XML.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum FileCategory {
    Pdf,
    Xml,
    WithDiagnosisPdf,
    WithDiagnosisXml,
}

impl FileCategory {
    pub fn code(self) -> &'static str {
        match self {
            FileCategory::Pdf => "1",
            FileCategory::Xml => "2",
            FileCategory::WithDiagnosisPdf => "3",
            FileCategory::WithDiagnosisXml => "4",
        }
    }

    pub fn is_pdf(self) -> bool {
        matches!(self, FileCategory::Pdf | FileCategory::WithDiagnosisPdf)
    }

    pub fn with_diagnosis(self) -> bool {
        matches!(
            self,
            FileCategory::WithDiagnosisPdf | FileCategory::WithDiagnosisXml
        )
    }
}

/// A `YZKsiquc01req` or `TKKsiquc01req`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MedicalInfoRequest {
    pub message: MedicalInfoMessage,
    pub medical_institution_code: MedicalInstitutionCode,
    pub insurer_number: InsurerNumber,
    /// `InsuranceCardSymbol` (absent for 後期高齢者 numbers)
    pub symbol: InsuredSymbol,
    /// `InsuredPersonIdentificationNumber`
    pub number: InsuredNumber,
    /// `BranchNumber`
    pub branch: Option<BranchNumber>,
    pub arbitrary_file_identifier: Option<String>,
    /// `StartDate` / `EndDate` (yyyyMM, drugs): the first day of each month
    pub start_month: Option<NaiveDate>,
    pub end_month: Option<NaiveDate>,
    pub file_category: FileCategory,
    /// `PrDiInfClassification`, kept as sent
    pub pr_di_inf_classification: Option<String>,
    /// `MedicalTreatmentFlag`: 2 訪問診療, 3 オンライン診療, kept as sent
    pub medical_treatment_flag: Option<String>,
}

fn month(path: &str, name: &str, s: &str) -> Result<NaiveDate, XmlError> {
    let bad = || XmlError::invalid(join(path, name), "must be a month as yyyyMM");
    if s.len() != 6 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    let y: i32 = s[..4].parse().map_err(|_| bad())?;
    let m: u32 = s[4..].parse().map_err(|_| bad())?;
    NaiveDate::from_ymd_opt(y, m, 1).ok_or_else(bad)
}

impl MedicalInfoRequest {
    /// Reads a request's bytes (UTF-8 or Shift_JIS) as `message`; returns the encoding too.
    pub fn read(message: MedicalInfoMessage, bytes: &[u8]) -> Result<(Encoding, Self), XmlError> {
        let (enc, root) = read_message(bytes)?;
        let p = "XmlMsg/MessageHeader";
        let h = root.required_child("XmlMsg", "MessageHeader")?;
        let field =
            |name: &str, e: &dyn std::fmt::Display| XmlError::invalid(join(p, name), e.to_string());
        let code = MedicalInstitutionCode::parse(h.required(p, "MedicalInstitutionCode")?)
            .map_err(|e| field("MedicalInstitutionCode", &e))?;
        let insurer_number = InsurerNumber::parse(h.required(p, "InsurerNumber")?)
            .map_err(|e| field("InsurerNumber", &e))?;
        let symbol = InsuredSymbol::parse(h.text_of("InsuranceCardSymbol").unwrap_or(""))
            .map_err(|e| field("InsuranceCardSymbol", &e))?;
        let number = InsuredNumber::parse(h.required(p, "InsuredPersonIdentificationNumber")?)
            .map_err(|e| field("InsuredPersonIdentificationNumber", &e))?;
        let branch = h
            .nonempty("BranchNumber")
            .map(|b| BranchNumber::parse(&b))
            .transpose()
            .map_err(|e| field("BranchNumber", &e))?;
        let afi = h.nonempty("ArbitraryFileIdentifier");
        if afi.as_ref().is_some_and(|a| a.chars().count() > 100) {
            return Err(XmlError::invalid(
                join(p, "ArbitraryFileIdentifier"),
                "at most 100 characters",
            ));
        }
        let bp = "XmlMsg/MessageBody";
        let b = root.required_child("XmlMsg", "MessageBody")?;
        let start_month = b
            .nonempty("StartDate")
            .map(|s| month(bp, "StartDate", &s))
            .transpose()?;
        let end_month = b
            .nonempty("EndDate")
            .map(|s| month(bp, "EndDate", &s))
            .transpose()?;
        if let (Some(s), Some(e)) = (start_month, end_month)
            && s > e
        {
            return Err(XmlError::invalid(
                join(bp, "EndDate"),
                "must not be before StartDate",
            ));
        }
        let fc = b.required(bp, "FileCategory")?;
        let file_category = match (message, fc) {
            (_, "1") => FileCategory::Pdf,
            (_, "2") => FileCategory::Xml,
            (MedicalInfoMessage::Drug, "3") => FileCategory::WithDiagnosisPdf,
            (MedicalInfoMessage::Drug, "4") => FileCategory::WithDiagnosisXml,
            (MedicalInfoMessage::Drug, _) => {
                return Err(XmlError::invalid(
                    join(bp, "FileCategory"),
                    "must be 1 (PDF), 2 (XML), 3 (薬剤+診療 PDF) or 4 (薬剤+診療 XML)",
                ));
            }
            (MedicalInfoMessage::Checkup, _) => {
                return Err(XmlError::invalid(
                    join(bp, "FileCategory"),
                    "must be 1 (PDF) or 2 (XML)",
                ));
            }
        };
        Ok((
            enc,
            MedicalInfoRequest {
                message,
                medical_institution_code: code,
                insurer_number,
                symbol,
                number,
                branch,
                arbitrary_file_identifier: afi,
                start_month,
                end_month,
                file_category,
                pr_di_inf_classification: b.nonempty("PrDiInfClassification"),
                medical_treatment_flag: b.nonempty("MedicalTreatmentFlag"),
            },
        ))
    }
}

/// `MessageHeader` of an answer. `ResultCode` 1 is a success; otherwise `MessageContents`
/// says why (onshi's codes: docs/formats/terminal-xml.md).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct MedicalInfoHeader {
    /// yyyyMMddHHmmss (JST)
    pub process_execution_time: String,
    pub medical_institution_code: String,
    pub arbitrary_file_identifier: Option<String>,
    pub result_code: String,
    pub message_contents: Option<String>,
    /// OQSCD005
    pub character_code_identifier: String,
}

impl MedicalInfoHeader {
    fn write_leaves(&self, w: &mut XmlWriter) {
        w.leaf("ProcessExecutionTime", &self.process_execution_time);
        w.leaf("MedicalInstitutionCode", &self.medical_institution_code);
        w.opt_leaf(
            "ArbitraryFileIdentifier",
            self.arbitrary_file_identifier.as_deref(),
        );
        w.leaf("ResultCode", &self.result_code);
        w.opt_leaf("MessageContents", self.message_contents.as_deref());
        w.leaf("CharacterCodeIdentifier", &self.character_code_identifier);
    }

    fn read(h: &Element) -> Result<Self, XmlError> {
        let p = "XmlMsg/MessageHeader";
        Ok(MedicalInfoHeader {
            process_execution_time: h.required(p, "ProcessExecutionTime")?.to_string(),
            medical_institution_code: h.required(p, "MedicalInstitutionCode")?.to_string(),
            arbitrary_file_identifier: h.nonempty("ArbitraryFileIdentifier"),
            result_code: h.required(p, "ResultCode")?.to_string(),
            message_contents: h.nonempty("MessageContents"),
            character_code_identifier: h.required(p, "CharacterCodeIdentifier")?.to_string(),
        })
    }

    pub fn is_success(&self) -> bool {
        self.result_code == "1"
    }
}

leaves!(
    /// `QuaInf`: who the drug answer is about.
    QuaInf {
        name: "Name",
        /// half-width katakana
        kana_name: "KanaName",
        /// yyyyMMdd
        birth: "Birth",
        /// 1 男, 2 女
        adm_gend_code: "AdmGendCode",
    }
);

leaves!(
    /// The leading elements of a `MeTrMonthInf` / `ShPrMonthInf` / `CzDiMonthInf`.
    MonthHead {
        /// 1 医療機関, 2 薬局 (onshi's reading)
        di_org: "DiOrg",
        me_tr_di_h_cd: "MeTrDiHCd",
        me_tr_di_h_nm: "MeTrDiHNm",
        /// yyyyMM
        me_tr_month: "MeTrMonth",
        prls_h_cd: "PrlsHCd",
        prls_h_nm: "PrlsHNm",
        /// 1 医療機関 (the prescriber's kind)
        pr_is_org: "PrIsOrg",
        /// 1 院内, 2 院外
        in_out: "InOut",
    }
);

leaves!(
    /// One `DrugInf`.
    DrugInf {
        drug_c: "DrugC",
        drug_n: "DrugN",
        ingre_n: "IngreN",
        qua1: "Qua1",
        unit: "Unit",
        usage_n: "UsageN",
        sp_inst: "SpInst",
        times: "Times",
        me_tr_id_cl: "MeTrIdCl",
    }
);

leaves!(
    /// One `MeTrInf` (診療情報).
    MeTrInf {
        sin_inf_cd: "SinInfCd",
        sin_inf_n: "SinInfN",
        me_tr_id_cl: "MeTrIdCl",
        qua1: "Qua1",
        times: "Times",
        unit: "Unit",
    }
);

/// One `DiDateInf`: a dispensing day with its drugs.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct DiDateInf {
    /// yyyyMMdd
    pub di_date: String,
    pub pr_date: Option<String>,
    pub drugs: Vec<DrugInf>,
}

/// One month at one facility.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct MonthInf {
    pub head: MonthHead,
    pub days: Vec<DiDateInf>,
    /// `MeTrInfs` (only in a 薬剤+診療 answer)
    pub treatments: Vec<MeTrInf>,
}

impl MonthInf {
    fn write(&self, w: &mut XmlWriter) {
        self.head.write(w);
        if !self.days.is_empty() {
            w.open("DiDateInfs");
            for d in &self.days {
                w.open("DiDateInf");
                w.leaf("DiDate", &d.di_date);
                w.opt_leaf("PrDate", d.pr_date.as_deref());
                w.open("DrugInfs");
                for g in &d.drugs {
                    w.open("DrugInf");
                    g.write(w);
                    w.close();
                }
                w.close();
                w.close();
            }
            w.close();
        }
        if !self.treatments.is_empty() {
            w.open("MeTrInfs");
            for t in &self.treatments {
                w.open("MeTrInf");
                t.write(w);
                w.close();
            }
            w.close();
        }
    }

    fn read(el: &Element) -> Self {
        MonthInf {
            head: MonthHead::read(el),
            days: el
                .child("DiDateInfs")
                .map(|l| {
                    l.children_named("DiDateInf")
                        .map(|d| DiDateInf {
                            di_date: d.nonempty("DiDate").unwrap_or_default(),
                            pr_date: d.nonempty("PrDate"),
                            drugs: d
                                .child("DrugInfs")
                                .map(|x| x.children_named("DrugInf").map(DrugInf::read).collect())
                                .unwrap_or_default(),
                        })
                        .collect()
                })
                .unwrap_or_default(),
            treatments: el
                .child("MeTrInfs")
                .map(|l| l.children_named("MeTrInf").map(MeTrInf::read).collect())
                .unwrap_or_default(),
        }
    }
}

/// The answer to `YZKsiquc01req` (FileCategory 2 or 4), or its refusal.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct DrugInfoResponse {
    pub header: MedicalInfoHeader,
    pub qua_inf: Option<QuaInf>,
    /// `MeTrMonthInf`: from the claims
    pub claims: Vec<MonthInf>,
    /// `ShPrInf/ShPrMonthInf`: 電子処方箋 prescriptions
    pub prescriptions: Vec<MonthInf>,
    /// `CzDiInf/CzDiMonthInf`: 電子処方箋 dispensing
    pub dispensings: Vec<MonthInf>,
}

impl DrugInfoResponse {
    pub fn write(&self, enc: Encoding) -> Result<Vec<u8>, XmlError> {
        let mut w = XmlWriter::new(enc);
        w.open("XmlMsg");
        w.open("MessageHeader");
        self.header.write_leaves(&mut w);
        if let Some(q) = &self.qua_inf {
            w.open("QuaInf");
            q.write(&mut w);
            w.close();
        }
        w.close();
        w.open("MessageBody");
        for m in &self.claims {
            w.open("MeTrMonthInf");
            m.write(&mut w);
            w.close();
        }
        for (outer, inner, list) in [
            ("ShPrInf", "ShPrMonthInf", &self.prescriptions),
            ("CzDiInf", "CzDiMonthInf", &self.dispensings),
        ] {
            if !list.is_empty() {
                w.open(outer);
                for m in list {
                    w.open(inner);
                    m.write(&mut w);
                    w.close();
                }
                w.close();
            }
        }
        w.close();
        w.finish()
    }

    pub fn read(bytes: &[u8]) -> Result<(Encoding, Self), XmlError> {
        let (enc, root) = read_message(bytes)?;
        let h = root.required_child("XmlMsg", "MessageHeader")?;
        let b = root.required_child("XmlMsg", "MessageBody")?;
        let nested = |outer: &str, inner: &'static str| -> Vec<MonthInf> {
            b.child(outer)
                .map(|l| l.children_named(inner).map(MonthInf::read).collect())
                .unwrap_or_default()
        };
        Ok((
            enc,
            DrugInfoResponse {
                header: MedicalInfoHeader::read(h)?,
                qua_inf: h.child("QuaInf").map(QuaInf::read),
                claims: b
                    .children_named("MeTrMonthInf")
                    .map(MonthInf::read)
                    .collect(),
                prescriptions: nested("ShPrInf", "ShPrMonthInf"),
                dispensings: nested("CzDiInf", "CzDiMonthInf"),
            },
        ))
    }
}

leaves!(
    /// `QualificationsInfo`: who the checkup answer is about.
    QualificationsInfo {
        name: "Name",
        kanas_name: "KanasName",
        /// yyyyMMdd
        birthday: "Birthday",
        /// 1 男, 2 女
        administrative_gender_code: "AdministrativeGenderCode",
    }
);

leaves!(
    /// One `HealthCheckupResultAndQuestionInfo`.
    HealthCheckupResultAndQuestionInfo {
        item_code: "ItemCode",
        item_name: "ItemName",
        /// PQ 数値, CD コード, ST 文字列
        data_type: "DataType",
        data_value: "DataValue",
        unit: "Unit",
        oid: "Oid",
        data_value_name: "DataValueName",
    }
);

/// One `SpecificHealthCheckupInfo`: one checkup.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct SpecificHealthCheckupInfo {
    /// yyyyMMdd
    pub effective_time: String,
    pub items: Vec<HealthCheckupResultAndQuestionInfo>,
}

/// The answer to `TKKsiquc01req` (FileCategory 2), or its refusal.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct CheckupInfoResponse {
    pub header: MedicalInfoHeader,
    pub qualifications_info: Option<QualificationsInfo>,
    pub checkups: Vec<SpecificHealthCheckupInfo>,
}

impl CheckupInfoResponse {
    pub fn write(&self, enc: Encoding) -> Result<Vec<u8>, XmlError> {
        let mut w = XmlWriter::new(enc);
        w.open("XmlMsg");
        w.open("MessageHeader");
        self.header.write_leaves(&mut w);
        if let Some(q) = &self.qualifications_info {
            w.open("QualificationsInfo");
            q.write(&mut w);
            w.close();
        }
        w.close();
        w.open("MessageBody");
        for c in &self.checkups {
            w.open("SpecificHealthCheckupInfo");
            w.leaf("EffectiveTime", &c.effective_time);
            w.open("HealthCheckupResultAndQuestionInfos");
            for i in &c.items {
                w.open("HealthCheckupResultAndQuestionInfo");
                i.write(&mut w);
                w.close();
            }
            w.close();
            w.close();
        }
        w.close();
        w.finish()
    }

    pub fn read(bytes: &[u8]) -> Result<(Encoding, Self), XmlError> {
        let (enc, root) = read_message(bytes)?;
        let h = root.required_child("XmlMsg", "MessageHeader")?;
        let b = root.required_child("XmlMsg", "MessageBody")?;
        Ok((
            enc,
            CheckupInfoResponse {
                header: MedicalInfoHeader::read(h)?,
                qualifications_info: h.child("QualificationsInfo").map(QualificationsInfo::read),
                checkups: b
                    .children_named("SpecificHealthCheckupInfo")
                    .map(|c| SpecificHealthCheckupInfo {
                        effective_time: c.nonempty("EffectiveTime").unwrap_or_default(),
                        items: c
                            .child("HealthCheckupResultAndQuestionInfos")
                            .map(|l| {
                                l.children_named("HealthCheckupResultAndQuestionInfo")
                                    .map(HealthCheckupResultAndQuestionInfo::read)
                                    .collect()
                            })
                            .unwrap_or_default(),
                    })
                    .collect(),
            },
        ))
    }
}
