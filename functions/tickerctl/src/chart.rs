//! A small terminal line chart of prices, drawn with block characters.

const LEVELS: [char; 8] = ['▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];

/// `prices` oldest first; `height` rows; at most `width` columns (older points are dropped).
pub fn draw(prices: &[f64], height: usize, width: usize) -> String {
    let prices = &prices[prices.len().saturating_sub(width)..];
    let (Some(lo), Some(hi)) = (
        prices.iter().copied().reduce(f64::min),
        prices.iter().copied().reduce(f64::max),
    ) else {
        return String::from("(no prices)\n");
    };
    let height = height.max(1);
    let span = if hi > lo { hi - lo } else { 1.0 };
    // Each column's height in eighths of a row.
    let eighths: Vec<usize> = prices
        .iter()
        .map(|p| 1 + (((p - lo) / span) * (height * 8 - 1) as f64).round() as usize)
        .collect();
    let label_width = format!("{hi:.2}").len().max(format!("{lo:.2}").len());
    let mut out = String::new();
    for row in (0..height).rev() {
        let label = match row {
            r if r == height - 1 => format!("{hi:>label_width$.2}"),
            0 => format!("{lo:>label_width$.2}"),
            _ => " ".repeat(label_width),
        };
        out.push_str(&label);
        out.push_str(" │");
        for &e in &eighths {
            let filled = e.saturating_sub(row * 8);
            out.push(match filled {
                0 => ' ',
                f if f >= 8 => LEVELS[7],
                f => LEVELS[f - 1],
            });
        }
        out.push('\n');
    }
    out.push_str(&" ".repeat(label_width));
    out.push_str(" └");
    out.push_str(&"─".repeat(eighths.len()));
    out.push('\n');
    out
}

#[cfg(test)]
mod tests {
    use super::draw;

    #[test]
    fn rising_prices_fill_the_last_column() {
        let chart = draw(&[1.0, 2.0, 3.0, 4.0], 4, 60);
        let rows: Vec<&str> = chart.lines().collect();
        assert_eq!(rows.len(), 5);
        assert!(rows[0].starts_with("4.00"));
        assert!(rows[3].starts_with("1.00"));
        assert!(rows[0].ends_with('█'), "{chart}");
        assert!(
            !rows[0].contains("██"),
            "only the highest point reaches the top: {chart}"
        );
    }

    #[test]
    fn width_keeps_the_newest() {
        let chart = draw(&[5.0, 1.0, 2.0], 2, 2);
        assert!(chart.starts_with("2.00"), "{chart}");
    }

    #[test]
    fn flat_and_empty() {
        assert_eq!(draw(&[], 3, 10), "(no prices)\n");
        assert_eq!(draw(&[7.0, 7.0], 3, 10).lines().count(), 4);
    }
}
