//! The OpenAPI document of the desk's JSON routes — the claims API under `/desk/api/` and the
//! JSON reads of a visit under the staff session — generated from the handlers' annotations and
//! the request and response types themselves (utoipa), as the central's is. It is served at
//! `/desk/api/openapi.json`; `onshi openapi --desk` prints it; the checked-in copy
//! `docs/api/desk-openapi.json` is compared with it by a test, and the desk's HTTP tests
//! validate real answers against it.

use std::sync::LazyLock;

use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use crate::claims::web::{self, ErrorBody};

const DESCRIPTION: &str = "JSON routes of onshi's reception desk (受付), served by the \
facility's terminal beside its own API. Two kinds: the claims API under /desk/api/ for the \
receipt computer (レセコン) and the payer's settlement hook — contents of visits, the month's \
check and close, the UKE files, the settlement with the purge of settled 申立書 (R27); and the \
JSON reads of a visit (situation.json, claim.json) under the staff login session of the desk's \
screens (the cookie onshi_desk_<医療機関コード>; without it the answer is a redirect to the login \
page). The claims API takes the receipt computer's credential: Authorization: Bearer with the \
terminal's API token (the one its /v1 API takes, made anew at each start and written to \
<data>/api.token, mode 0600; security scheme terminalToken), or the staff session when the \
desk's own screens call it (deskSession: the 請求 screen's file links; a post also needs the \
session's X-CSRF-Token and the desk's Origin); without either, 401 with the class auth. The \
settlement hook takes a statement only signed by its payer with a key the facility registered \
(payerSignature: 401 without a signature, 403 with one refused; nothing purged). The OpenAPI \
document is public. Errors are \
{\"error\": {\"class\", \"message\"}} with the field and the rule in the message, every \
problem of a refused content in `problems`, the open items of a blocked close in `open`. See \
docs/api/README.md and docs/claims.md. This document is generated from the desk's types \
(`onshi openapi --desk`).";

#[derive(OpenApi)]
#[openapi(
    info(title = "onshi desk API", version = "1.0.0", description = DESCRIPTION),
    paths(
        web::openapi_document,
        web::put_content,
        web::get_content,
        web::post_contents,
        web::get_settings,
        web::put_settings,
        web::post_settlement,
        web::get_file,
        web::get_month,
        web::post_close,
        web::post_reclaim,
        crate::web::history::situation_json,
        crate::web::worklist::claim_json,
    ),
    components(schemas(ErrorBody)),
    modifiers(&Security),
    tags(
        (name = "claims", description = "the facility's claims (docs/claims.md): contents, month close, UKE files, settlement (R11, R17–R20, R27)"),
        (name = "visits", description = "a visit read as JSON under the staff session (docs/desk.md)"),
        (name = "service", description = "this document"),
    )
)]
pub struct DeskApiDoc;

struct Security;

impl Modify for Security {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        onshi_domain::desk::situation::open_presented_schemas(doc);
        let components = doc.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "terminalToken",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(
                        "the terminal's API token, the receipt computer's credential: the one \
                         the terminal's /v1 API takes, made anew at each start of the terminal \
                         and written to <data>/api.token (mode 0600) for the programs of the \
                         facility's machine; compared in constant time",
                    ))
                    .build(),
            ),
        );
        components.add_security_scheme(
            "payerSignature",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
                "X-Onshi-Payer-Signature",
                "a payer's signature on its settlement statement: `<payer>:<hex>`, the payer \
                 (1 支払基金, 2 国保連, the statement's) and its ed25519 signature (128 hex \
                 digits) over the exact bytes of the body, by a key the facility registered in \
                 its claim settings (payer_keys; `onshi payer key` prints the payer's)",
            ))),
        );
        components.add_security_scheme(
            "deskSession",
            SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::with_description(
                "onshi_desk_<医療機関コード>",
                "the desk's staff session (POST /desk/login with staff_id and password; \
                 accounts by `onshi staff add`): an HttpOnly, SameSite=Strict cookie holding \
                 only the id of a server-side session, which ends on logout or after 30 \
                 minutes without activity",
            ))),
        );
    }
}

/// The document as pretty-printed JSON with a final newline, exactly as checked in.
pub fn document() -> &'static str {
    static DOC: LazyLock<String> = LazyLock::new(|| {
        let mut s = DeskApiDoc::openapi()
            .to_pretty_json()
            .expect("the OpenAPI document serialises");
        s.push('\n');
        s
    });
    &DOC
}
