//! Golden UKE files, written by hand from the public record layout (`tests/golden/uke/*.txt`,
//! converted to Windows-31J with CR LF and 0x1A by `make.sh`, never by onshi's writer). Each
//! test reads its file field by field and writes it back byte for byte.

use std::io::Cursor;

use onshi_formats::uke::{
    FUSHOU_INSURER, FUSHOU_NUMBER, FUSHOU_TEXT, KNOWN_IDS, Kind, Record, UkeClaim, UkeFile,
    UkeWriter, sn,
};

const NORMAL: &[u8] = include_bytes!("golden/uke/normal_r17.UKE");
const LOST: &[u8] = include_bytes!("golden/uke/lost_r19.UKE");
const FUSHOU: &[u8] = include_bytes!("golden/uke/fushou_r20.UKE");
const KOUKI: &[u8] = include_bytes!("golden/uke/kouki.UKE");

fn read(bytes: &[u8]) -> UkeFile {
    match UkeFile::read(Cursor::new(bytes)) {
        Ok(f) => f,
        Err(e) => panic!("golden file did not read:\n{e}"),
    }
}

/// The writer reproduces the file byte for byte, both as a whole and record by record.
fn assert_writes_back(file: &UkeFile, bytes: &[u8]) {
    assert_eq!(file.to_bytes().unwrap(), bytes);
    let mut w = UkeWriter::new(Vec::new());
    w.write_record(&Record::Ir(file.ir.clone())).unwrap();
    for r in &file.before_claims {
        w.write_record(r).unwrap();
    }
    for c in &file.claims {
        w.write_claim(c).unwrap();
    }
    w.write_record(&Record::Go(file.go.clone())).unwrap();
    assert_eq!(w.finish().unwrap(), bytes);
}

fn assert_ir(file: &UkeFile, payer: &str) {
    let ir = &file.ir;
    assert_eq!(ir.payer.as_str(), payer);
    assert_eq!(ir.prefecture.as_str(), "13");
    assert_eq!(ir.fee_table.as_str(), "1");
    assert_eq!(ir.facility_code.as_str(), "1312345");
    assert_eq!(ir.reserved, None);
    assert_eq!(ir.facility_name.as_deref(), Some("オンシ内科クリニック"));
    assert_eq!(ir.billing_month.to_string(), "202510");
    assert_eq!(ir.volume.as_str(), "00");
    assert_eq!(ir.phone.as_deref(), Some("03-1234-5678"));
    assert!(file.eof_mark);
    assert_eq!(file.go.volume.as_str(), "99");
}

fn texts(c: &UkeClaim) -> Vec<&str> {
    c.free_comments()
}

