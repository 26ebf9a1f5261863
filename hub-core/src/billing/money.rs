//! Money: integer micro-yuan. One credit unit is ¥0.000001, fine enough to
//! price a device-second or a single token without fractions; amounts are
//! rounded once, when a charge is settled, up to the next whole unit (a
//! customer is never charged for less than was used, and never by more than
//! one micro-yuan).

use std::fmt;

use crate::error::{Error, Message, Result};

/// Micro-yuan per yuan.
pub const UNITS_PER_YUAN: i64 = 1_000_000;
/// Micro-yuan per fen (the minor unit CNY payments are made in).
pub const UNITS_PER_FEN: i64 = 10_000;

/// An amount in micro-yuan. Never negative in the ledger; signed so that
/// differences (and the consistency check's reports) can be shown.
/// Serialised as the bare integer.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Default,
    serde::Serialize,
    serde::Deserialize,
)]
#[serde(transparent)]
pub struct Credits(pub i64);

impl Credits {
    pub const ZERO: Credits = Credits(0);

    pub fn units(self) -> i64 {
        self.0
    }

    /// Parses a yuan amount as people write it: `12`, `12.5`, `¥0.000001`.
    /// More than six decimals, a sign or anything else is refused.
    pub fn parse_yuan(text: &str) -> Result<Credits> {
        let text = text.trim();
        let text = text
            .strip_prefix('¥')
            .or_else(|| text.strip_prefix('￥'))
            .unwrap_or(text)
            .trim();
        let bad = || {
            Error::invalid(
                Message::coded("billing.bad_amount", "not an amount in yuan: {amount}")
                    .with("amount", format!("{text:?}")),
            )
        };
        let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
        let (whole, fraction) = match text.split_once('.') {
            Some((whole, fraction)) if digits(fraction) => (whole, fraction),
            Some(_) => return Err(bad()),
            None => (text, ""),
        };
        if !digits(whole) || fraction.len() > 6 {
            return Err(bad());
        }
        let whole: i64 = whole.parse().map_err(|_| bad())?;
        let fraction: i64 = format!("{fraction:0<6}").parse().map_err(|_| bad())?;
        whole
            .checked_mul(UNITS_PER_YUAN)
            .and_then(|w| w.checked_add(fraction))
            .map(Credits)
            .ok_or_else(bad)
    }

    /// Fen (CNY's minor unit) to credits.
    pub fn from_fen(fen: i64) -> Option<Credits> {
        fen.checked_mul(UNITS_PER_FEN).map(Credits)
    }

    /// The exact amount in yuan, trailing zeros after the fen dropped:
    /// `12.00`, `0.0012`, `-3.50`.
    pub fn yuan_exact(self) -> String {
        let sign = if self.0 < 0 { "-" } else { "" };
        let abs = self.0.unsigned_abs();
        let whole = abs / UNITS_PER_YUAN as u64;
        let mut fraction = format!("{:06}", abs % UNITS_PER_YUAN as u64);
        while fraction.len() > 2 && fraction.ends_with('0') {
            fraction.pop();
        }
        format!("{sign}{whole}.{fraction}")
    }

    /// Rounded to the fen, as a price tag shows it: `12.35`.
    pub fn yuan_to_fen(self) -> String {
        let fen = (self.0 as f64 / UNITS_PER_FEN as f64).round() as i64;
        let sign = if fen < 0 { "-" } else { "" };
        let abs = fen.unsigned_abs();
        format!("{sign}{}.{:02}", abs / 100, abs % 100)
    }
}

impl fmt::Display for Credits {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "¥{}", self.yuan_exact())
    }
}

/// `units × numerator / denominator`, rounded up: the settlement rule.
/// `None` on overflow.
pub fn charge(units: i64, price: i64, per: i64) -> Option<Credits> {
    let product = i128::from(units) * i128::from(price);
    let per = i128::from(per);
    let rounded = (product + per - 1).div_euclid(per);
    i64::try_from(rounded).ok().map(Credits)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn yuan_amounts_parse_to_micro_yuan() {
        assert_eq!(Credits::parse_yuan("12").unwrap(), Credits(12_000_000));
        assert_eq!(Credits::parse_yuan("¥0.5").unwrap(), Credits(500_000));
        assert_eq!(Credits::parse_yuan("0.000001").unwrap(), Credits(1));
        for bad in [
            "",
            "-1",
            "1.0000001",
            "1e3",
            "1,5",
            "¥",
            ".5",
            "5.",
            "99999999999999",
        ] {
            assert!(Credits::parse_yuan(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn amounts_print_exactly_and_to_the_fen() {
        assert_eq!(Credits(12_000_000).yuan_exact(), "12.00");
        assert_eq!(Credits(1_200).yuan_exact(), "0.0012");
        assert_eq!(Credits(-3_500_000).to_string(), "¥-3.50");
        assert_eq!(Credits(12_345_678).yuan_to_fen(), "12.35");
    }

    #[test]
    fn charges_round_up_once() {
        // 1,234 tokens at ¥0.002 per thousand: 2,468 micro-yuan exactly.
        assert_eq!(charge(1_234, 2_000, 1_000), Some(Credits(2_468)));
        // 1 token at 1 micro-yuan per thousand: rounded up to one unit.
        assert_eq!(charge(1, 1, 1_000), Some(Credits(1)));
        assert_eq!(charge(0, 5, 1_000), Some(Credits(0)));
        assert_eq!(charge(i64::MAX, i64::MAX, 1), None);
    }
}
