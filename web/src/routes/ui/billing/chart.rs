//! The usage chart: one bar per day, drawn on the server as SVG (no script,
//! no CDN). Colours come from the stylesheet (`.usage-chart .bar`), since
//! the Content-Security-Policy allows no inline styles.

use hub_core::billing::statements::DayUsage;

use super::money::Money;
use crate::i18n::Lang;

const WIDTH: f64 = 640.0;
const HEIGHT: f64 = 180.0;
const LEFT: f64 = 8.0;
const TOP: f64 = 18.0;
const BOTTOM: f64 = 22.0;

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// The height of each bar for `values` in a plot `height` high: the
/// largest fills it, the others in proportion; a day with any cost gets at
/// least one unit so that it shows.
pub fn bar_heights(values: &[i64], height: f64) -> Vec<f64> {
    let max = values.iter().copied().max().unwrap_or(0);
    values
        .iter()
        .map(|&v| {
            if v <= 0 || max <= 0 {
                0.0
            } else {
                (v as f64 / max as f64 * height).max(1.0)
            }
        })
        .collect()
}

/// The SVG of `days`' cost, with an accessible title and one `<title>`
/// (tooltip) per bar.
pub fn usage_svg(days: &[DayUsage], lang: Lang, money: &Money) -> String {
    let title = lang.t("billing.chart_title");
    let plot_h = HEIGHT - TOP - BOTTOM;
    let plot_w = WIDTH - 2.0 * LEFT;
    let n = days.len().max(1) as f64;
    let slot = plot_w / n;
    let bar_w = (slot * 0.8).max(1.0);
    let values: Vec<i64> = days.iter().map(|d| d.cost.0).collect();
    let heights = bar_heights(&values, plot_h);
    let mut svg = format!(
        "<svg class=\"usage-chart\" xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {WIDTH} {HEIGHT}\" \
         role=\"img\" aria-labelledby=\"usage-chart-title\"><title id=\"usage-chart-title\">{}</title>",
        escape(title)
    );
    let max = values.iter().copied().max().unwrap_or(0);
    svg.push_str(&format!(
        "<text class=\"axis\" x=\"{LEFT}\" y=\"12\">{}{}</text>",
        escape(lang.t("billing.chart_max")),
        escape(&money.yuan(&hub_core::billing::Credits(max)))
    ));
    let base = TOP + plot_h;
    svg.push_str(&format!(
        "<line class=\"axis\" x1=\"{LEFT}\" y1=\"{base}\" x2=\"{}\" y2=\"{base}\"/>",
        WIDTH - LEFT
    ));
    for (i, (day, h)) in days.iter().zip(&heights).enumerate() {
        let x = LEFT + i as f64 * slot + (slot - bar_w) / 2.0;
        let y = base - h;
        svg.push_str(&format!(
            "<rect class=\"bar\" data-day=\"{}\" x=\"{x:.1}\" y=\"{y:.1}\" width=\"{bar_w:.1}\" height=\"{h:.1}\"><title>{} {}</title></rect>",
            day.day,
            day.day,
            escape(&money.show(&day.cost))
        ));
    }
    // Dates under the first, middle and last bars.
    let count = days.len();
    let mut labelled: Vec<usize> = vec![0, count / 2, count.saturating_sub(1)];
    labelled.dedup();
    for i in labelled.into_iter().filter(|&i| i < count) {
        let x = LEFT + i as f64 * slot + slot / 2.0;
        let anchor = if i == 0 {
            "start"
        } else if i + 1 == count {
            "end"
        } else {
            "middle"
        };
        let x = match anchor {
            "start" => LEFT,
            "end" => WIDTH - LEFT,
            _ => x,
        };
        svg.push_str(&format!(
            "<text class=\"axis\" x=\"{x:.1}\" y=\"{}\" text-anchor=\"{anchor}\">{}</text>",
            HEIGHT - 6.0,
            days[i].day.format("%m-%d")
        ));
    }
    svg.push_str("</svg>");
    svg
}

#[cfg(test)]
mod tests {
    use super::*;
    use hub_core::billing::Credits;
    use hub_core::billing::statements::fill_days;

    #[test]
    fn bars_scale_to_the_largest_day() {
        assert_eq!(bar_heights(&[0, 50, 100], 140.0), [0.0, 70.0, 140.0]);
        // A tiny cost still shows; nothing at all draws nothing.
        assert_eq!(bar_heights(&[1, 1_000_000], 100.0)[0], 1.0);
        assert_eq!(bar_heights(&[0, 0], 100.0), [0.0, 0.0]);
        assert!(bar_heights(&[], 100.0).is_empty());
    }

    #[test]
    fn the_svg_has_a_bar_and_a_tooltip_per_day() {
        let first = "2026-11-05".parse().unwrap();
        let last = "2026-12-04".parse().unwrap();
        let mut days = fill_days(first, last, &[]);
        days[29].cost = Credits(2_500_000);
        let money = Money {
            lang: Lang::En,
            usd_per_cny: 0.14,
        };
        let svg = usage_svg(&days, Lang::En, &money);
        assert_eq!(svg.matches("<rect class=\"bar\"").count(), 30);
        assert!(
            svg.contains("<title>2026-12-04 ¥2.50 (≈ $0.35)</title>"),
            "{svg}"
        );
        assert!(svg.contains(">11-05</text>") && svg.contains(">12-04</text>"));
        assert!(svg.starts_with("<svg") && svg.ends_with("</svg>"));
        assert!(!svg.contains("style="), "the CSP allows no inline styles");
    }
}
