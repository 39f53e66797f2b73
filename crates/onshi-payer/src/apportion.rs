//! 按分 (R22): sharing a facility's pool of unattributable claims among the payer's insurers in
//! proportion to each insurer's payments to that facility over a reference period.
//!
//! The notice (2023-08-03, 「保険者等を特定することができない診療報酬等の按分方法等について」)
//! does not make the rounding public; onshi's rule is a setting with this default: shares to
//! the yen by the **largest remainder** method, so that they sum exactly to the pool, remainders
//! tied broken by insurer number (ascending).
//!
//! Pure: no I/O, no clock. Every share carries its inputs so that an insurer can check it.

use onshi_domain::numbers::InsurerNumber;
use serde::{Deserialize, Serialize};

/// One insurer's weight: what it paid the facility over the reference period.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Weight {
    pub insurer_number: InsurerNumber,
    pub paid_yen: u64,
}

/// One insurer's share of a pool, with how it was computed:
/// `share = floor(pool × paid / total) + (1 if it received one of the leftover yen)`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Share {
    pub insurer_number: InsurerNumber,
    /// the pool shared (yen)
    pub pool_yen: u64,
    /// this insurer's payments to the facility over the reference period
    pub paid_yen: u64,
    /// all the payer's insurers' payments to the facility over the same period
    pub total_paid_yen: u64,
    /// floor(pool × paid / total)
    pub floor_yen: u64,
    /// (pool × paid) mod total: the remainder that ranks the leftover yen
    pub remainder: u128,
    /// 1 when this insurer received one of the leftover yen
    pub extra_yen: u64,
    pub share_yen: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ApportionError {
    /// No insurer of the payer paid the facility anything in the reference period: there is
    /// no basis to share on. The pool stays open (a person decides).
    #[error(
        "R22 按分: no payments to the facility in the reference period; the pool cannot be shared"
    )]
    NoBasis,
    #[error("R22 按分: insurer {0} appears twice among the weights")]
    DuplicateInsurer(String),
}

/// Shares `pool_yen` among the insurers in proportion to `weights` (R22).
///
/// Insurers with no payments get nothing and are left out of the result. The shares sum to
/// `pool_yen` exactly; the result is ordered by insurer number.
pub fn apportion(pool_yen: u64, weights: &[Weight]) -> Result<Vec<Share>, ApportionError> {
    let mut ws: Vec<&Weight> = weights.iter().filter(|w| w.paid_yen > 0).collect();
    ws.sort_by(|a, b| a.insurer_number.cmp(&b.insurer_number));
    if let Some(w) = ws
        .windows(2)
        .find(|p| p[0].insurer_number == p[1].insurer_number)
    {
        return Err(ApportionError::DuplicateInsurer(
            w[0].insurer_number.to_string(),
        ));
    }
    let total: u128 = ws.iter().map(|w| u128::from(w.paid_yen)).sum();
    if total == 0 {
        return Err(ApportionError::NoBasis);
    }
    let pool = u128::from(pool_yen);
    let mut shares: Vec<Share> = ws
        .iter()
        .map(|w| {
            let num = pool * u128::from(w.paid_yen);
            let floor = (num / total) as u64;
            Share {
                insurer_number: w.insurer_number.clone(),
                pool_yen,
                paid_yen: w.paid_yen,
                total_paid_yen: total as u64,
                floor_yen: floor,
                remainder: num % total,
                extra_yen: 0,
                share_yen: floor,
            }
        })
        .collect();
    let given: u64 = shares.iter().map(|s| s.floor_yen).sum();
    let leftover = (pool_yen - given) as usize; // < number of insurers
    let mut order: Vec<usize> = (0..shares.len()).collect();
    // largest remainder first; ties by insurer number (the vector is sorted by it)
    order.sort_by(|&a, &b| {
        shares[b]
            .remainder
            .cmp(&shares[a].remainder)
            .then(a.cmp(&b))
    });
    for &i in order.iter().take(leftover) {
        shares[i].extra_yen = 1;
        shares[i].share_yen += 1;
    }
    Ok(shares)
}

