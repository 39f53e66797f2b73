//! A synthetic past for the payment record (按分 weighs by it, R22): what each insurer paid
//! each facility per month, deterministic for a seed, in realistic proportions (a few large
//! insurers take most of a facility's payments, a long tail takes the rest).

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

use crate::model::{PayerCode, YearMonth};
use crate::store::PaymentRow;

/// Payment rows for every facility × insurer × month in `from..=to`.
pub fn past_payments(
    payer: PayerCode,
    facilities: &[String],
    insurers: &[String],
    from: YearMonth,
    to: YearMonth,
    seed: u64,
) -> Vec<PaymentRow> {
    let mut rng = SmallRng::seed_from_u64(seed);
    let mut out = Vec::new();
    for f in facilities {
        // the facility's size: total monthly payments 2–40 million yen
        let size: u64 = rng.random_range(2_000_000..40_000_000);
        // each insurer's weight: a Zipf-like tail over a per-facility order
        let mut weights: Vec<f64> = (0..insurers.len())
            .map(|i| 1.0 / (1.0 + i as f64).powf(1.1))
            .collect();
        for i in (1..weights.len()).rev() {
            let j = rng.random_range(0..=i);
            weights.swap(i, j);
        }
        let total: f64 = weights.iter().sum();
        let mut m = from;
        while m <= to {
            for (ins, w) in insurers.iter().zip(&weights) {
                let jitter: f64 = rng.random_range(0.8..1.2);
                let amount = (size as f64 * w / total * jitter) as u64;
                if amount == 0 {
                    continue;
                }
                out.push(PaymentRow {
                    payer,
                    insurer_number: ins.clone(),
                    facility: f.clone(),
                    service_month: m,
                    source: "synthetic".into(),
                    amount_yen: amount,
                    claims: (amount / 8_000).max(1),
                });
            }
            m = m.plus(1);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn past_payments_are_deterministic_and_cover_every_month() {
        let f = vec!["1310000017".to_string()];
        let i = vec!["06134563".to_string(), "01130012".to_string()];
        let from = YearMonth::parse("202511").unwrap();
        let to = YearMonth::parse("202610").unwrap();
        let a = past_payments(PayerCode::Kikin, &f, &i, from, to, 7);
        let b = past_payments(PayerCode::Kikin, &f, &i, from, to, 7);
        assert_eq!(a, b);
        assert_eq!(a.len(), 24);
        assert!(a.iter().all(|p| p.amount_yen > 0));
    }
}
