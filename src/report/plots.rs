//! SVG plots of a run, each rendered into a String (the caller writes it
//! atomically). plotters' SVG backend emits <text>, so no font files are needed.

use plotters::coord::ranged1d::{AsRangedCoord, ValueFormatter};
use plotters::prelude::*;

use super::SigmaStat;
use crate::metrics::StreamMetrics;

const SIZE: (u32, u32) = (800, 500);
const FONT: &str = "sans-serif";
/// Matplotlib's tab10 colours: distinct and readable on white.
const PALETTE: [RGBColor; 6] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
];

type Res = Result<String, String>;

fn err(e: impl std::fmt::Display) -> String {
    e.to_string()
}

/// One named line: (tasks learned, value) points.
struct Line {
    name: String,
    points: Vec<(u32, f64)>,
}

/// Draws each of `lines` (with `name` and `points`) in the palette with
/// markers of `marker` pixels, and a legend at `legend` when given: the
/// series part of every line plot (a macro: the charts' coordinate types
/// differ, and plotters' bounds for them do not fit one signature).
macro_rules! draw_lines {
    ($chart:expr, $lines:expr, $marker:expr, $legend:expr) => {{
        for (k, line) in $lines.iter().enumerate() {
            let color = PALETTE[k % PALETTE.len()];
            $chart
                .draw_series(
                    LineSeries::new(line.points.iter().copied(), color.stroke_width(2))
                        .point_size($marker),
                )
                .map_err(err)?
                .label(line.name.as_str())
                .legend(move |(x, y)| {
                    PathElement::new([(x, y), (x + 20, y)], color.stroke_width(2))
                });
        }
        if let Some(position) = $legend {
            $chart
                .configure_series_labels()
                .position(position)
                .background_style(WHITE.mix(0.85))
                .border_style(BLACK)
                .label_font((FONT, 14))
                .draw()
                .map_err(err)?;
        }
    }};
}

/// Line chart against "tasks learned" on 0..=t, shared by every line plot.
fn line_chart<Y>(
    title: &str,
    y_desc: &str,
    t: usize,
    y: Y,
    lines: &[Line],
    legend: SeriesLabelPosition,
) -> Res
where
    Y: AsRangedCoord<Value = f64>,
    Y::CoordDescType: ValueFormatter<f64>,
{
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, SIZE).into_drawing_area();
        root.fill(&WHITE).map_err(err)?;
        let mut chart = ChartBuilder::on(&root)
            .caption(title, (FONT, 24))
            .margin(15)
            .x_label_area_size(45)
            .y_label_area_size(70)
            .build_cartesian_2d(0..t.max(1) as u32 + 1, y)
            .map_err(err)?;
        chart
            .configure_mesh()
            .x_desc("tasks learned")
            .y_desc(y_desc)
            .axis_desc_style((FONT, 16))
            .label_style((FONT, 13))
            .draw()
            .map_err(err)?;
        // Markers keep a one-point series visible; skip them when crowded.
        let marker = if t <= 50 { 3 } else { 0 };
        draw_lines!(chart, lines, marker, (lines.len() > 1).then_some(legend));
        root.present().map_err(err)?;
    }
    Ok(svg)
}

/// Finite points of a per-task curve, at tasks learned = i + 1, in %.
fn percent_points(values: &[f64]) -> Vec<(u32, f64)> {
    let pts = values
        .iter()
        .enumerate()
        .map(|(i, v)| (i as u32 + 1, 100.0 * v));
    pts.filter(|p| p.1.is_finite()).collect()
}

/// Accuracy axis from just below the lowest value (to a multiple of 5) to 100.
fn percent_range(lines: &[Line]) -> std::ops::Range<f64> {
    let lo = lines
        .iter()
        .flat_map(|l| &l.points)
        .map(|p| p.1)
        .fold(f64::INFINITY, f64::min);
    let lo = if lo.is_finite() {
        ((lo - 1.0) / 5.0).floor() * 5.0
    } else {
        0.0
    };
    lo.clamp(0.0, 95.0)..100.0
}

pub fn mean_accuracy(m: &StreamMetrics, t: usize) -> Res {
    let lines = [
        Line {
            name: "all seen tasks".into(),
            points: percent_points(&m.mean_all),
        },
        Line {
            name: "tasks before the newest (the paper's Fig. 3)".into(),
            points: percent_points(&m.mean_earlier),
        },
        Line {
            name: "last 5 tasks".into(),
            points: percent_points(&m.mean_last5),
        },
    ];
    // Room under the curves for the legend in the lower left (a fifth of
    // the height): the curves start high and fall, so the left stays clear.
    let y = percent_range(&lines);
    let lo = (((y.start - 0.3 * (100.0 - y.start)) / 5.0).floor() * 5.0).max(0.0);
    line_chart(
        "mean accuracy over seen tasks",
        "accuracy (%)",
        t,
        lo..100.0,
        &lines,
        SeriesLabelPosition::LowerLeft,
    )
}

