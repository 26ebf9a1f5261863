//! Money as pages show it: ¥ in Chinese; ¥ with an approximate $ in English
//! (at the rate of `HUB_BILLING_USD_PER_CNY`, marked "≈").

use hub_core::billing::Credits;

use crate::i18n::Lang;

/// Formats amounts for one page.
#[derive(Debug, Clone, Copy)]
pub struct Money {
    pub lang: Lang,
    pub usd_per_cny: f64,
}

impl Money {
    /// The exact amount in yuan: `¥12.50`, `¥0.0012`, `-¥3.00`.
    pub fn yuan(&self, c: &Credits) -> String {
        let sign = if c.0 < 0 { "-" } else { "" };
        format!("{sign}¥{}", Credits(c.0.saturating_abs()).yuan_exact())
    }

    /// The same with a sign always: `+¥10.00`, `-¥0.0012`.
    pub fn signed_yuan(&self, c: &Credits) -> String {
        if c.0 > 0 {
            format!("+{}", self.yuan(c))
        } else {
            self.yuan(c)
        }
    }

    /// The approximate dollars (English only): `≈ $1.75`, `< $0.01`.
    pub fn usd(&self, c: &Credits) -> Option<String> {
        if self.lang != Lang::En {
            return None;
        }
        let usd = c.0 as f64 / 1_000_000.0 * self.usd_per_cny;
        Some(if c.0 != 0 && usd.abs() < 0.005 {
            "< $0.01".to_owned()
        } else {
            let sign = if usd < 0.0 { "-" } else { "" };
            format!("≈ {sign}${:.2}", usd.abs())
        })
    }

    /// Yuan, then dollars in brackets in English: `¥10.00 (≈ $1.40)`.
    pub fn show(&self, c: &Credits) -> String {
        match self.usd(c) {
            Some(usd) => format!("{} ({usd})", self.yuan(c)),
            None => self.yuan(c),
        }
    }

    /// [`Money::show`] with a sign always.
    pub fn show_signed(&self, c: &Credits) -> String {
        match self.usd(c) {
            Some(usd) => format!("{} ({usd})", self.signed_yuan(c)),
            None => self.signed_yuan(c),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn yuan_in_chinese_and_approximate_dollars_in_english() {
        let zh = Money {
            lang: Lang::Zh,
            usd_per_cny: 0.14,
        };
        let en = Money {
            lang: Lang::En,
            ..zh
        };
        assert_eq!(zh.show(&Credits(10_000_000)), "¥10.00");
        assert_eq!(en.show(&Credits(10_000_000)), "¥10.00 (≈ $1.40)");
        assert_eq!(zh.show_signed(&Credits(-1_200)), "-¥0.0012");
        assert_eq!(en.show_signed(&Credits(-1_200)), "-¥0.0012 (< $0.01)");
        assert_eq!(en.show_signed(&Credits(5_000_000)), "+¥5.00 (≈ $0.70)");
        assert_eq!(en.show(&Credits(0)), "¥0.00 (≈ $0.00)");
    }
}
