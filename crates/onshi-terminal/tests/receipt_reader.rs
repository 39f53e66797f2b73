//! Every answer class read the way open-source receipt software reads it: the XML into a
//! generic tree (quick-xml events, none of onshi's own reader), elements found by name in any
//! order, `ResultList` as a list; the JSON as a generic value. Then the checks such software
//! makes before it registers a patient's insurance: 正常終了, 有効 with exactly one entry, the
//! card validity date (`InsuredCardValidDate`), a numeric insurer number, the number, the ratio
//! (後期) or the family class, the 高齢受給者 ratio where that block exists, and the patient found
//! by name, kana and birth date.

mod common;

use std::time::Duration;

use common::*;
use quick_xml::events::Event;

/// A generic XML element: name, text, children.
#[derive(Debug, Default)]
struct Node {
    name: String,
    text: String,
    children: Vec<Node>,
}

impl Node {
    fn child(&self, name: &str) -> Option<&Node> {
        self.children.iter().find(|c| c.name == name)
    }
    fn text_of(&self, name: &str) -> Option<&str> {
        self.child(name)
            .map(|c| c.text.trim())
            .filter(|t| !t.is_empty())
    }
}

fn tree(bytes: &[u8]) -> Node {
    let text = std::str::from_utf8(bytes).expect("UTF-8 answer");
    let mut r = quick_xml::Reader::from_str(text);
    let mut stack = vec![Node::default()];
    loop {
        match r.read_event().expect("well-formed XML") {
            Event::Start(e) => stack.push(Node {
                name: String::from_utf8_lossy(e.name().as_ref()).into_owned(),
                ..Node::default()
            }),
            Event::Empty(e) => {
                let n = Node {
                    name: String::from_utf8_lossy(e.name().as_ref()).into_owned(),
                    ..Node::default()
                };
                stack.last_mut().unwrap().children.push(n);
            }
            Event::Text(t) => {
                let s = t.decode().expect("text").into_owned();
                stack.last_mut().unwrap().text.push_str(&s);
            }
            Event::End(_) => {
                let n = stack.pop().unwrap();
                stack.last_mut().unwrap().children.push(n);
            }
            Event::Eof => break,
            _ => {}
        }
    }
    stack.pop().unwrap().children.pop().expect("a root element")
}

/// What the receipt software registers, or why it refuses.
#[derive(Debug)]
struct Registered {
    insurer: String,
    number: String,
    valid_from: String,
    ratio_or_family: String,
    elderly_ratio: Option<String>,
    post_number: Option<String>,
}

fn register_from_xml(root: &Node) -> Result<Registered, String> {
    assert_eq!(root.name, "XmlMsg");
    let h = root.child("MessageHeader").ok_or("no MessageHeader")?;
    let b = root.child("MessageBody").ok_or("no MessageBody")?;
    if h.text_of("SegmentOfResult") != Some("1") || b.text_of("ProcessingResultStatus") != Some("1")
    {
        return Err("not 正常終了".into());
    }
    if b.text_of("QualificationValidity") != Some("1") {
        return Err("not 有効".into());
    }
    let list: Vec<&Node> = b
        .child("ResultList")
        .ok_or("no ResultList")?
        .children
        .iter()
        .filter(|c| c.name == "ResultOfQualificationConfirmation")
        .collect();
    if list.len() != 1 {
        return Err(format!("{} entries", list.len()));
    }
    let e = list[0];
    for who in ["Name", "NameKana", "Birthdate"] {
        e.text_of(who).ok_or(format!("no {who}"))?;
    }
    let valid_from = e
        .text_of("InsuredCardValidDate")
        .ok_or("保険証の有効期限開始日がありません")?
        .to_string();
    assert!(valid_from.len() == 8 && valid_from.bytes().all(|c| c.is_ascii_digit()));
    let insurer = e
        .text_of("InsurerNumber")
        .ok_or("no InsurerNumber")?
        .to_string();
    if !insurer.bytes().all(|c| c.is_ascii_digit()) {
        return Err(format!("insurer {insurer} not numeric"));
    }
    let number = e
        .text_of("InsuredIdentificationNumber")
        .ok_or("no number")?
        .to_string();
    let ratio_or_family = if insurer.starts_with("39") {
        e.text_of("InsuredPartialContributionRatio")
            .ok_or("後期 without ratio")?
    } else {
        e.text_of("PersonalFamilyClassification")
            .ok_or("no family class")?
    }
    .to_string();
    let elderly_ratio = match e.child("ElderlyRecipientCertificateInfo") {
        Some(el) => Some(
            el.text_of("ElderlyRecipientContributionRatio")
                .ok_or("高齢受給者 block without its ratio")?
                .to_string(),
        ),
        None => None,
    };
    Ok(Registered {
        insurer,
        number,
        valid_from,
        ratio_or_family,
        elderly_ratio,
        post_number: e.text_of("PostNumber").map(str::to_string),
    })
}

