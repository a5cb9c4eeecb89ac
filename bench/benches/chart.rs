//! The chart `accept_throughput` writes next to its Markdown table: a small hand-written SVG.
//!
//! Two panels side by side, connections per second (left) and server CPU µs per connection
//! (right) against connections in flight (evenly spaced categories). Each server is one
//! coloured line through its medians over rounds, over a translucent band from its smallest
//! to its largest round. A panel whose values span more than a factor of 10 (Chromium next to
//! the rest) gets a log scale and says so in its axis title. Missing points (a server absent
//! at a level, NaN) are skipped: the line breaks there.
//!
//! The output is standalone (`xmlns`, no scripts, no external fonts or styles), opaque (a
//! white background, readable in dark mode too) and a pure function of its input: the same
//! data gives the same bytes. Benches run without the test harness (`harness = false`), so
//! [`self_check`] stands in for unit tests: the bench calls it before measuring, and
//! [`check`] on the chart it writes.

use std::collections::BTreeSet;
use std::fmt::Write;

use crate::common::median;

/// One figure of one server at one level: the median over rounds, the smallest and largest
/// round (NaN when no round has a value).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Band {
    pub median: f64,
    pub min: f64,
    pub max: f64,
}

impl Band {
    /// The band over the finite values of `rounds`; NaN throughout when there are none.
    pub fn over(rounds: impl IntoIterator<Item = f64>) -> Band {
        let v: Vec<f64> = rounds.into_iter().filter(|x| x.is_finite()).collect();
        if v.is_empty() {
            return Band {
                median: f64::NAN,
                min: f64::NAN,
                max: f64::NAN,
            };
        }
        Band {
            min: v.iter().copied().fold(f64::INFINITY, f64::min),
            max: v.iter().copied().fold(f64::NEG_INFINITY, f64::max),
            median: median(v),
        }
    }
}

/// What one server measured at one number of connections in flight.
#[derive(Clone, Copy, Debug)]
pub struct Point {
    pub in_flight: usize,
    pub conn_per_s: Band,
    pub cpu_us_per_conn: Band,
}

/// One server: one line in each panel. Levels it has no point for are gaps.
#[derive(Clone, Debug)]
pub struct Series {
    pub name: String,
    pub points: Vec<Point>,
}

/// Line colours, by series (matplotlib's `tab10`, all readable on white).
const PALETTE: [&str; 10] = [
    "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
    "#bcbd22", "#17becf",
];

const WIDTH: f64 = 960.0;
/// Each panel's share of the width, and where its plot area sits inside it.
const PANEL_WIDTH: f64 = 480.0;
const PLOT_LEFT: f64 = 78.0;
const PLOT_RIGHT: f64 = 460.0;
const PLOT_TOP: f64 = 92.0;
const PLOT_BOTTOM: f64 = 352.0;
const LEGEND_TOP: f64 = 414.0;
const LEGEND_COLUMNS: usize = 4;
const LEGEND_COLUMN_WIDTH: f64 = 225.0;
const LEGEND_ROW: f64 = 20.0;

/// A panel: what it plots and what it says.
struct Panel {
    title: &'static str,
    axis: &'static str,
    value: fn(&Point) -> Band,
}

const PANELS: [Panel; 2] = [
    Panel {
        title: "Accept rate (higher is better)",
        axis: "connections/s",
        value: |p| p.conn_per_s,
    },
    Panel {
        title: "Server CPU per connection (lower is better)",
        axis: "CPU µs per connection",
        value: |p| p.cpu_us_per_conn,
    },
];