#[test]
fn r17_normal_claims_confirmed_online_read_field_by_field_and_write_back() {
    let file = read(NORMAL);
    assert_ir(&file, "1");
    assert_eq!(file.claims.len(), 2);

    // claim 1: 協会けんぽ 本人 外来, two visits
    let c = &file.claims[0];
    let re = c.re();
    assert_eq!(re.receipt_number.as_str(), "1");
    assert_eq!(re.receipt_kind.as_str(), "1112");
    assert_eq!(re.service_month.to_string(), "202509");
    assert_eq!(re.name, "山田　太郎");
    assert_eq!(re.sex.as_str(), "1");
    assert_eq!(re.birth_date.to_string(), "19800401");
    assert_eq!(re.benefit_ratio, None);
    assert_eq!(re.tokki, None);
    assert_eq!(re.chart_number.as_deref(), Some("000123"));
    assert_eq!(re.search_number, None);
    assert_eq!(re.kana_name.as_deref(), Some("ヤマダタロウ"));
    assert_eq!(re.patient_state, None);
    assert!(!re.is_kouki() && !re.is_inpatient());
    let ho = c.ho().unwrap();
    assert_eq!(ho.insurer_number.as_str(), "01130012");
    assert_eq!(ho.kigou.as_deref(), Some("１２３４５６７８"));
    assert_eq!(ho.bangou.as_deref(), Some("１２３"));
    assert_eq!(ho.days.as_str(), "2");
    assert_eq!(ho.total_points.value(), 393);
    assert_eq!(ho.share_amount.as_ref().map(|n| n.value()), Some(1180));
    assert_eq!(ho.meal_count, None);
    let sns: Vec<_> = c.sn().collect();
    assert_eq!(sns.len(), 1);
    assert_eq!(sns[0].payer_kind.as_str(), "1");
    assert_eq!(sns[0].confirmation.as_str(), sn::KAKUNIN_FACILITY);
    assert_eq!(sns[0].insurer_number, None);
    assert_eq!(sns[0].edaban.as_ref().map(|n| n.as_str()), Some("00"));
    assert_eq!(c.confirmation(), Some("01"));
    let jd: Vec<_> = c.jd().collect();
    assert_eq!(jd.len(), 1);
    assert_eq!(jd[0].payer_kind.as_str(), "1");
    assert_eq!(c.service_days(), vec![3, 17]);
    let sy: Vec<_> = c.sy().collect();
    assert_eq!(sy.len(), 2);
    assert_eq!(
        (
            sy[0].code.as_str(),
            sy[0].start_date.to_string().as_str(),
            sy[0].outcome.as_str()
        ),
        ("4659007", "20250903", "1")
    );
    assert_eq!(sy[0].main.as_ref().map(|n| n.as_str()), Some("01"));
    assert_eq!(sy[1].code.as_str(), "0000999");
    assert_eq!(sy[1].name.as_deref(), Some("喉の違和感"));
    assert_eq!(sy[1].main, None);
    let tekiyou: Vec<&Record> = c.tekiyou().collect();
    assert_eq!(tekiyou.len(), 4);
    let Record::Si(si) = tekiyou[0] else {
        panic!("{:?}", tekiyou[0])
    };
    assert_eq!(si.shikibetsu.as_ref().map(|n| n.as_str()), Some("11"));
    assert_eq!(si.futan_kubun, "1");
    assert_eq!(si.code.as_str(), "111000110");
    assert_eq!(si.quantity, None);
    assert_eq!(si.points.as_ref().map(|n| n.value()), Some(291));
    assert_eq!(si.count.value(), 1);
    assert_eq!(
        si.days
            .iter()
            .map(|(d, n)| (d, n.value()))
            .collect::<Vec<_>>(),
        vec![(3, 1)]
    );
    let Record::Iy(iy) = tekiyou[2] else {
        panic!("{:?}", tekiyou[2])
    };
    assert_eq!(iy.code.as_str(), "620004422");
    assert_eq!(iy.quantity.as_deref(), Some("3"));
    assert_eq!(iy.points.as_ref().map(|n| n.value()), Some(9));
    assert_eq!(iy.count.value(), 3);
    assert_eq!(iy.days.get(3).map(|n| n.value()), Some(3));
    let Record::Co(co) = tekiyou[3] else {
        panic!("{:?}", tekiyou[3])
    };
    assert_eq!(co.shikibetsu.as_ref().map(|n| n.as_str()), Some("21"));
    assert_eq!(co.code.as_str(), "810000001");
    assert_eq!(texts(c), vec!["１日３回毎食後"]);
    assert_eq!(c.total_points(), 393);
    assert_eq!(c.ichibu_futankin(), Some(1180));

    // claim 2: 健保組合 家族 with one public fund (KO), TO and SJ in the 摘要
    let c = &file.claims[1];
    assert_eq!(c.re().receipt_kind.as_str(), "1126");
    assert_eq!(c.person().name, "鈴木　花子");
    assert_eq!(c.person().sex, "2");
    assert_eq!(c.person().birth_date.to_string(), "2015-06-12");
    let ho = c.ho().unwrap();
    assert_eq!(ho.insurer_number.as_str(), "06130017");
    assert_eq!(ho.kigou.as_deref(), Some("ＡＢ１２"));
    assert_eq!(ho.bangou.as_deref(), Some("３４５６"));
    assert_eq!(ho.share_amount, None);
    let ko: Vec<_> = c.ko().collect();
    assert_eq!(ko.len(), 1);
    assert_eq!(ko[0].payer_number.as_str(), "54136015");
    assert_eq!(
        ko[0].recipient_number.as_ref().map(|n| n.as_str()),
        Some("1234567")
    );
    assert_eq!(ko[0].days.value(), 1);
    assert_eq!(ko[0].total_points.value(), 210);
    assert_eq!(ko[0].fund_amount, None);
    assert_eq!(
        ko[0].outpatient_share.as_ref().map(|n| n.as_str()),
        Some("0")
    );
    assert_eq!(
        c.sn().next().unwrap().edaban.as_ref().map(|n| n.as_str()),
        Some("01")
    );
    assert_eq!(c.jd().count(), 0);
    // no JD: the days come from the SI / TO 算定日
    assert_eq!(c.service_days(), vec![10]);
    let tekiyou: Vec<&Record> = c.tekiyou().collect();
    let Record::To(to) = tekiyou[2] else {
        panic!("{:?}", tekiyou[2])
    };
    assert_eq!(to.shikibetsu.as_ref().map(|n| n.as_str()), Some("40"));
    assert_eq!(to.code.as_str(), "730010000");
    assert_eq!(to.quantity.as_deref(), Some("1"));
    assert_eq!(to.points.as_ref().map(|n| n.value()), Some(10));
    assert_eq!(to.unit_code, None);
    assert_eq!(to.product_name, None);
    assert_eq!(to.days.get(10).map(|n| n.value()), Some(1));
    let Record::Sj(sj) = tekiyou[3] else {
        panic!("{:?}", tekiyou[3])
    };
    assert_eq!(sj.kubun.as_ref().map(|n| n.as_str()), Some("01"));
    assert_eq!(sj.text, "９月１０日より咳嗽あり。");
    assert!(texts(c).is_empty());
    assert_eq!(c.total_points(), 210);

    // GO: HO + HO + KO = 3 parts; 393 + 210 points
    assert_eq!(file.go.total_count.value(), 3);
    assert_eq!(file.go.total_points.value(), 603);
    assert_writes_back(&file, NORMAL);
}

