//! The OpenAPI document of the central's `/v1` API, generated from the handlers' annotations
//! and the request and response types themselves (utoipa). `onshi openapi` prints it; the
//! checked-in copy `docs/api/openapi.json` is compared with it by a test, and the HTTP tests
//! validate real responses against it.

use std::sync::LazyLock;

use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use crate::{ErrorBody, HistoryPage, ReaderRegistered, ReaderRevoked, assess, outage};

const DESCRIPTION: &str = "JSON API of onshi's central online qualification confirmation \
system (オンライン資格確認等システム). Every /v1 call except this document and /v1/assess is \
made by a facility with its bearer token (the facility is taken from the token) or, under \
/v1/operator, by a call-centre operator with an operator token. Qualification entries use the \
OQS XML element names (ResultOfQualificationConfirmation). Codes are strings with their \
leading zeros. Errors are {\"error\": {field, rule, message}}. See docs/api/README.md. This \
document is generated from the server's types (`onshi openapi`).";

#[derive(OpenApi)]
#[openapi(
    info(title = "onshi central OQS API", version = "1.0.0", description = DESCRIPTION),
    paths(
        crate::healthz,
        crate::openapi_document,
        crate::whoami,
        crate::card_nonce,
        crate::confirm_card,
        crate::revoke_own_reader,
        crate::confirm_numbers,
        crate::list_confirmations,
        crate::medical_info,
        crate::medical_views,
        assess::assess,
        outage::facility_status,
        outage::facility_request,
        outage::facility_request_view,
        outage::facility_cancel,
        outage::facility_report,
        outage::search,
        outage::select,
        outage::facility_audit,
        outage::operator_whoami,
        outage::operator_list,
        outage::operator_request,
        outage::operator_request_view,
        outage::operator_verify,
        outage::operator_issue_form,
        outage::operator_enable,
        outage::operator_close,
        outage::operator_cancel,
        outage::operator_audit,
        outage::operator_facility,
        outage::operator_register_reader,
        outage::operator_revoke_reader,
    ),
    components(schemas(ErrorBody, HistoryPage, ReaderRegistered, ReaderRevoked)),
    modifiers(&Security),
    security(("facilityToken" = [])),
    tags(
        (name = "confirmation", description = "qualification confirmation (R1–R7) and its history"),
        (name = "medical", description = "medical information under consent (R2)"),
        (name = "readers", description = "certified readers (docs/security.md)"),
        (name = "assess", description = "the desk's decision engine (docs/formats/assess.md)"),
        (name = "outage", description = "system-outage mode, the facility's side (R12–R14, R17)"),
        (name = "operator", description = "system-outage mode, the call centre's side (R13)"),
        (name = "service", description = "liveness and this document"),
    )
)]
pub struct ApiDoc;

struct Security;

impl Modify for Security {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        onshi_domain::desk::situation::open_presented_schemas(doc);
        let components = doc.components.get_or_insert_with(Default::default);
        let bearer = |what: &str| {
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(what))
                    .build(),
            )
        };
        components.add_security_scheme(
            "facilityToken",
            bearer("token printed by `onshi facility add` (or by `onshi demo`)"),
        );
        components.add_security_scheme(
            "operatorToken",
            bearer("call-centre operator token printed by `onshi operator add`"),
        );
    }
}

/// The document as pretty-printed JSON with a final newline, exactly as checked in.
pub fn document() -> &'static str {
    static DOC: LazyLock<String> = LazyLock::new(|| {
        let mut s = ApiDoc::openapi()
            .to_pretty_json()
            .expect("the OpenAPI document serialises");
        s.push('\n');
        s
    });
    &DOC
}
