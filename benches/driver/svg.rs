//! The slide picture, drawn by hand: grouped bars (C beside Rust, whiskers from min to max)
//! in side-by-side panels, plain SVG with no crate.

use std::fmt::Write;

use crate::stats::Summary;

/// One panel: a title, a y-axis label, groups of (label, C, Rust) and an optional dashed
/// reference line (value, label), e.g. the loopback ceiling.
pub struct Panel {
    pub title: String,
    pub y_label: String,
    pub groups: Vec<(String, Summary, Summary)>,
    pub line: Option<(f64, String)>,
}

const W: f64 = 480.0;
const H: f64 = 400.0;
const LEFT: f64 = 70.0;
const RIGHT: f64 = 20.0;
const TOP: f64 = 60.0;
const BOTTOM: f64 = 60.0;
const C_COLOUR: &str = "#4a6fa5";
const RUST_COLOUR: &str = "#d9622b";

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// A "nice" axis top (1, 2 or 5 times a power of ten) at or above `v`.
fn nice_top(v: f64) -> f64 {
    let p = 10f64.powf(v.max(1e-9).log10().floor());
    [1.0, 2.0, 5.0, 10.0]
        .into_iter()
        .map(|m| m * p)
        .find(|&t| t >= v)
        .unwrap_or(10.0 * p)
}

fn panel(out: &mut String, x0: f64, p: &Panel) {
    let plot_w = W - LEFT - RIGHT;
    let plot_h = H - TOP - BOTTOM;
    let mut top = p
        .groups
        .iter()
        .map(|g| g.1.max.max(g.2.max))
        .fold(0.0, f64::max);
    if let Some((v, _)) = &p.line {
        top = top.max(*v);
    }
    let top = nice_top(top * 1.08);
    let y = |v: f64| TOP + plot_h * (1.0 - v / top);
    let _ = writeln!(
        out,
        r#"<text x="{}" y="28" font-size="15" font-weight="bold" text-anchor="middle">{}</text>"#,
        x0 + W / 2.0,
        esc(&p.title)
    );
    for i in 0..=5 {
        let v = top * i as f64 / 5.0;
        let yy = y(v);
        let _ = writeln!(
            out,
            r##"<line x1="{}" x2="{}" y1="{yy:.1}" y2="{yy:.1}" stroke="#ddd"/><text x="{}" y="{:.1}" font-size="11" text-anchor="end">{}</text>"##,
            x0 + LEFT,
            x0 + W - RIGHT,
            x0 + LEFT - 6.0,
            yy + 4.0,
            fmt_num(v)
        );
    }
    let _ = writeln!(
        out,
        r#"<text transform="translate({},{}) rotate(-90)" font-size="12" text-anchor="middle">{}</text>"#,
        x0 + 16.0,
        TOP + plot_h / 2.0,
        esc(&p.y_label)
    );
    let n = p.groups.len().max(1) as f64;
    let slot = plot_w / n;
    let bar = (slot * 0.32).min(60.0);
    for (i, (label, c, r)) in p.groups.iter().enumerate() {
        let cx = x0 + LEFT + slot * (i as f64 + 0.5);
        for (k, (s, colour)) in [(c, C_COLOUR), (r, RUST_COLOUR)].into_iter().enumerate() {
            let bx = cx - bar - 2.0 + k as f64 * (bar + 4.0);
            let mid = bx + bar / 2.0;
            let _ = writeln!(
                out,
                r##"<rect x="{bx:.1}" y="{:.1}" width="{bar:.1}" height="{:.1}" fill="{colour}"/><line x1="{mid:.1}" x2="{mid:.1}" y1="{:.1}" y2="{:.1}" stroke="#222"/><text x="{mid:.1}" y="{:.1}" font-size="10" text-anchor="middle">{}</text>"##,
                y(s.median),
                (y(0.0) - y(s.median)).max(0.0),
                y(s.min),
                y(s.max),
                y(s.max) - 4.0,
                fmt_num(s.median)
            );
        }
        let _ = writeln!(
            out,
            r#"<text x="{cx:.1}" y="{:.1}" font-size="12" text-anchor="middle">{}</text>"#,
            H - BOTTOM + 18.0,
            esc(label)
        );
    }
    if let Some((v, label)) = &p.line {
        let yy = y(*v);
        let _ = writeln!(
            out,
            r##"<line x1="{}" x2="{}" y1="{yy:.1}" y2="{yy:.1}" stroke="#2a2" stroke-dasharray="6 4"/><text x="{}" y="{:.1}" font-size="11" fill="#2a2" text-anchor="end">{}</text>"##,
            x0 + LEFT,
            x0 + W - RIGHT,
            x0 + W - RIGHT,
            yy - 5.0,
            esc(label)
        );
    }
    let _ = writeln!(
        out,
        r##"<line x1="{0}" x2="{1}" y1="{2}" y2="{2}" stroke="#222"/>"##,
        x0 + LEFT,
        x0 + W - RIGHT,
        y(0.0)
    );
}

fn fmt_num(v: f64) -> String {
    if v >= 100.0 {
        format!("{v:.0}")
    } else if v >= 10.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    }
}

/// The whole picture: the panels side by side, a legend and a caption line under them.
pub fn render(panels: &[Panel], caption: &str) -> String {
    let total_w = W * panels.len() as f64;
    let mut out = String::new();
    let _ = writeln!(
        out,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{total_w}" height="{}" viewBox="0 0 {total_w} {}" font-family="sans-serif">"#,
        H + 20.0,
        H + 20.0
    );
    let _ = writeln!(out, r#"<rect width="100%" height="100%" fill="white"/>"#);
    for (i, p) in panels.iter().enumerate() {
        panel(&mut out, W * i as f64, p);
    }
    let ly = H - 18.0;
    let _ = writeln!(
        out,
        r#"<rect x="{0}" y="{1}" width="12" height="12" fill="{C_COLOUR}"/><text x="{2}" y="{3}" font-size="12">C (c_reference/)</text><rect x="{4}" y="{1}" width="12" height="12" fill="{RUST_COLOUR}"/><text x="{5}" y="{3}" font-size="12">Rust (src/)</text>"#,
        LEFT,
        ly,
        LEFT + 16.0,
        ly + 10.0,
        LEFT + 150.0,
        LEFT + 166.0
    );
    let _ = writeln!(
        out,
        r##"<text x="{}" y="{}" font-size="11" fill="#555">{}</text>"##,
        LEFT + 280.0,
        ly + 10.0,
        esc(caption)
    );
    out.push_str("</svg>\n");
    out
}