#[test]
fn r19_lost_qualification_claim_carries_the_lost_numbers_and_no_special_marking() {
    let file = read(LOST);
    assert_ir(&file, "2");
    // KH (国保連固有情報) is not modelled: kept as it is
    assert_eq!(
        file.before_claims,
        vec![Record::Other {
            id: "KH".into(),
            fields: vec!["国保連固有情報".into()]
        }]
    );
    assert_eq!(file.claims.len(), 1);
    let c = &file.claims[0];
    assert_eq!(c.re().receipt_kind.as_str(), "1112");
    assert_eq!(c.person().kana_name, Some("サトウイチロウ"));
    let ho = c.ho().unwrap();
    // a 6-digit 国保 number, right-justified with two spaces
    assert_eq!(ho.insurer_number.as_str(), "  138057");
    assert_eq!(ho.insurer_number.digits(), "138057");
    assert!(ho.insurer_number.is_six_digit_kokuho());
    assert_eq!(ho.kigou.as_deref(), Some("国保１２"));
    assert_eq!(ho.bangou.as_deref(), Some("４５６７８９"));
    assert_eq!(ho.total_points.value(), 291);
    assert_eq!(ho.share_amount.as_ref().map(|n| n.value()), Some(870));
    assert_eq!(c.confirmation(), Some(sn::KAKUNIN_FACILITY));
    let mf = c.mf().unwrap();
    assert_eq!(mf.window_kind.as_str(), "00");
    assert_eq!(mf.days.iter().count(), 0);
    assert_eq!(c.service_days(), vec![5]);
    assert!(!c.is_fushou());
    assert!(c.free_comments().is_empty());
    assert_eq!(
        (file.go.total_count.value(), file.go.total_points.value()),
        (1, 291)
    );
    assert_writes_back(&file, LOST);
}

