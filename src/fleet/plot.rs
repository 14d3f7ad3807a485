//! The ACS's arrival curve as an SVG line chart (no plotting dependency): Informs per second over
//! time, one line per run, e.g. the power cut with and without a boot-inform delay.

use std::fmt::Write as _;

const WIDTH: f64 = 900.0;
const HEIGHT: f64 = 420.0;
const LEFT: f64 = 70.0;
const RIGHT: f64 = 20.0;
const TOP: f64 = 50.0;
const BOTTOM: f64 = 60.0;
const COLOURS: [&str; 4] = ["#d62728", "#1f77b4", "#2ca02c", "#9467bd"];

/// One line: its legend and its value for each second.
#[derive(Debug, Clone)]
pub struct Series {
    pub label: String,
    pub per_second: Vec<u32>,
}

/// A "nice" axis step at or above `raw` (1, 2 or 5 times a power of ten).
fn nice_step(raw: f64) -> f64 {
    if raw <= 0.0 {
        return 1.0;
    }
    let p = 10f64.powf(raw.log10().floor());
    for m in [1.0, 2.0, 5.0, 10.0] {
        if m * p >= raw {
            return m * p;
        }
    }
    10.0 * p
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// The chart. `from_s` is the second the x axis starts at (e.g. a little before the cut).
pub fn arrivals_svg(title: &str, series: &[Series], from_s: usize, to_s: usize) -> String {
    let to_s = to_s.max(from_s + 1);
    let max_y = series
        .iter()
        .flat_map(|s| s.per_second.iter().skip(from_s).take(to_s - from_s))
        .copied()
        .max()
        .unwrap_or(0)
        .max(1) as f64;
    let y_step = nice_step(max_y / 5.0);
    let y_top = (max_y / y_step).ceil() * y_step;
    let x_step = nice_step((to_s - from_s) as f64 / 10.0);
    let plot_w = WIDTH - LEFT - RIGHT;
    let plot_h = HEIGHT - TOP - BOTTOM;
    let x = |s: f64| LEFT + (s - from_s as f64) / (to_s - from_s) as f64 * plot_w;
    let y = |v: f64| TOP + plot_h - v / y_top * plot_h;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{WIDTH}\" height=\"{HEIGHT}\" viewBox=\"0 0 {WIDTH} {HEIGHT}\" font-family=\"sans-serif\" font-size=\"12\">"
    );
    let _ = writeln!(
        out,
        "<rect width=\"{WIDTH}\" height=\"{HEIGHT}\" fill=\"white\"/>\n<text x=\"{}\" y=\"24\" text-anchor=\"middle\" font-size=\"15\">{}</text>",
        WIDTH / 2.0,
        escape(title)
    );
    let mut v = 0.0;
    while v <= y_top + 1e-9 {
        let _ = writeln!(
            out,
            "<line x1=\"{LEFT}\" x2=\"{}\" y1=\"{:.1}\" y2=\"{:.1}\" stroke=\"#ddd\"/><text x=\"{}\" y=\"{:.1}\" text-anchor=\"end\">{v}</text>",
            WIDTH - RIGHT,
            y(v),
            y(v),
            LEFT - 6.0,
            y(v) + 4.0
        );
        v += y_step;
    }
    let mut s = (from_s as f64 / x_step).ceil() * x_step;
    while s <= to_s as f64 + 1e-9 {
        let _ = writeln!(
            out,
            "<line x1=\"{:.1}\" x2=\"{:.1}\" y1=\"{TOP}\" y2=\"{:.1}\" stroke=\"#eee\"/><text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{s}</text>",
            x(s),
            x(s),
            TOP + plot_h,
            x(s),
            TOP + plot_h + 18.0
        );
        s += x_step;
    }
    let _ = writeln!(
        out,
        "<rect x=\"{LEFT}\" y=\"{TOP}\" width=\"{plot_w}\" height=\"{plot_h}\" fill=\"none\" stroke=\"#333\"/>\n<text x=\"{}\" y=\"{}\" text-anchor=\"middle\">seconds since the fleet started</text>\n<text x=\"16\" y=\"{}\" text-anchor=\"middle\" transform=\"rotate(-90 16 {})\">Informs per second at the ACS</text>",
        LEFT + plot_w / 2.0,
        HEIGHT - 16.0,
        TOP + plot_h / 2.0,
        TOP + plot_h / 2.0
    );
    for (i, series) in series.iter().enumerate() {
        let colour = COLOURS[i % COLOURS.len()];
        let points: Vec<String> = (from_s..to_s)
            .map(|sec| {
                let v = series.per_second.get(sec).copied().unwrap_or(0);
                format!("{:.1},{:.1}", x(sec as f64 + 0.5), y(f64::from(v)))
            })
            .collect();
        let _ = writeln!(
            out,
            "<polyline fill=\"none\" stroke=\"{colour}\" stroke-width=\"1.5\" points=\"{}\"/>",
            points.join(" ")
        );
        let ly = TOP + 16.0 + i as f64 * 18.0;
        let _ = writeln!(
            out,
            "<line x1=\"{}\" x2=\"{}\" y1=\"{ly}\" y2=\"{ly}\" stroke=\"{colour}\" stroke-width=\"3\"/><text x=\"{}\" y=\"{}\">{}</text>",
            WIDTH - RIGHT - 330.0,
            WIDTH - RIGHT - 306.0,
            WIDTH - RIGHT - 300.0,
            ly + 4.0,
            escape(&series.label)
        );
    }
    out.push_str("</svg>\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn draws_one_line_per_series_inside_the_frame() {
        let svg = arrivals_svg(
            "a <cut>",
            &[
                Series {
                    label: "no delay".into(),
                    per_second: vec![0, 5, 900, 40, 3],
                },
                Series {
                    label: "0–60 s delay".into(),
                    per_second: vec![0, 5, 20, 17, 16],
                },
            ],
            0,
            5,
        );
        assert_eq!(svg.matches("<polyline").count(), 2);
        assert!(svg.contains("a &lt;cut&gt;"));
        assert!(svg.starts_with("<svg") && svg.ends_with("</svg>\n"));
        assert_eq!(nice_step(180.0), 200.0);
        assert_eq!(nice_step(0.3), 0.5);
    }
}