/// The chart of `series`, under `title`.
pub fn svg(title: &str, series: &[Series]) -> String {
    let levels: Vec<usize> = series
        .iter()
        .flat_map(|s| s.points.iter().map(|p| p.in_flight))
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let rows = ((series.len() + LEGEND_COLUMNS - 1) / LEGEND_COLUMNS).max(1);
    let height = LEGEND_TOP + rows as f64 * LEGEND_ROW + 8.0;
    let mut out = String::new();
    let o = &mut out;
    w(
        o,
        format_args!(
            "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{WIDTH}\" height=\"{height}\" \
             viewBox=\"0 0 {WIDTH} {height}\" font-family=\"sans-serif\" font-size=\"12\" \
             fill=\"#222222\">\n"
        ),
    );
    w(o, format_args!("<title>{}</title>\n", esc(title)));
    w(
        o,
        format_args!("<rect width=\"{WIDTH}\" height=\"{height}\" fill=\"#ffffff\"/>\n"),
    );
    w(
        o,
        format_args!(
            "<text x=\"{}\" y=\"26\" text-anchor=\"middle\" font-size=\"16\" \
             font-weight=\"bold\">{}</text>\n",
            WIDTH / 2.0,
            esc(title)
        ),
    );
    w(
        o,
        format_args!(
            "<text x=\"{}\" y=\"46\" text-anchor=\"middle\" fill=\"#555555\">lines: median \
             over rounds; bands: smallest to largest round</text>\n",
            WIDTH / 2.0
        ),
    );
    for (i, panel) in PANELS.iter().enumerate() {
        draw_panel(o, i as f64 * PANEL_WIDTH, panel, &levels, series);
    }
    draw_legend(o, series);
    o.push_str("</svg>\n");
    out
}

/// Appends formatted text (writing to a `String` cannot fail).
fn w(out: &mut String, args: std::fmt::Arguments<'_>) {
    out.write_fmt(args).expect("writing to a String");
}