/// Splits `total` over parts of the given sizes (e.g. points over a split claim's days), by
/// the same largest-remainder rule, ties to the earlier part. Sizes summing to 0 give all to
/// the first part.
pub fn split_by(total: u64, sizes: &[u64]) -> Vec<u64> {
    let sum: u128 = sizes.iter().map(|s| u128::from(*s)).sum();
    if sizes.is_empty() {
        return Vec::new();
    }
    if sum == 0 {
        let mut v = vec![0; sizes.len()];
        v[0] = total;
        return v;
    }
    let t = u128::from(total);
    let mut out: Vec<u64> = sizes
        .iter()
        .map(|s| (t * u128::from(*s) / sum) as u64)
        .collect();
    let rem: Vec<u128> = sizes.iter().map(|s| t * u128::from(*s) % sum).collect();
    let left = (total - out.iter().sum::<u64>()) as usize;
    let mut order: Vec<usize> = (0..sizes.len()).collect();
    order.sort_by(|&a, &b| rem[b].cmp(&rem[a]).then(a.cmp(&b)));
    for &i in order.iter().take(left) {
        out[i] += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn ins(body: &str) -> InsurerNumber {
        InsurerNumber::from_body(body).unwrap()
    }

    /// Worked by hand: pool 10,000 yen; payments A 50,000, B 30,000, C 20,000 (total 100,000).
    /// Quotas 5,000 / 3,000 / 2,000 exactly: no leftover.
    /// Pool 10,001: quotas 5000.5, 3000.3, 2000.2 → floors 5000, 3000, 2000 (sum 10,000), one
    /// leftover yen to the largest remainder (A: 50,000 mod 100,000 … 0.5) → 5001, 3000, 2000.
    #[test]
    fn r22_apportion_hand_computed_example() {
        let w = [
            Weight {
                insurer_number: ins("0613456"),
                paid_yen: 50_000,
            },
            Weight {
                insurer_number: ins("0113001"),
                paid_yen: 30_000,
            },
            Weight {
                insurer_number: ins("3113005"),
                paid_yen: 20_000,
            },
        ];
        let s = apportion(10_001, &w).unwrap();
        // ordered by insurer number: 01…, 06…, 31…
        let got: Vec<(String, u64, u64)> = s
            .iter()
            .map(|s| {
                (
                    s.insurer_number.to_string()[..2].to_string(),
                    s.floor_yen,
                    s.share_yen,
                )
            })
            .collect();
        assert_eq!(
            got,
            vec![
                ("01".into(), 3000, 3000),
                ("06".into(), 5000, 5001),
                ("31".into(), 2000, 2000)
            ]
        );
        assert_eq!(s[1].remainder, 50_000);
        assert_eq!(s[0].remainder, 30_000);
        assert_eq!(s[1].total_paid_yen, 100_000);
    }

    /// Pool 2 yen, three insurers paid the same: remainders tie, the two lowest insurer numbers
    /// get one yen each.
    #[test]
    fn r22_apportion_ties_go_by_insurer_number() {
        let w = [
            Weight {
                insurer_number: ins("3113005"),
                paid_yen: 7,
            },
            Weight {
                insurer_number: ins("0613456"),
                paid_yen: 7,
            },
            Weight {
                insurer_number: ins("0113001"),
                paid_yen: 7,
            },
        ];
        let s = apportion(2, &w).unwrap();
        let shares: Vec<u64> = s.iter().map(|s| s.share_yen).collect();
        assert_eq!(shares, vec![1, 1, 0]);
        assert!(s[2].insurer_number.as_str().starts_with("31"));
    }

    #[test]
    fn r22_apportion_without_payments_has_no_basis() {
        let w = [Weight {
            insurer_number: ins("0613456"),
            paid_yen: 0,
        }];
        assert_eq!(apportion(100, &w), Err(ApportionError::NoBasis));
        assert_eq!(apportion(100, &[]), Err(ApportionError::NoBasis));
    }

    #[test]
    fn r22_apportion_refuses_an_insurer_twice() {
        let w = [
            Weight {
                insurer_number: ins("0613456"),
                paid_yen: 1,
            },
            Weight {
                insurer_number: ins("0613456"),
                paid_yen: 2,
            },
        ];
        assert!(matches!(
            apportion(100, &w),
            Err(ApportionError::DuplicateInsurer(_))
        ));
    }

    #[test]
    fn split_by_days_sums_exactly() {
        assert_eq!(split_by(1000, &[1, 2]), vec![333, 667]);
        assert_eq!(split_by(1001, &[1, 1]), vec![501, 500]);
        assert_eq!(split_by(5, &[0, 0]), vec![5, 0]);
    }

    proptest! {
        /// R22: for any pool and any payments, the shares sum exactly to the pool, no share
        /// differs from its exact quota by a yen or more, and the extra yen go to the largest
        /// remainders.
        #[test]
        fn r22_apportion_shares_sum_exactly_to_the_pool(
            pool in 0u64..10_000_000_000u64,
            paid in proptest::collection::vec(0u64..100_000_000_000u64, 1..40),
        ) {
            let w: Vec<Weight> = paid
                .iter()
                .enumerate()
                .map(|(i, p)| Weight {
                    insurer_number: InsurerNumber::from_body(&format!("06{:05}", i + 1)).unwrap(),
                    paid_yen: *p,
                })
                .collect();
            match apportion(pool, &w) {
                Ok(s) => {
                    prop_assert_eq!(s.iter().map(|s| s.share_yen).sum::<u64>(), pool);
                    let total: u128 = paid.iter().map(|p| u128::from(*p)).sum();
                    for sh in &s {
                        let exact_num = u128::from(pool) * u128::from(sh.paid_yen);
                        let share = u128::from(sh.share_yen);
                        prop_assert!(share * total <= exact_num + total);
                        prop_assert!(share * total + total > exact_num);
                    }
                    let min_with = s.iter().filter(|x| x.extra_yen == 1).map(|x| x.remainder).min();
                    let max_without = s.iter().filter(|x| x.extra_yen == 0).map(|x| x.remainder).max();
                    if let (Some(a), Some(b)) = (min_with, max_without) {
                        prop_assert!(a >= b);
                    }
                }
                Err(e) => prop_assert_eq!(e, ApportionError::NoBasis),
            }
        }

        #[test]
        fn split_by_sums_exactly(total in 0u64..1_000_000_000, sizes in proptest::collection::vec(0u64..40, 1..8)) {
            prop_assert_eq!(split_by(total, &sizes).iter().sum::<u64>(), total);
        }
    }
}
