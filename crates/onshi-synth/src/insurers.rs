//! The insurers of the synthetic population, one of each kind the OQS knows, with valid
//! 保険者番号 (check digit from `onshi_domain`) and realistic names:
//!
//! | kind | 保険者番号 | name |
//! | --- | --- | --- |
//! | 協会けんぽ | `01` + 都道府県 + `001` + check | 全国健康保険協会東京支部 |
//! | 組合健保 | `06` + 都道府県 + serial + check | 東和電機健康保険組合 |
//! | 国家公務員共済 | `31` `13` serial + check | 財務省共済組合 |
//! | 地方公務員共済 | `32` + 都道府県 + `001`/`002` + check | 公立学校共済組合東京支部, 東京都市町村職員共済組合 |
//! | 警察共済 | `33` + 都道府県 + `001` + check | 警察共済組合東京都支部 |
//! | 私学共済 | `34` `13` `001` + check | 日本私立学校振興・共済事業団 |
//! | 後期高齢者医療 | `39` + 都道府県 + `001` + check | 東京都後期高齢者医療広域連合 |
//! | 市町村国保 | 都道府県 + `1xx` + check (6 digits) | 新宿区 |
//! | 国保組合 | 都道府県 + `3xx` + check (6 digits) | 東京都医師国民健康保険組合 |
//!
//! Each insurer hands out its own insured numbers from a counter, so symbol/number pairs are
//! unique per insurer whatever the population size.

use onshi_domain::numbers::InsurerNumber;

use crate::SynthError;
use crate::tables::{KOKKA_KYOSAI, KOKUHO_KUMIAI, KUMIAI_COMPANIES, PREFECTURES};

/// What kind of insurer, with what its members' 事業所 and symbols look like.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Kyokai,
    /// Index into [`KUMIAI_COMPANIES`].
    Kumiai(usize),
    /// Index into [`KOKKA_KYOSAI`].
    KokkaKyosai(usize),
    KoritsuGakko,
    Shichoson,
    Keisatsu,
    Shigaku,
    Koki,
    Kokuho,
    /// Index into [`KOKUHO_KUMIAI`].
    KokuhoKumiai(usize),
}

impl Kind {
    /// Employee insurance (被用者保険): has an employer and dependents (被扶養者).
    pub(crate) fn is_employee(self) -> bool {
        !matches!(self, Kind::Koki | Kind::Kokuho | Kind::KokuhoKumiai(_))
    }
}

pub(crate) struct Insurer {
    pub number: String,
    pub name: String,
    pub kind: Kind,
    /// Insured numbers handed out so far.
    pub issued: u64,
}

/// All insurers, with indexes to find the one for a person.
pub(crate) struct Insurers {
    pub list: Vec<Insurer>,
    pub kyokai: Vec<usize>,
    pub koki: Vec<usize>,
    pub koritsu: Vec<usize>,
    pub shichoson: Vec<usize>,
    pub keisatsu: Vec<usize>,
    pub kokka: Vec<usize>,
    pub shigaku: usize,
    /// Per prefecture, per city.
    pub kokuho: Vec<Vec<usize>>,
    /// Per prefecture.
    pub kumiai: Vec<Vec<usize>>,
    pub kumiai_all: Vec<usize>,
    /// Per prefecture; the nationwide ones (registered in Tokyo) are in `kokuho_kumiai_any`.
    pub kokuho_kumiai: Vec<Vec<usize>>,
    pub kokuho_kumiai_any: Vec<usize>,
}

