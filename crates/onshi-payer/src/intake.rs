//! Intake: what a submitted file must satisfy before any of it is accepted.
//!
//! A file is accepted whole or refused whole: every reason is collected (line, record, field,
//! rule) and nothing is stored when there is one. The layout itself is checked by the UKE
//! reader (`onshi_formats::uke`); this module adds what only the payer can check — that the
//! file is addressed to this payer, comes from the facility that sent it and is registered
//! with the payer, and that each claim is consistent (service month not after the billing
//! month, days within the month and matching 診療実日数, 不詳 only from the 2023-09 claims).
//!
//! Pure: no I/O, no clock.

use std::collections::HashSet;

use serde::{Deserialize, Serialize};

use crate::model::{Claim, PayerCode, YearMonth};
use crate::rules::PayerCalendar;

/// The file header (IR) as the payer reads it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileHeader {
    /// line of the IR record
    pub line: u32,
    pub payer: PayerCode,
    /// 10 digits: 都道府県 (2) + 点数表 (1) + 医療機関コード (7)
    pub facility: String,
    pub facility_name: String,
    pub billing_month: YearMonth,
}

/// A file read into the payer's model.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ParsedFile {
    pub header: FileHeader,
    pub claims: Vec<Claim>,
}

/// One reason a file is refused.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LineError {
    /// 1-based line of the file (0: the file as a whole)
    pub line: u32,
    /// record id (IR, RE, HO …) where known
    pub record: Option<String>,
    pub field: Option<String>,
    /// the rule broken: a layout rule (`layout`) or a rule id (R20 …) or a payer rule
    pub rule: String,
    pub message: String,
}

impl LineError {
    pub fn new(
        line: u32,
        record: &str,
        field: &str,
        rule: &str,
        message: impl Into<String>,
    ) -> Self {
        LineError {
            line,
            record: Some(record.to_string()),
            field: Some(field.to_string()),
            rule: rule.to_string(),
            message: message.into(),
        }
    }
}

/// The sender and receiver of a file, as authenticated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Addressing<'a> {
    pub payer: PayerCode,
    /// the authenticated facility
    pub facility: &'a str,
    /// whether that facility is registered with this payer
    pub registered: bool,
}

/// Every reason the payer refuses `file` (empty: accept).
pub fn validate(file: &ParsedFile, to: &Addressing<'_>, cal: &PayerCalendar) -> Vec<LineError> {
    let mut errs = Vec::new();
    let h = &file.header;
    if h.payer != to.payer {
        errs.push(LineError::new(
            h.line,
            "IR",
            "審査支払機関",
            "payer.addressee",
            format!(
                "the file is addressed to {} ({}), not to this payer ({})",
                h.payer.label(),
                h.payer.code(),
                to.payer.code()
            ),
        ));
    }
    if h.facility != to.facility {
        errs.push(LineError::new(
            h.line,
            "IR",
            "医療機関コード",
            "payer.sender",
            format!(
                "the file names facility {}, but was sent by facility {}",
                h.facility, to.facility
            ),
        ));
    }
    if !to.registered {
        errs.push(LineError::new(
            h.line,
            "IR",
            "医療機関コード",
            "payer.registration",
            format!("facility {} is not registered with this payer", to.facility),
        ));
    }
    if file.claims.is_empty() {
        errs.push(LineError {
            line: 0,
            record: None,
            field: None,
            rule: "layout".into(),
            message: "the file holds no claim (RE)".into(),
        });
    }
    let mut seen = HashSet::new();
    for c in &file.claims {
        if !seen.insert(c.receipt_number) {
            errs.push(LineError::new(
                c.line,
                "RE",
                "レセプト番号",
                "layout",
                format!(
                    "レセプト番号 {} appears twice in the file",
                    c.receipt_number
                ),
            ));
        }
        if c.service_month > h.billing_month {
            errs.push(LineError::new(
                c.line,
                "RE",
                "診療年月",
                "layout",
                format!(
                    "診療年月 {} is after the 請求年月 {}",
                    c.service_month, h.billing_month
                ),
            ));
        }
        if c.birthdate > c.service_month.plus(1).first_day() {
            errs.push(LineError::new(
                c.line,
                "RE",
                "生年月日",
                "layout",
                format!(
                    "生年月日 {} is after the 診療年月 {}",
                    c.birthdate, c.service_month
                ),
            ));
        }
        let last = c.service_month.days_in_month();
        if let Some(d) = c.service_days.iter().find(|d| **d == 0 || **d > last) {
            errs.push(LineError::new(
                c.line,
                "JD",
                "診療日",
                "layout",
                format!("day {d} is not a day of {}", c.service_month),
            ));
        }
        if !c.service_days.is_empty() && c.service_days.len() as u32 != c.actual_days {
            errs.push(LineError::new(
                c.line,
                "HO",
                "診療実日数",
                "layout",
                format!(
                    "診療実日数 {} differs from the {} days marked in JD",
                    c.actual_days,
                    c.service_days.len()
                ),
            ));
        }
        if c.is_fusho() && c.service_month < cal.fusho_allowed_from {
            errs.push(LineError::new(
                c.line,
                "HO",
                "保険者番号",
                "R20",
                format!(
                    "不詳 claims are allowed from the {} claims; this one is for {}",
                    cal.fusho_allowed_from, c.service_month
                ),
            ));
        }
    }
    errs
}