/// `text` with the XML specials escaped, for text content and attribute values.
fn esc(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c if c.is_control() => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

/// A y axis: linear from 0 (or below, for negative data), or log10.
struct Scale {
    log: bool,
    lo: f64,
    hi: f64,
    ticks: Vec<f64>,
    /// The linear tick step (labels get as many decimals as it needs); unused for log.
    step: f64,
}

impl Scale {
    /// A scale holding every finite value of `values`. Log when all are positive and the
    /// largest is more than 10 times the smallest.
    fn new(values: &[f64]) -> Scale {
        let finite: Vec<f64> = values.iter().copied().filter(|v| v.is_finite()).collect();
        let min = finite.iter().copied().fold(f64::INFINITY, f64::min);
        let max = finite.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        if finite.is_empty() {
            return Scale::linear(0.0, 1.0);
        }
        if min > 0.0 && max / min > 10.0 {
            // 1, 2 and 5 times powers of ten around the data; the axis runs from the largest
            // at most `min` to the smallest at least `max`.
            let decades = min.log10().floor() as i32..=max.log10().ceil() as i32;
            let candidates: Vec<(f64, f64)> = decades
                .flat_map(|d| [1.0, 2.0, 5.0].map(|m| (m, m * 10f64.powi(d))))
                .collect();
            let lo = candidates.iter().rev().map(|c| c.1).find(|&c| c <= min);
            let hi = candidates.iter().map(|c| c.1).find(|&c| c >= max);
            let (lo, hi) = (lo.unwrap_or(min), hi.unwrap_or(max));
            // Over more than three decades, only the powers of ten get a tick.
            let sparse = hi / lo > 2000.0;
            let ticks = candidates
                .into_iter()
                .filter(|&(m, c)| c >= lo && c <= hi && (!sparse || m == 1.0))
                .map(|(_, c)| c)
                .collect();
            return Scale {
                log: true,
                lo,
                hi,
                ticks,
                step: f64::NAN,
            };
        }
        Scale::linear(min.min(0.0), max)
    }

    /// About five ticks of 1, 2 or 5 times a power of ten, from `min` (at most 0) to `max`.
    fn linear(min: f64, max: f64) -> Scale {
        let span = if max > min { max - min } else { 1.0 };
        let step = nice(span / 5.0);
        let lo = (min / step).floor() * step;
        let mut hi = (max / step).ceil() * step;
        if hi <= lo {
            hi = lo + step;
        }
        let n = ((hi - lo) / step).round() as usize;
        Scale {
            log: false,
            lo,
            hi,
            ticks: (0..=n).map(|i| lo + i as f64 * step).collect(),
            step,
        }
    }

    /// The y coordinate of `v`, or `None` when it cannot be drawn (NaN, or not positive on a
    /// log scale).
    fn y(&self, v: f64) -> Option<f64> {
        if !v.is_finite() || (self.log && v <= 0.0) {
            return None;
        }
        let f = if self.log {
            (v.log10() - self.lo.log10()) / (self.hi.log10() - self.lo.log10())
        } else {
            (v - self.lo) / (self.hi - self.lo)
        };
        Some(PLOT_BOTTOM - f * (PLOT_BOTTOM - PLOT_TOP))
    }

    /// A tick's label: thousands as `k`, as many decimals as the step needs.
    fn label(&self, v: f64) -> String {
        if !self.log && v.abs() < self.step * 1e-6 {
            return "0".into();
        }
        let step = if self.log { v } else { self.step };
        let (v, step, suffix) = if step >= 1000.0 {
            (v / 1000.0, step / 1000.0, "k")
        } else {
            (v, step, "")
        };
        let decimals = if step >= 1.0 {
            0
        } else {
            (-step.log10()).ceil() as usize
        };
        let mut s = format!("{v:.decimals$}");
        if s.contains('.') {
            s = s.trim_end_matches('0').trim_end_matches('.').to_string();
        }
        s + suffix
    }
}

/// 1, 2 or 5 times a power of ten, at least `x` (> 0).
fn nice(x: f64) -> f64 {
    let p = 10f64.powi(x.log10().floor() as i32);
    let f = x / p;
    let m = if f <= 1.0 {
        1.0
    } else if f <= 2.0 {
        2.0
    } else if f <= 5.0 {
        5.0
    } else {
        10.0
    };
    m * p
}

/// One panel, its left edge at `x0`.
fn draw_panel(o: &mut String, x0: f64, panel: &Panel, levels: &[usize], series: &[Series]) {
    let left = x0 + PLOT_LEFT;
    let right = x0 + PLOT_RIGHT;
    let values: Vec<f64> = series
        .iter()
        .flat_map(|s| s.points.iter())
        .flat_map(|p| {
            let b = (panel.value)(p);
            [b.median, b.min, b.max]
        })
        .collect();
    let scale = Scale::new(&values);
    let x_of = |i: usize| left + (i as f64 + 0.5) * (right - left) / levels.len() as f64;
    let mid = (left + right) / 2.0;

    w(
        o,
        format_args!(
            "<text x=\"{mid:.1}\" y=\"{:.1}\" text-anchor=\"middle\" font-size=\"13\" \
             font-weight=\"bold\">{}</text>\n",
            PLOT_TOP - 14.0,
            esc(panel.title)
        ),
    );
    // Grid lines and y tick labels.
    for &t in &scale.ticks {
        let Some(y) = scale.y(t) else { continue };
        w(
            o,
            format_args!(
                "<line x1=\"{left:.1}\" y1=\"{y:.1}\" x2=\"{right:.1}\" y2=\"{y:.1}\" \
                 stroke=\"#e4e4e4\"/>\n<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\">{}\
                 </text>\n",
                left - 6.0,
                y + 4.0,
                esc(&scale.label(t))
            ),
        );
    }
    // X tick labels.
    for (i, level) in levels.iter().enumerate() {
        let x = x_of(i);
        w(
            o,
            format_args!(
                "<line x1=\"{x:.1}\" y1=\"{PLOT_BOTTOM:.1}\" x2=\"{x:.1}\" y2=\"{:.1}\" \
                 stroke=\"#444444\"/>\n<text x=\"{x:.1}\" y=\"{:.1}\" \
                 text-anchor=\"middle\">{level}</text>\n",
                PLOT_BOTTOM + 4.0,
                PLOT_BOTTOM + 18.0
            ),
        );
    }
    w(
        o,
        format_args!(
            "<rect x=\"{left:.1}\" y=\"{PLOT_TOP:.1}\" width=\"{:.1}\" height=\"{:.1}\" \
             fill=\"none\" stroke=\"#444444\"/>\n",
            right - left,
            PLOT_BOTTOM - PLOT_TOP
        ),
    );
    // Axis titles.
    w(
        o,
        format_args!(
            "<text x=\"{mid:.1}\" y=\"{:.1}\" text-anchor=\"middle\">connections in flight\
             </text>\n",
            PLOT_BOTTOM + 38.0
        ),
    );
    let (ax, ay) = (x0 + 16.0, (PLOT_TOP + PLOT_BOTTOM) / 2.0);
    w(
        o,
        format_args!(
            "<text x=\"{ax:.1}\" y=\"{ay:.1}\" text-anchor=\"middle\" \
             transform=\"rotate(-90 {ax:.1} {ay:.1})\">{}{}</text>\n",
            esc(panel.axis),
            if scale.log { " (log scale)" } else { "" }
        ),
    );

    // Each series' points in plot coordinates, by level.
    let columns = |s: &Series| -> Vec<Column> {
        levels
            .iter()
            .enumerate()
            .map(|(i, level)| {
                let band = s
                    .points
                    .iter()
                    .find(|p| p.in_flight == *level)
                    .map(|p| (panel.value)(p));
                let mid = band.and_then(|b| scale.y(b.median));
                let range = band.and_then(|b| Some((scale.y(b.min)?, scale.y(b.max)?)));
                Column {
                    x: x_of(i),
                    median: mid,
                    range,
                }
            })
            .collect()
    };
    // Bands first, so that no band covers a line.
    for (k, s) in series.iter().enumerate() {
        let colour = PALETTE[k % PALETTE.len()];
        let cols = columns(s);
        for run in runs(&cols, |c| c.range.is_some()) {
            if let [single] = run {
                let x = single.x;
                let (lo, hi) = single.range.expect("a run holds ranges");
                w(
                    o,
                    format_args!(
                        "<rect x=\"{:.1}\" y=\"{:.1}\" width=\"10\" height=\"{:.1}\" \
                         fill=\"{colour}\" fill-opacity=\"0.18\"/>\n",
                        x - 5.0,
                        hi.min(lo),
                        (lo - hi).abs()
                    ),
                );
                continue;
            }
            let upper = run
                .iter()
                .map(|c| (c.x, c.range.expect("a run holds ranges").1));
            let lower = run
                .iter()
                .rev()
                .map(|c| (c.x, c.range.expect("a run holds ranges").0));
            w(
                o,
                format_args!(
                    "<polygon points=\"{}\" fill=\"{colour}\" fill-opacity=\"0.18\"/>\n",
                    coords(upper.chain(lower))
                ),
            );
        }
    }
    for (k, s) in series.iter().enumerate() {
        let colour = PALETTE[k % PALETTE.len()];
        let cols = columns(s);
        for run in runs(&cols, |c| c.median.is_some()) {
            let pts: Vec<(f64, f64)> = run
                .iter()
                .map(|c| (c.x, c.median.expect("a run holds medians")))
                .collect();
            if pts.len() > 1 {
                w(
                    o,
                    format_args!(
                        "<polyline points=\"{}\" fill=\"none\" stroke=\"{colour}\" \
                         stroke-width=\"2\" stroke-linejoin=\"round\"/>\n",
                        coords(pts.iter().copied())
                    ),
                );
            }
            for (x, y) in pts {
                w(
                    o,
                    format_args!(
                        "<circle cx=\"{x:.1}\" cy=\"{y:.1}\" r=\"3\" fill=\"{colour}\"/>\n"
                    ),
                );
            }
        }
    }
}

/// One series at one level, in plot coordinates: x, the median's y, and the y of the smallest
/// and the largest round; `None` where there is nothing to draw.
struct Column {
    x: f64,
    median: Option<f64>,
    range: Option<(f64, f64)>,
}

/// The maximal runs of consecutive items of `items` that satisfy `keep`.
fn runs<T>(items: &[T], keep: impl Fn(&T) -> bool) -> Vec<&[T]> {
    items
        .split(|c| !keep(c))
        .filter(|r| !r.is_empty())
        .collect()
}

/// `x,y x,y ...`, one decimal each.
fn coords(points: impl Iterator<Item = (f64, f64)>) -> String {
    let mut s = String::new();
    for (x, y) in points {
        if !s.is_empty() {
            s.push(' ');
        }
        w(&mut s, format_args!("{x:.1},{y:.1}"));
    }
    s
}

/// The legend under the panels: a line and dot in each server's colour, then its name.
fn draw_legend(o: &mut String, series: &[Series]) {
    let width = LEGEND_COLUMNS as f64 * LEGEND_COLUMN_WIDTH;
    let x0 = (WIDTH - width) / 2.0;
    for (k, s) in series.iter().enumerate() {
        let colour = PALETTE[k % PALETTE.len()];
        let x = x0 + (k % LEGEND_COLUMNS) as f64 * LEGEND_COLUMN_WIDTH;
        let y = LEGEND_TOP + (k / LEGEND_COLUMNS) as f64 * LEGEND_ROW;
        w(
            o,
            format_args!(
                "<rect x=\"{x:.1}\" y=\"{:.1}\" width=\"24\" height=\"10\" fill=\"{colour}\" \
                 fill-opacity=\"0.18\"/>\n<line x1=\"{x:.1}\" y1=\"{y:.1}\" x2=\"{:.1}\" \
                 y2=\"{y:.1}\" stroke=\"{colour}\" stroke-width=\"2\"/>\n<circle \
                 cx=\"{:.1}\" cy=\"{y:.1}\" r=\"3\" fill=\"{colour}\"/>\n<text x=\"{:.1}\" \
                 y=\"{:.1}\">{}</text>\n",
                y - 5.0,
                x + 24.0,
                x + 12.0,
                x + 32.0,
                y + 4.0,
                esc(&s.name)
            ),
        );
    }
}

/// A minimal well-formedness check of a chart: an `svg` root in the SVG namespace, tags that
/// nest and close, quoted attributes, only the five predefined entities, and no number that
/// failed to be one (NaN, inf) in any tag.
pub fn check(svg: &str) -> Result<(), String> {
    if !svg.starts_with("<svg xmlns=\"http://www.w3.org/2000/svg\" ") {
        return Err("does not start with an <svg> in the SVG namespace".into());
    }
    let mut open: Vec<&str> = Vec::new();
    let mut rest = svg;
    let mut closed_root = false;
    while let Some(start) = rest.find('<') {
        check_text(&rest[..start])?;
        if closed_root {
            return Err("content after </svg>".into());
        }
        let after = &rest[start + 1..];
        let end = after.find('>').ok_or("an unterminated tag")?;
        let tag = &after[..end];
        if tag.contains('<') {
            return Err(format!("a '<' inside the tag <{tag}>"));
        }
        if tag.matches('"').count() % 2 != 0 {
            return Err(format!("unbalanced quotes in <{tag}>"));
        }
        if tag.contains("NaN") || tag.contains("inf") {
            return Err(format!("a number that is not one in <{tag}>"));
        }
        if tag_name(tag.trim_start_matches('/')).is_empty() {
            return Err("an empty tag".into());
        }
        if let Some(closing) = tag.strip_prefix('/') {
            match open.pop() {
                Some(top) if top == tag_name(closing) => {}
                top => return Err(format!("</{closing}> closes {top:?}")),
            }
            closed_root = open.is_empty();
        } else if !tag.ends_with('/') {
            open.push(tag_name(tag));
        } else if open.is_empty() {
            return Err(format!("<{tag}> outside the root"));
        }
        check_text(tag)?;
        rest = &after[end + 1..];
    }
    check_text(rest)?;
    if !rest.trim().is_empty() {
        return Err("text after the root element".into());
    }
    if !open.is_empty() || !closed_root {
        return Err(format!("unclosed elements: {open:?}"));
    }
    Ok(())
}

/// A tag's element name.
fn tag_name(tag: &str) -> &str {
    tag.split_whitespace().next().unwrap_or("")
}

/// Every `&` in `text` starts a predefined entity.
fn check_text(text: &str) -> Result<(), String> {
    for (i, _) in text.match_indices('&') {
        let entity = &text[i..];
        if !["&amp;", "&lt;", "&gt;", "&quot;", "&#39;"]
            .iter()
            .any(|e| entity.starts_with(e))
        {
            return Err(format!("a bare '&' in {text:?}"));
        }
    }
    Ok(())
}

/// Checks [`svg`] on made-up data with gaps, NaN, a wide range and a name to escape: each
/// chart passes [`check`], comes out the same twice, and shows what it should. Panics with
/// the reason otherwise.
pub fn self_check() {
    let band = |median: f64, min: f64, max: f64| Band { median, min, max };
    let point = |in_flight, rate: Band, cpu: Band| Point {
        in_flight,
        conn_per_s: rate,
        cpu_us_per_conn: cpu,
    };
    let nan = band(f64::NAN, f64::NAN, f64::NAN);
    let narrow = vec![
        Series {
            name: "mio".into(),
            points: vec![
                point(1, band(13000.0, 12000.0, 14000.0), band(25.0, 24.0, 26.0)),
                point(16, band(13500.0, 13000.0, 14500.0), band(24.0, 23.0, 25.5)),
                point(64, band(12900.0, 11000.0, 13000.0), band(24.1, 24.0, 24.2)),
            ],
        },
        Series {
            // Absent at 16, no CPU figure at 64: a lone point, then a lone band.
            name: "lib <&> \"x\" 'y'".into(),
            points: vec![
                point(1, band(12000.0, 11000.0, 13000.0), band(27.0, 26.0, 28.0)),
                point(64, band(12500.0, f64::NAN, 12600.0), nan),
            ],
        },
        Series {
            name: "nothing".into(),
            points: vec![point(1, nan, nan)],
        },
        Series {
            name: "empty".into(),
            points: Vec::new(),
        },
    ];
    let mut wide = narrow.clone();
    wide.push(Series {
        name: "chrome".into(),
        points: vec![
            point(1, band(664.0, 600.0, 700.0), band(1365.8, 1200.0, 1500.0)),
            point(16, band(996.0, 950.0, 1000.0), band(1113.1, 1100.0, 1200.0)),
        ],
    });
    let cases: [(&str, &[Series]); 4] = [
        ("narrow", &narrow),
        ("wide", &wide),
        ("one series", &narrow[..1]),
        ("no series", &[]),
    ];
    for (case, series) in cases {
        let chart = svg("self-check <&> 2026", series);
        if let Err(e) = check(&chart) {
            panic!("chart self-check ({case}): {e}\n{chart}");
        }
        assert_eq!(
            chart,
            svg("self-check <&> 2026", series),
            "chart self-check ({case}): not deterministic"
        );
        assert!(
            chart.contains("self-check &lt;&amp;&gt; 2026"),
            "chart self-check ({case}): title not escaped"
        );
    }
    let narrow_chart = svg("t", &narrow);
    let wide_chart = svg("t", &wide);
    assert!(narrow_chart.contains("lib &lt;&amp;&gt; &quot;x&quot; &#39;y&#39;"));
    assert!(!narrow_chart.contains("(log scale)"));
    assert!(wide_chart.contains("(log scale)"));
    // mio: a line in each panel; the lib series: no line (its points are not adjacent), 3
    // dots; 3 + 2 + 3 + 2 dots in all, plus one per legend entry.
    assert_eq!(narrow_chart.matches("<polyline").count(), 2);
    assert_eq!(narrow_chart.matches("<circle").count(), 3 + 2 + 3 + 1 + 4);
    for bad in [
        "<svg",
        "<svg xmlns=\"http://www.w3.org/2000/svg\" ><g></svg>",
    ] {
        assert!(check(bad).is_err(), "check accepts {bad:?}");
    }
    let linear = Scale::linear(0.0, 2400.0);
    assert_eq!((linear.hi, linear.ticks.len()), (2500.0, 6));
    assert_eq!(linear.label(2500.0), "2500");
    let linear = Scale::linear(0.0, 13500.0);
    assert_eq!((linear.hi, linear.label(10000.0)), (15000.0, "10k".into()));
    assert_eq!(linear.label(0.0), "0");
    assert_eq!(Scale::linear(0.0, 0.9).label(0.6000000000000001), "0.6");
    let log = Scale::new(&[20.0, 1365.0]);
    assert_eq!((log.lo, log.hi, log.ticks.len()), (20.0, 2000.0, 7));
    assert_eq!(utc(1_796_051_460), "2026-11-30 15:11 UTC");
    assert_eq!(utc(951_868_799), "2000-02-29 23:59 UTC");
}

/// `secs` since the Unix epoch as `YYYY-MM-DD HH:MM UTC`.
pub fn utc(secs: u64) -> String {
    let days = (secs / 86_400) as i64;
    let (h, m) = ((secs % 86_400) / 3600, (secs % 3600) / 60);
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let mo = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(mo <= 2);
    format!("{y:04}-{mo:02}-{d:02} {h:02}:{m:02} UTC")
}