pub fn plasticity(m: &StreamMetrics, t: usize) -> Res {
    let lines = [Line {
        name: "newest task".into(),
        points: percent_points(&m.plasticity),
    }];
    let y = percent_range(&lines);
    line_chart(
        "plasticity: accuracy on the newest task, R[i][i]",
        "accuracy (%)",
        t,
        y,
        &lines,
        SeriesLabelPosition::LowerLeft,
    )
}

/// Mean sigma per layer, on a log axis when it shrinks by orders of magnitude.
pub fn sigma(stats: &[SigmaStat], t: usize) -> Res {
    let layers = stats.iter().map(|s| s.layer + 1).max().unwrap_or(0);
    let lines: Vec<Line> = (0..layers)
        .map(|layer| Line {
            name: format!("layer {layer}"),
            points: stats
                .iter()
                .filter(|s| s.layer == layer && s.mean.is_finite() && s.mean > 0.0)
                .map(|s| (s.task as u32 + 1, s.mean))
                .collect(),
        })
        .filter(|l| !l.points.is_empty())
        .collect();
    let values = lines.iter().flat_map(|l| &l.points).map(|p| p.1);
    let (lo, hi) = values.fold((f64::INFINITY, 0.0f64), |(a, b), v| (a.min(v), b.max(v)));
    let t = t.max(stats.iter().map(|s| s.task + 1).max().unwrap_or(0));
    let title = "mean sigma per layer";
    // Sigma shrinks as tasks are learned, leaving the upper right free.
    let legend = SeriesLabelPosition::UpperRight;
    // A log axis only labels decades, so use it only when it spans a few.
    if hi > 100.0 * lo {
        let y = (lo / 1.5..hi * 1.5).log_scale();
        line_chart(title, "mean sigma (log scale)", t, y, &lines, legend)
    } else {
        // Pad so flat lines are not drawn on the frame.
        let pad = if hi > lo {
            0.05 * (hi - lo)
        } else {
            0.1 * hi.max(1e-3)
        };
        let y = (lo - pad).max(0.0)..hi + pad;
        let y = if y.start.is_finite() { y } else { 0.0..1.0 };
        line_chart(title, "mean sigma", t, y, &lines, legend)
    }
}

/// Approximate viridis colour map on [0, 1].
fn viridis(x: f64) -> RGBColor {
    const STOPS: [(u8, u8, u8); 6] = [
        (68, 1, 84),
        (65, 68, 135),
        (42, 120, 142),
        (34, 168, 132),
        (122, 209, 81),
        (253, 231, 37),
    ];
    let x = x.clamp(0.0, 1.0) * (STOPS.len() - 1) as f64;
    let k = (x as usize).min(STOPS.len() - 2);
    let f = x - k as f64;
    let (a, b) = (STOPS[k], STOPS[k + 1]);
    let mix = |p: u8, q: u8| (p as f64 + (q as f64 - p as f64) * f).round() as u8;
    RGBColor(mix(a.0, b.0), mix(a.1, b.1), mix(a.2, b.2))
}