const T: Duration = Duration::from_secs(20);

async fn res(dir: &std::path::Path, name: &str, req: &[u8]) -> Node {
    put_request(dir, name, req);
    tree(&wait_answer(dir, name, T).await)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn receipt_software_registers_a_patient_from_every_answer_class() {
    let c = start_central().await;
    let dir = tempfile::tempdir().unwrap();
    let t = start_terminal(&c, dir.path(), &[]);
    let kyokai = c.fx.kyokai.as_str().to_string();

    // res: 照会区分 2, an ordinary insured
    let root = res(
        t.dir.as_path(),
        "OQSsiquc01req_valid.xml",
        &single_request(&kyokai, "1001", "2001", "00", "19800402", false),
    )
    .await;
    let r = register_from_xml(&root).unwrap();
    assert_eq!(
        (r.insurer.as_str(), r.number.as_str()),
        (kyokai.as_str(), "2001")
    );
    assert_eq!(r.valid_from, "20150401");
    assert_eq!(r.ratio_or_family, "1");
    assert_eq!(r.post_number.as_deref(), Some("1000001"));

    // res: 72 years old with a 高齢受給者証
    let root = res(
        t.dir.as_path(),
        "OQSsiquc01req_elderly.xml",
        &single_request(&kyokai, "1001", "2008", "00", "19540610", false),
    )
    .await;
    let r = register_from_xml(&root).unwrap();
    assert_eq!(r.elderly_ratio.as_deref(), Some("020"));

    // res: 後期 (no symbol), a 資格確認書 with its end date
    let koki = c.fx.koki.as_str().to_string();
    let req = String::from_utf8(single_request(&koki, "", "39009", "00", "19460120", false))
        .unwrap()
        .replace("<InsuredCardSymbol></InsuredCardSymbol>", "");
    let root = res(t.dir.as_path(), "OQSsiquc01req_koki.xml", req.as_bytes()).await;
    let r = register_from_xml(&root).unwrap_or_else(|e| panic!("{e}: {root:?}"));
    assert_eq!(r.ratio_or_family, "010");
    let entry = root
        .child("MessageBody")
        .and_then(|b| b.child("ResultList"))
        .and_then(|l| l.child("ResultOfQualificationConfirmation"))
        .unwrap();
    assert_eq!(entry.text_of("InsuredCardExpirationDate"), Some("20270731"));

    // res: a lost qualification is not registered (資格（無効）), and says why
    let kumiai = c.fx.kumiai.as_str().to_string();
    let root = res(
        t.dir.as_path(),
        "OQSsiquc01req_lost.xml",
        &single_request(&kumiai, "77", "3001", "00", "19851111", false),
    )
    .await;
    assert_eq!(register_from_xml(&root).unwrap_err(), "not 有効");

    // face: the patient's own card at the reader (PostNumber included)
    let (s, v) = place(
        &t,
        serde_json::json!({"card_serial": "C0001", "face": "ok"}),
    )
    .await;
    assert_eq!(s, 200, "{v}");
    let face_dir = exchange(t.dir.as_path()).face;
    let start = std::time::Instant::now();
    let face = loop {
        let names: Vec<String> = std::fs::read_dir(&face_dir)
            .unwrap()
            .filter_map(|e| e.ok())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n.ends_with(".xml"))
            .collect();
        if let Some(n) = names.first() {
            break n.clone();
        }
        assert!(start.elapsed() < T, "no face file");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    // the watcher's reading of the name: the 14-digit timestamp is the last `_` field
    let ts = face.trim_end_matches(".xml").rsplit('_').next().unwrap();
    assert!(
        ts.len() == 14 && ts.bytes().all(|c| c.is_ascii_digit()),
        "{face}"
    );
    let root = tree(&std::fs::read(face_dir.join(&face)).unwrap());
    let r = register_from_xml(&root).unwrap();
    assert_eq!(r.number, "2001");
    assert_eq!(r.valid_from, "20150401");
    assert_eq!(r.post_number.as_deref(), Some("1000001"));

    // JSON (the central's API), read as a generic value
    let v: serde_json::Value = reqwest::Client::new()
        .post(format!("{}/v1/confirmations/numbers", c.base))
        .bearer_auth(TOKEN)
        .json(
            &serde_json::json!({"confirmation_date": "2026-11-25", "staff_id": "S01",
            "query": {"insurer_number": kyokai, "symbol": "1001", "number": "2002",
                      "birthdate": "1992-07-15"}, "limit_consent": true}),
        )
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(v["segment_of_result"], "1", "{v}");
    assert_eq!(v["qualification_validity"], "1");
    let list = v["result_list"].as_array().expect("ResultList as a list");
    assert_eq!(list.len(), 1);
    let e = &list[0];
    assert_eq!(e["InsuredCardValidDate"], "20200401");
    assert!(
        e["InsurerNumber"]
            .as_str()
            .unwrap()
            .bytes()
            .all(|c| c.is_ascii_digit())
    );
    assert_eq!(e["PersonalFamilyClassification"], "1");
    assert_eq!(e["PostNumber"], "1000001");
    assert_eq!(e["NameOfOther"], "鈴木　はな");
    assert_eq!(
        e["LimitApplicationCertificateRelatedInfo"]["LimitApplicationCertificateClassification"],
        "01"
    );
    assert_eq!(
        e["SpecificDiseasesCertificateList"][0]["SpecificDiseasesSelfPay"],
        "10000"
    );
}

/// The bulk answer read the way public bulk readers do: `BulkConfirmUnit` elements directly
/// under `MessageBody`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bulk_units_are_read_directly_under_the_message_body() {
    let c = start_central().await;
    let dir = tempfile::tempdir().unwrap();
    let t = start_terminal(&c, dir.path(), &[]);
    let kyokai = c.fx.kyokai.as_str();
    let up = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"no\"?><XmlMsg><MessageHeader><QualificationConfirmationDate>{DAY}</QualificationConfirmationDate><MedicalInstitutionCode>{CLINIC}</MedicalInstitutionCode></MessageHeader><MessageBody><QualificationConfirmSearchInfoList><QualificationConfirmSearchInfo><InsurerNumber>{kyokai}</InsurerNumber><InsuredCardSymbol>1001</InsuredCardSymbol><InsuredIdentificationNumber>2001</InsuredIdentificationNumber><InsuredBranchNumber>00</InsuredBranchNumber><Birthdate>19800402</Birthdate></QualificationConfirmSearchInfo></QualificationConfirmSearchInfoList></MessageBody></XmlMsg>"
    );
    let root = res(t.dir.as_path(), "OQSmuquc01req_b.xml", up.as_bytes()).await;
    let reception = root
        .child("MessageBody")
        .and_then(|b| b.text_of("ReceptionNumber"))
        .expect("ReceptionNumber")
        .to_string();
    let start = std::time::Instant::now();
    loop {
        let fetch = format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"no\"?><XmlMsg><MessageHeader><QualificationConfirmationDate>{DAY}</QualificationConfirmationDate><MedicalInstitutionCode>{CLINIC}</MedicalInstitutionCode></MessageHeader><MessageBody><ReceptionNumber>{reception}</ReceptionNumber></MessageBody></XmlMsg>"
        );
        let name = format!("OQSmuquc02req_{}.xml", start.elapsed().as_millis());
        let root = res(t.dir.as_path(), &name, fetch.as_bytes()).await;
        let body = root.child("MessageBody").unwrap();
        let units: Vec<&Node> = body
            .children
            .iter()
            .filter(|c| c.name == "BulkConfirmUnit")
            .collect();
        if !units.is_empty() {
            assert_eq!(units.len(), 1);
            let entry = units[0]
                .child("ResultList")
                .and_then(|l| l.child("ResultOfQualificationConfirmation"))
                .unwrap();
            assert_eq!(entry.text_of("InsuredCardValidDate"), Some("20150401"));
            break;
        }
        assert!(start.elapsed() < T, "bulk never finished");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