#[test]
fn r20_fushou_claim_carries_declaration_in_tekiyou() {
    let file = read(FUSHOU);
    assert_ir(&file, "1");
    let c = &file.claims[0];
    let ho = c.ho().unwrap();
    assert_eq!(ho.insurer_number.as_str(), FUSHOU_INSURER);
    assert_eq!(ho.kigou, None, "記号 is empty");
    assert_eq!(ho.bangou.as_deref(), Some(FUSHOU_NUMBER));
    assert!(c.is_fushou());
    let sn = c.sn().next().unwrap();
    assert_eq!(sn.confirmation.as_str(), "01");
    assert_eq!(sn.edaban, None);
    // 「不詳」 first, then the 申立書's address, 事業所名 and phone, as free comments (CO 810000001)
    assert_eq!(
        c.free_comments(),
        vec![
            FUSHOU_TEXT,
            "東京都港区芝公園４－２－８",
            "株式会社オンシ商事",
            "０３－９８７６－５４３２"
        ]
    );
    for co in c.co() {
        assert_eq!(co.shikibetsu.as_ref().map(|n| n.as_str()), Some("01"));
        assert_eq!(co.futan_kubun, "1");
        assert!(co.is_free());
    }
    // the free comments come after the SI, in file order
    let ids: Vec<&str> = c.tekiyou().map(Record::id).collect();
    assert_eq!(ids, vec!["SI", "CO", "CO", "CO", "CO"]);
    assert_eq!(c.service_days(), vec![23]);
    assert_eq!(c.re().service_month.to_string(), "202509");
    assert_writes_back(&file, FUSHOU);
}

#[test]
fn kouki_claim_reads_field_by_field_and_writes_back() {
    let file = read(KOUKI);
    assert_ir(&file, "2");
    let c = &file.claims[0];
    let re = c.re();
    assert_eq!(re.receipt_kind.as_str(), "1318");
    assert!(re.is_kouki());
    assert_eq!(re.insurance_kind_digit(), Some('3'));
    assert_eq!(c.person().birth_date.to_string(), "1940-03-03");
    assert_eq!(c.person().sex, "2");
    let ho = c.ho().unwrap();
    assert!(ho.insurer_number.as_str().starts_with("39"));
    assert_eq!(ho.insurer_number.as_str(), "39132014");
    assert_eq!(ho.kigou, None);
    assert_eq!(ho.bangou.as_deref(), Some("１２３４５６７８"));
    assert_eq!(ho.days.value(), 3);
    assert_eq!(c.total_points(), 441);
    assert_eq!(c.ichibu_futankin(), Some(440));
    assert_eq!(c.service_days(), vec![2, 9, 16]);
    let tekiyou: Vec<&Record> = c.tekiyou().collect();
    let Record::Si(si) = tekiyou[1] else {
        panic!("{:?}", tekiyou[1])
    };
    assert_eq!(si.count.value(), 2);
    assert_eq!(
        si.days.iter().map(|(d, _)| d).collect::<Vec<_>>(),
        vec![9, 16]
    );
    assert_eq!(
        (file.go.total_count.value(), file.go.total_points.value()),
        (1, 441)
    );
    assert_writes_back(&file, KOUKI);
}

/// The layout table of one record as docs/formats/uke.md shows it.
fn layout_table(id: &str) -> String {
    let mut s = String::from(
        "| # | 項目 | field | kind | width (bytes) | required |\n| --- | --- | --- | --- | --- | --- |\n",
    );
    for f in Record::layout(id).unwrap() {
        let width = if f.min == f.max {
            format!("{}", f.max)
        } else {
            format!("≤ {}", f.max)
        };
        let kind = match f.kind {
            Kind::Digits => "digits",
            Kind::Decimal => "decimal",
            Kind::Ascii => "ASCII",
            Kind::FullWidth => "full-width",
            Kind::Text => "text",
            Kind::Date => "YYYYMMDD",
            Kind::YearMonth => "YYYYMM",
            Kind::Insurer => "insurer no.",
        };
        s.push_str(&format!(
            "| {} | {} | {} | {} | {} | {} |\n",
            f.number,
            f.ja,
            f.en,
            kind,
            width,
            if f.required { "yes" } else { "" }
        ));
    }
    s
}

