//! Every free-text field of the desk holds hostile text, and every page that shows it shows it
//! as text: `<script>`, both quotes and `&` come back escaped, never as markup.

mod common;

use common::{DAY, DeskClient, HOSTILE, enc, start_world};

/// The page shows the hostile text, and only escaped.
fn escaped(page: &str, body: &str) {
    assert!(
        !body.contains("<script>alert"),
        "{page}: hostile text came back as markup:\n{body}"
    );
    assert!(
        !body.contains("\"&'") && !body.contains("</script>\""),
        "{page}: quotes or & came back unescaped"
    );
    assert!(
        body.contains("&#60;script&#62;alert(&#39;x&#39;)&#60;/script&#62;&#34;&#38;&#39;"),
        "{page}: the hostile text is not shown (escaped) at all:\n{body}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn xss_every_free_text_field_of_the_desk_is_escaped_on_every_page_that_shows_it() {
    let w = start_world().await;
    // a staff account whose id and name are hostile: the header, the steps table, the
    // 目視確認 staff on the visit and in the history
    let d = DeskClient::as_staff(&w.clinic, HOSTILE).await;
    let (_, body) = d.get("/desk/").await;
    escaped("home (signed-in name)", &body);
    let (status, v, body) = d
        .post(
            "/desk/visits",
            &[
                ("presence", "at_desk"),
                ("service_date", DAY),
                ("staff", HOSTILE),
            ],
        )
        .await;
    assert_eq!(status, 200, "{body}");
    escaped("visit (staff)", &body);

    // a message passed back to the visit screen
    let (_, body) = d.get(&format!("{v}?msg={}", enc(HOSTILE))).await;
    escaped("visit (message)", &body);

    // the card serial (too long for the reader, so refused — and shown back nowhere raw),
    // then a real card read with the hostile staff member's 目視確認: the history shows it
    let (_, _, body) = d
        .post(
            &format!("{v}/act"),
            &[("action", "card_received"), ("card_serial", HOSTILE)],
        )
        .await;
    assert!(!body.contains("<script>alert"), "{body}");
    let (_, _, body) = d
        .post(
            &format!("{v}/act"),
            &[("action", "card_received"), ("card_serial", "C0001")],
        )
        .await;
    assert!(!body.contains("<script>alert"));
    let (status, _, body) = d
        .post(
            &format!("{v}/act"),
            &[
                ("action", "reader"),
                ("mode", "visual"),
                ("visual_done", "on"),
            ],
        )
        .await;
    assert_eq!(status, 200, "{body}");
    escaped("visit (visual staff)", &body);
    let (_, body) = d.get("/desk/history?card_serial=C0001").await;
    escaped("history (visual staff)", &body);
    // the history filter echoes what was typed
    let (_, body) = d
        .get(&format!("/desk/history?card_serial={}", enc(HOSTILE)))
        .await;
    escaped("history (filter)", &body);

    // an insurer name typed from a document: the visit's confirmation panel
    let (_, v2, _) = d
        .post(
            "/desk/visits",
            &[
                ("presence", "at_desk"),
                ("service_date", DAY),
                ("staff", "S01"),
            ],
        )
        .await;
    d.post(&format!("{v2}/act"), &[("action", "no_card")]).await;
    let (status, _, body) = d
        .post(
            &format!("{v2}/act"),
            &[
                ("action", "doc_shown"),
                ("doc", "kakuninsho"),
                ("insurer_number", "01130012"),
                ("symbol", "1001"),
                ("number", "2001"),
                ("branch", "00"),
                ("insurer_name", HOSTILE),
            ],
        )
        .await;
    assert_eq!(status, 200, "{body}");
    escaped("visit (insurer name)", &body);

    // the 申立書: every text field, refused (a bad birth year) and shown back, then accepted
    let (_, v3, _) = d
        .post(
            "/desk/visits",
            &[
                ("presence", "at_desk"),
                ("service_date", DAY),
                ("staff", "S01"),
            ],
        )
        .await;
    d.post(&format!("{v3}/act"), &[("action", "no_card")]).await;
    let texts = [
        "insurer_name",
        "employer",
        "name",
        "name_kana",
        "address",
        "other_residence",
        "signer_relation",
        "phone",
    ];
    let mut form: Vec<(&str, &str)> = texts.iter().map(|k| (*k, HOSTILE)).collect();
    form.extend([
        ("has_valid_insurance", "on"),
        ("insurance_type", "shaho"),
        ("signed_by_other", "on"),
        ("era", "heisei"),
        ("birth_year", HOSTILE),
        ("birth_month", "7"),
        ("birth_day", "15"),
    ]);
    let (status, _, body) = d.post(&format!("{v3}/moushitatesho"), &form).await;
    assert_eq!(status, 400, "a hostile birth year is refused");
    escaped("申立書 entry (refused)", &body);
    for k in texts {
        assert!(
            body.contains(&format!(
                "name=\"{k}\" id=\"f-{k}\" value=\"&#60;script&#62;"
            )),
            "{k} not shown back escaped"
        );
    }
    let ok: Vec<(&str, &str)> = form
        .iter()
        .map(|(k, v)| {
            if *k == "birth_year" {
                (*k, "4")
            } else {
                (*k, *v)
            }
        })
        .filter(|(k, _)| *k != "phone" && *k != "name_kana")
        .collect();
    let (status, _, body) = d.post(&format!("{v3}/moushitatesho"), &ok).await;
    assert_eq!(status, 200, "{body}");
    escaped("visit (申立書 accepted: name, 摘要欄)", &body);
    let (_, body) = d.get(&format!("{v3}/moushitatesho")).await;
    escaped("申立書 entry (stored)", &body);
    let (_, body) = d.get(&format!("{v3}/moushitatesho/print")).await;
    escaped("申立書 print", &body);
    let (_, body) = d.get("/desk/").await;
    escaped("home (patient name from the 申立書)", &body);

    // the 事後確認 worklist's messages
    let (_, body) = d
        .get(&format!("/desk/unconfirmed?msg={}", enc(HOSTILE)))
        .await;
    escaped("worklist (message)", &body);
    let id = v3.rsplit('/').next().unwrap_or("1");
    let (_, body) = d
        .get(&format!("/desk/unconfirmed/{id}?msg={}", enc(HOSTILE)))
        .await;
    escaped("unconfirmed visit (message)", &body);
}
