//! Writing numbers and dates into reused strings without a temporary allocation.

use chrono::{Datelike, NaiveDate};

/// The decimal digits of `n` (ASCII), right-aligned in the buffer, and where they start.
fn digits(mut n: u64) -> ([u8; 20], usize) {
    let mut buf = [0u8; 20];
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            return (buf, i);
        }
    }
}

/// Appends `n` in decimal, at least `width` digits (zero-padded).
pub(crate) fn push_num(s: &mut String, n: u64, width: usize) {
    let (buf, start) = digits(n);
    for _ in (buf.len() - start)..width {
        s.push('0');
    }
    for &b in &buf[start..] {
        s.push(char::from(b));
    }
}

/// Appends `n` in full-width digits (０–９), as addresses are printed.
pub(crate) fn push_fullwidth_num(s: &mut String, n: u64) {
    const FULL: [char; 10] = ['０', '１', '２', '３', '４', '５', '６', '７', '８', '９'];
    let (buf, start) = digits(n);
    for &b in &buf[start..] {
        s.push(FULL[usize::from(b - b'0')]);
    }
}

/// Appends a date as `YYYYMMDD`.
pub(crate) fn push_date(s: &mut String, d: NaiveDate) {
    push_num(s, u64::try_from(d.year()).unwrap_or(0), 4);
    push_num(s, u64::from(d.month()), 2);
    push_num(s, u64::from(d.day()), 2);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_dates_and_full_width() {
        let mut s = String::new();
        push_num(&mut s, 42, 4);
        push_num(&mut s, 0, 1);
        push_num(&mut s, 12345, 2);
        assert_eq!(s, "0042012345");
        s.clear();
        push_fullwidth_num(&mut s, 109);
        assert_eq!(s, "１０９");
        let day = NaiveDate::from_ymd_opt(2026, 1, 5).expect("date");
        s.clear();
        push_date(&mut s, day);
        assert_eq!(s, onshi_domain::wareki::format_yyyymmdd(day));
    }
}
