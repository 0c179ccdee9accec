//! A line chart as inline SVG: a few series over the same x positions, with axes and a legend.
//! No script and no external resource, so the page renders anywhere, offline.

use std::fmt::Write;

/// One line of the chart: a name, a colour, and a value (or a gap) per x position.
pub struct Series<'a> {
    pub name: &'a str,
    pub colour: &'a str,
    pub values: Vec<Option<f64>>,
}

const WIDTH: f64 = 780.0;
const HEIGHT: f64 = 260.0;
const LEFT: f64 = 56.0;
const RIGHT: f64 = 210.0;
const TOP: f64 = 16.0;
const BOTTOM: f64 = 40.0;

/// An `<svg>` element with `id`, `title` (for screen readers), x labels and the series.
pub fn line_chart(id: &str, title: &str, x_labels: &[String], series: &[Series<'_>]) -> String {
    let values = series.iter().flat_map(|s| s.values.iter().flatten().copied());
    let (lo, hi) = values.fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| (lo.min(v), hi.max(v)));
    let (lo, hi) = match (lo.is_finite(), hi > lo) {
        (false, _) => (0.0, 1.0),
        (true, true) => (lo.min(0.0), hi + (hi - lo.min(0.0)) * 0.1),
        // One value only (all zeros, say): a unit range above it.
        (true, false) => (lo.min(0.0), lo.max(0.0) + lo.abs().max(1.0)),
    };
    let plot_w = WIDTH - LEFT - RIGHT;
    let plot_h = HEIGHT - TOP - BOTTOM;
    let n = x_labels.len().max(1);
    let x = |i: usize| LEFT + if n == 1 { plot_w / 2.0 } else { plot_w * i as f64 / (n - 1) as f64 };
    let y = |v: f64| TOP + plot_h * (1.0 - (v - lo) / (hi - lo));

    let mut svg = String::new();
    let _ = write!(
        svg,
        r#"<svg id="{id}" class="chart" role="img" viewBox="0 0 {WIDTH} {HEIGHT}" width="{WIDTH}" height="{HEIGHT}" xmlns="http://www.w3.org/2000/svg"><title>{}</title>"#,
        super::page::escape(title)
    );
    // Axes, and four horizontal grid lines with their values.
    let _ = write!(svg, r##"<g class="axes" stroke="#888" stroke-width="1"><line x1="{LEFT}" y1="{TOP}" x2="{LEFT}" y2="{}"/><line x1="{LEFT}" y1="{}" x2="{}" y2="{}"/></g>"##, TOP + plot_h, TOP + plot_h, LEFT + plot_w, TOP + plot_h);
    for step in 0..=4 {
        let v = lo + (hi - lo) * step as f64 / 4.0;
        let _ = write!(
            svg,
            r##"<line x1="{LEFT}" y1="{y:.1}" x2="{:.1}" y2="{y:.1}" stroke="#ddd"/><text x="{:.1}" y="{:.1}" font-size="11" text-anchor="end">{v:.3}</text>"##,
            LEFT + plot_w,
            LEFT - 6.0,
            y(v) + 4.0,
            y = y(v)
        );
    }
    // Every label when they fit, otherwise about ten of them.
    let every = n.div_ceil(10);
    for (i, label) in x_labels.iter().enumerate().filter(|(i, _)| i % every == 0 || *i == n - 1) {
        let _ = write!(svg, r#"<text x="{:.1}" y="{:.1}" font-size="10" text-anchor="middle">{}</text>"#, x(i), TOP + plot_h + 16.0, super::page::escape(label));
    }
    for (k, s) in series.iter().enumerate() {
        let mut path = String::new();
        let mut pen_down = false;
        for (i, v) in s.values.iter().enumerate() {
            match v {
                Some(v) => {
                    let _ = write!(path, "{}{:.1},{:.1} ", if pen_down { "L" } else { "M" }, x(i), y(*v));
                    pen_down = true;
                }
                None => pen_down = false,
            }
        }
        let name = super::page::escape(s.name);
        let _ = write!(svg, r#"<g class="series" data-series="{name}"><path d="{}" fill="none" stroke="{}" stroke-width="2"/>"#, path.trim_end(), s.colour);
        for (i, v) in s.values.iter().enumerate() {
            if let Some(v) = v {
                let _ = write!(svg, r#"<circle cx="{:.1}" cy="{:.1}" r="3" fill="{}"><title>{name} {}: {v:.4}</title></circle>"#, x(i), y(*v), s.colour, super::page::escape(&x_labels[i]));
            }
        }
        let ly = TOP + 14.0 + 18.0 * k as f64;
        let lx = LEFT + plot_w + 14.0;
        let _ = write!(svg, r#"<line x1="{lx}" y1="{ly}" x2="{}" y2="{ly}" stroke="{}" stroke-width="3"/><text x="{}" y="{}" font-size="12">{name}</text></g>"#, lx + 18.0, s.colour, lx + 24.0, ly + 4.0);
    }
    svg.push_str("</svg>");
    svg
}