const DOC: &str = include_str!("../../../docs/formats/uke.md");

/// docs/formats/uke.md shows every record's layout as the code has it, and the golden files
/// as they are.
#[test]
fn the_format_page_shows_the_layouts_and_golden_files_of_the_code() {
    let mut missing = Vec::new();
    for id in KNOWN_IDS {
        let t = layout_table(id);
        if !DOC.contains(&t) {
            missing.push(format!("### {id}\n\n{t}"));
        }
    }
    for (name, text) in [
        ("normal_r17.txt", include_str!("golden/uke/normal_r17.txt")),
        ("lost_r19.txt", include_str!("golden/uke/lost_r19.txt")),
        ("fushou_r20.txt", include_str!("golden/uke/fushou_r20.txt")),
        ("kouki.txt", include_str!("golden/uke/kouki.txt")),
    ] {
        if !DOC.contains(text) {
            missing.push(format!("golden file {name}:\n{text}"));
        }
    }
    assert!(
        missing.is_empty(),
        "docs/formats/uke.md lacks:\n\n{}",
        missing.join("\n")
    );
}

/// A claim builder's path: the 不詳 claim built from typed values (not read from the file)
/// gives the hand-written golden file byte for byte.
#[test]
fn r20_fushou_claim_built_from_parts_gives_the_golden_file() {
    use onshi_formats::uke::{
        ClaimParts, Co, Ho, InsurerNo, Ir, Jd, Num, Re, Si, Sn, Sy, UkeClaim, YearMonth,
    };
    let date = |y, m, d| chrono::NaiveDate::from_ymd_opt(y, m, d).unwrap();
    let month = YearMonth::new(2025, 9).unwrap();
    let ir = Ir::new(
        1,
        Num::parse("13").unwrap(),
        1,
        Num::parse("1312345").unwrap(),
        Some("オンシ内科クリニック".into()),
        month.next(),
        Some("03-1234-5678".into()),
    );
    let mut re = Re::new(
        1,
        Num::parse("1112").unwrap(),
        month,
        "田中　次郎",
        Some("タナカジロウ"),
        Num::from(1u32),
        date(1990, 8, 15),
    );
    re.chart_number = Some("000901".into());
    let mut ho = Ho::new(
        InsurerNo::parse(FUSHOU_INSURER).unwrap(),
        None,
        Some(FUSHOU_NUMBER.into()),
        1,
        291,
    );
    ho.share_amount = Some(Num::from(870u32));
    let mut si_days = onshi_formats::uke::Days::default();
    si_days.set(23, Some(Num::from(1u32)));
    let si = Si {
        shikibetsu: Some(Num::from(11u32)),
        futan_kubun: "1".into(),
        code: Num::parse("111000110").unwrap(),
        quantity: None,
        points: Some(Num::from(291u32)),
        count: Num::from(1u32),
        comments: Default::default(),
        days: si_days,
    };
    let shikibetsu = Some(Num::padded(1, 2));
    let mut tekiyou = vec![Record::Si(si)];
    for text in [
        FUSHOU_TEXT,
        "東京都港区芝公園４－２－８",
        "株式会社オンシ商事",
        "０３－９８７６－５４３２",
    ] {
        tekiyou.push(Record::Co(Co::free(shikibetsu.clone(), "1", text)));
    }
    let claim = UkeClaim::from_parts(
        re,
        ClaimParts {
            ho: Some(ho),
            sn: vec![Sn::facility(1, None)],
            jd: vec![Jd::counted(1, &[23])],
            sy: vec![Sy::coded(
                Num::parse("4659007").unwrap(),
                date(2025, 9, 22),
                true,
            )],
            tekiyou,
            ..ClaimParts::default()
        },
    )
    .unwrap();
    let file = UkeFile::new(ir, vec![claim]);
    assert_eq!(file.to_bytes().unwrap(), FUSHOU);
}