impl Insurers {
    pub(crate) fn build() -> Result<Self, SynthError> {
        let n = PREFECTURES.len();
        let mut ins = Insurers {
            list: Vec::new(),
            kyokai: Vec::with_capacity(n),
            koki: Vec::with_capacity(n),
            koritsu: Vec::with_capacity(n),
            shichoson: Vec::with_capacity(n),
            keisatsu: Vec::with_capacity(n),
            kokka: Vec::new(),
            shigaku: 0,
            kokuho: vec![Vec::new(); n],
            kumiai: vec![Vec::new(); n],
            kumiai_all: Vec::new(),
            kokuho_kumiai: vec![Vec::new(); n],
            kokuho_kumiai_any: Vec::new(),
        };
        let mut kumiai_serial = vec![100u32; n];
        for (p, pref) in PREFECTURES.iter().enumerate() {
            let pp = pref.code;
            let i = ins.add(
                format!("01{pp:02}001"),
                format!("全国健康保険協会{}支部", pref.branch),
                Kind::Kyokai,
            )?;
            ins.kyokai.push(i);
            let i = ins.add(
                format!("39{pp:02}001"),
                format!("{}後期高齢者医療広域連合", pref.name),
                Kind::Koki,
            )?;
            ins.koki.push(i);
            let i = ins.add(
                format!("32{pp:02}001"),
                format!("公立学校共済組合{}支部", pref.branch),
                Kind::KoritsuGakko,
            )?;
            ins.koritsu.push(i);
            let i = ins.add(
                format!("32{pp:02}002"),
                format!("{}市町村職員共済組合", pref.name),
                Kind::Shichoson,
            )?;
            ins.shichoson.push(i);
            let i = ins.add(
                format!("33{pp:02}001"),
                format!("警察共済組合{}支部", pref.name),
                Kind::Keisatsu,
            )?;
            ins.keisatsu.push(i);
            for (c, (city, _)) in pref.cities.iter().enumerate() {
                let i = ins.add(
                    format!("{pp:02}{:03}", 101 + c),
                    (*city).to_string(),
                    Kind::Kokuho,
                )?;
                ins.kokuho[p].push(i);
            }
        }
        for (k, (name, _)) in KOKKA_KYOSAI.iter().enumerate() {
            let i = ins.add(
                format!("3113{:03}", 101 + k),
                (*name).to_string(),
                Kind::KokkaKyosai(k),
            )?;
            ins.kokka.push(i);
        }
        ins.shigaku = ins.add(
            "3413001".into(),
            "日本私立学校振興・共済事業団".into(),
            Kind::Shigaku,
        )?;
        for (k, (company, code)) in KUMIAI_COMPANIES.iter().enumerate() {
            let p = pref_index(*code);
            kumiai_serial[p] += 1;
            let i = ins.add(
                format!("06{code:02}{:03}", kumiai_serial[p]),
                format!("{company}健康保険組合"),
                Kind::Kumiai(k),
            )?;
            ins.kumiai[p].push(i);
            ins.kumiai_all.push(i);
        }
        let mut kk_serial = vec![300u32; n];
        for (k, (name, code, _)) in KOKUHO_KUMIAI.iter().enumerate() {
            let p = pref_index(*code);
            kk_serial[p] += 1;
            let i = ins.add(
                format!("{code:02}{:03}", kk_serial[p]),
                (*name).to_string(),
                Kind::KokuhoKumiai(k),
            )?;
            if name.starts_with("全国") {
                ins.kokuho_kumiai_any.push(i);
            } else {
                ins.kokuho_kumiai[p].push(i);
            }
        }
        Ok(ins)
    }

    fn add(&mut self, body: String, name: String, kind: Kind) -> Result<usize, SynthError> {
        let number = InsurerNumber::from_body(&body)
            .map_err(|e| SynthError::Internal(format!("insurer table: {e}")))?;
        self.list.push(Insurer {
            number: number.as_str().to_string(),
            name,
            kind,
            issued: 0,
        });
        Ok(self.list.len() - 1)
    }
}

/// Index in [`PREFECTURES`] of a 都道府県番号 (the table is in code order, 1–47).
pub(crate) fn pref_index(code: u8) -> usize {
    usize::from(code.clamp(1, 47) - 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_insurer_number_is_valid_and_unique_and_of_its_kind() {
        let ins = Insurers::build().expect("tables");
        let mut seen = std::collections::HashSet::new();
        for i in &ins.list {
            let n = InsurerNumber::parse(&i.number).expect("valid");
            assert!(seen.insert(i.number.clone()), "duplicate {}", i.number);
            use onshi_domain::numbers::InsurerKind as K;
            let want = match i.kind {
                Kind::Kyokai => K::KyokaiKenpo,
                Kind::Kumiai(_) => K::Kumiai,
                Kind::KokkaKyosai(_)
                | Kind::KoritsuGakko
                | Kind::Shichoson
                | Kind::Keisatsu
                | Kind::Shigaku => K::Kyosai,
                Kind::Koki => K::Koki,
                Kind::Kokuho | Kind::KokuhoKumiai(_) => K::Kokuho,
            };
            assert_eq!(n.kind(), want, "{} {}", i.number, i.name);
        }
        assert_eq!(ins.list[ins.kyokai[12]].name, "全国健康保険協会東京支部");
        assert_eq!(ins.list[ins.koki[12]].name, "東京都後期高齢者医療広域連合");
        assert_eq!(ins.list[ins.kokuho[12][0]].name, "新宿区");
    }
}