/// Heatmap of R in %, row 0 at the top like the matrix, with a colour bar;
/// NaN cells stay blank.
pub fn heatmap(matrix: &[Vec<f64>], done: usize) -> Res {
    let t = matrix.len().max(1);
    let rows = &matrix[..done.min(matrix.len())];
    let finite = rows
        .iter()
        .flatten()
        .filter(|v| v.is_finite())
        .map(|v| 100.0 * v);
    let (lo, hi) = finite.fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), v| {
        (a.min(v), b.max(v))
    });
    let (lo, hi) = if lo <= hi {
        let lo = (lo / 5.0).floor() * 5.0;
        (lo, ((hi / 5.0).ceil() * 5.0).max(lo + 5.0))
    } else {
        (0.0, 100.0)
    };
    let color = |v: f64| viridis((v - lo) / (hi - lo));

    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (760, 660)).into_drawing_area();
        root.fill(&WHITE).map_err(err)?;
        let (main, bar) = root.split_horizontally(660);
        // Cells are centred on integer indices; the y range is reversed so
        // row 0 is at the top.
        let edge = t as f64 - 0.5;
        let mut chart = ChartBuilder::on(&main)
            .caption("accuracy matrix R[i][j] (%)", (FONT, 24))
            .margin(15)
            .x_label_area_size(45)
            .y_label_area_size(60)
            .build_cartesian_2d(-0.5..edge, edge..-0.5)
            .map_err(err)?;
        let index = |v: &f64| {
            let r = v.round();
            if (v - r).abs() < 1e-6 {
                format!("{r}")
            } else {
                String::new()
            }
        };
        chart
            .configure_mesh()
            .disable_mesh()
            .x_desc("evaluated task j")
            .y_desc("after learning task i")
            .axis_desc_style((FONT, 16))
            .label_style((FONT, 13))
            .x_label_formatter(&index)
            .y_label_formatter(&index)
            .x_labels(t.min(10))
            .y_labels(t.min(10))
            .draw()
            .map_err(err)?;
        let cells = rows.iter().enumerate().flat_map(|(i, row)| {
            row.iter()
                .enumerate()
                .filter(|(_, v)| v.is_finite())
                .map(move |(j, v)| {
                    let (x, y) = (j as f64, i as f64);
                    Rectangle::new(
                        [(x - 0.5, y - 0.5), (x + 0.5, y + 0.5)],
                        color(100.0 * v).filled(),
                    )
                })
        });
        chart.draw_series(cells).map_err(err)?;

        let mut scale = ChartBuilder::on(&bar)
            .margin_top(55)
            .margin_bottom(60)
            .margin_right(15)
            .y_label_area_size(45)
            .build_cartesian_2d(0.0..1.0, lo..hi)
            .map_err(err)?;
        scale
            .configure_mesh()
            .disable_mesh()
            .disable_x_axis()
            .label_style((FONT, 13))
            // At most 6 labels: the range spans >= 5 points, so steps are whole.
            .y_labels(6)
            .y_label_formatter(&|v| format!("{v:.0}%"))
            .draw()
            .map_err(err)?;
        const STEPS: usize = 64;
        let step = (hi - lo) / STEPS as f64;
        let bands = (0..STEPS).map(|k| {
            let v = lo + k as f64 * step;
            Rectangle::new([(0.0, v), (1.0, v + step)], color(v + step / 2.0).filled())
        });
        scale.draw_series(bands).map_err(err)?;
        root.present().map_err(err)?;
    }
    Ok(svg)
}

/// One named line of a sweep plot: (x, y) points.
pub struct XyLine {
    pub name: String,
    pub points: Vec<(f64, f64)>,
}

/// Axis text: 1e5 rather than 100000.0, 512 rather than 512.0.
fn tick(x: f64) -> String {
    if x.abs() >= 1e5 {
        format!("{x:.0e}")
    } else {
        format!("{x:.0}")
    }
}

/// Line chart of sweep results; `log_x` for axes like N that span decades.
pub fn xy_chart(title: &str, x_desc: &str, y_desc: &str, lines: &[XyLine], log_x: bool) -> Res {
    let pts = || lines.iter().flat_map(|l| &l.points);
    let bounds = |f: fn(&(f64, f64)) -> f64| {
        pts()
            .map(f)
            .filter(|v| v.is_finite())
            .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| {
                (lo.min(v), hi.max(v))
            })
    };
    let (x0, x1) = bounds(|p| p.0);
    let (y0, y1) = bounds(|p| p.1);
    if !x0.is_finite() {
        return Err("no finite points to plot".into());
    }
    // Pad so a single point or a flat line still gets an axis.
    let (x0, x1) = if log_x {
        (x0 / 2.0, x1 * 2.0)
    } else {
        // At least 10 % of the value, so one point still gets distinct ticks.
        let pad = ((x1 - x0) * 0.05).max(x1.abs() * 0.1).max(0.5);
        (x0 - pad, x1 + pad)
    };
    let pad = ((y1 - y0) * 0.1).max(y1.abs() * 0.02).max(0.5);
    let (y0, y1) = (y0 - pad, y1 + pad);
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, SIZE).into_drawing_area();
        root.fill(&WHITE).map_err(err)?;
        let mut builder = ChartBuilder::on(&root);
        builder
            .caption(title, (FONT, 24))
            .margin(15)
            .x_label_area_size(45)
            .y_label_area_size(70);
        macro_rules! draw {
            ($chart:expr) => {{
                let mut chart = $chart.map_err(err)?;
                chart
                    .configure_mesh()
                    .x_labels(8)
                    .x_label_formatter(&|x: &f64| tick(*x))
                    .x_desc(x_desc)
                    .y_desc(y_desc)
                    .axis_desc_style((FONT, 16))
                    .label_style((FONT, 13))
                    .draw()
                    .map_err(err)?;
                draw_lines!(chart, lines, 4, Some(SeriesLabelPosition::LowerRight));
            }};
        }
        if log_x {
            draw!(builder.build_cartesian_2d((x0..x1).log_scale(), y0..y1));
        } else {
            draw!(builder.build_cartesian_2d(x0..x1, y0..y1));
        }
        root.present().map_err(err)?;
    }
    Ok(svg)
}
