//! SVG plots, each rendered into a String (the caller writes it
//! atomically): the chart helpers every plot shares (a titled canvas, x-y
//! lines) and a run's plots; the results folders, the sweep summary and the
//! Hessian check draw through them. plotters' SVG backend emits <text>, so
//! no font files are needed.

use plotters::coord::ranged1d::{AsRangedCoord, ValueFormatter};
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use crate::metrics::{OodAuroc, StreamMetrics};
use crate::stream::SigmaStat;

pub(crate) const SIZE: (u32, u32) = (800, 500);
/// The accuracy matrix shows each cell's value up to this many tasks.
pub const CELL_LABELS: usize = 12;
pub(crate) const FONT: &str = "sans-serif";
/// Matplotlib's tab10 colours: distinct and readable on white.
pub(crate) const PALETTE: [RGBColor; 6] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
];

pub(crate) type Res = Result<String, String>;

pub(crate) fn err(e: impl std::fmt::Display) -> String {
    e.to_string()
}

/// One named line: (tasks learned, value) points, with an optional shaded
/// band (x, low, high) around it and an optional fixed colour.
struct Line {
    name: String,
    points: Vec<(u32, f64)>,
    band: Vec<(u32, f64, f64)>,
    color: Option<RGBColor>,
}

impl Line {
    fn new(name: impl Into<String>, points: Vec<(u32, f64)>) -> Line {
        Line {
            name: name.into(),
            points,
            band: Vec::new(),
            color: None,
        }
    }

    /// Marker size: none on a reference line (one with its own colour).
    fn marker(&self, size: u32) -> u32 {
        if self.color.is_some() { 0 } else { size }
    }

    /// Its colour: its own, else the palette's k-th.
    fn color_at(&self, k: usize) -> RGBColor {
        self.color.unwrap_or(PALETTE[k % PALETTE.len()])
    }
}

/// Draws each of `lines` (with `name` and `points`) in the palette with
/// markers of `marker` pixels, and a legend at `legend` when given: the
/// series part of every line plot (a macro: the charts' coordinate types
/// differ, and plotters' bounds for them do not fit one signature).
macro_rules! draw_lines {
    ($chart:expr, $lines:expr, $marker:expr, $legend:expr) => {{
        for (k, line) in $lines.iter().enumerate() {
            let color = line.color_at(k);
            $chart
                .draw_series(
                    LineSeries::new(line.points.iter().copied(), color.stroke_width(2))
                        .point_size(line.marker(($marker) as u32)),
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
    subtitle: &str,
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
    titled_svg(title, subtitle, |area| {
        let mut chart = chart_on(area)
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
        // Bands first, under every line.
        for (k, line) in lines.iter().enumerate().filter(|(_, l)| !l.band.is_empty()) {
            let lower = line.band.iter().map(|&(x, lo, _)| (x, lo));
            let upper = line.band.iter().rev().map(|&(x, _, hi)| (x, hi));
            let outline: Vec<_> = lower.chain(upper).collect();
            let fill = line.color_at(k).mix(0.18);
            chart
                .draw_series(std::iter::once(Polygon::new(outline, fill)))
                .map_err(err)?;
        }
        // Markers keep a one-point series visible; skip them when crowded.
        let marker = if t <= 50 { 3 } else { 0 };
        draw_lines!(chart, lines, marker, (lines.len() > 1).then_some(legend));
        Ok(())
    })
}

/// The drawing area of a plot, below its title.
pub(crate) type Area<'a> = DrawingArea<SVGBackend<'a>, plotters::coord::Shift>;

/// An SVG plot of `SIZE` with its title and subtitle, `draw` filling the
/// area below them.
pub(crate) fn titled_svg(
    title: &str,
    subtitle: &str,
    draw: impl FnOnce(&Area) -> Result<(), String>,
) -> Res {
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, SIZE).into_drawing_area();
        root.fill(&WHITE).map_err(err)?;
        draw(&titled(&root, title, subtitle)?)?;
        root.present().map_err(err)?;
    }
    Ok(svg)
}

/// A chart on `area` with the margins and label areas every plot uses.
pub(crate) fn chart_on<'a, 'b>(area: &'a Area<'b>) -> ChartBuilder<'a, 'b, SVGBackend<'b>> {
    let mut builder = ChartBuilder::on(area);
    builder
        .margin(15)
        .x_label_area_size(45)
        .y_label_area_size(70);
    builder
}

/// Draws the title and, under it in a smaller font, the subtitle naming the
/// run; returns the area below them.
pub(crate) fn titled<'a>(
    root: &DrawingArea<SVGBackend<'a>, plotters::coord::Shift>,
    title: &str,
    subtitle: &str,
) -> Result<DrawingArea<SVGBackend<'a>, plotters::coord::Shift>, String> {
    let area = root.titled(title, (FONT, 24)).map_err(err)?;
    if subtitle.is_empty() {
        return Ok(area);
    }
    area.titled(
        subtitle,
        (FONT, 15).into_font().color(&RGBColor(80, 80, 80)),
    )
    .map_err(err)
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

pub fn mean_accuracy(m: &StreamMetrics, t: usize, run: &str) -> Res {
    let lines = [
        Line::new("all seen tasks", percent_points(&m.mean_all)),
        Line::new(
            "tasks before the newest (the paper's Fig. 3)",
            percent_points(&m.mean_earlier),
        ),
        Line::new("last 5 tasks", percent_points(&m.mean_last5)),
    ];
    // Room under the curves for the legend in the lower left (a fifth of
    // the height): the curves start high and fall, so the left stays clear.
    let y = percent_range(&lines);
    let lo = (((y.start - 0.3 * (100.0 - y.start)) / 5.0).floor() * 5.0).max(0.0);
    line_chart(
        "mean accuracy over seen tasks",
        run,
        "accuracy (%)",
        t,
        lo..100.0,
        &lines,
        SeriesLabelPosition::LowerLeft,
    )
}

pub fn plasticity(m: &StreamMetrics, t: usize, run: &str) -> Res {
    let lines = [Line::new("newest task", percent_points(&m.plasticity))];
    let y = percent_range(&lines);
    line_chart(
        "plasticity: accuracy on the newest task, R[i][i]",
        run,
        "accuracy (%)",
        t,
        y,
        &lines,
        SeriesLabelPosition::LowerLeft,
    )
}

/// Mean |sigma| per layer with its min..max band and the prior's sigma as a
/// grey line, on a log axis when the values span orders of magnitude.
pub fn sigma(stats: &[SigmaStat], t: usize, prior: Option<f64>, run: &str) -> Res {
    let layers = stats.iter().map(|s| s.layer + 1).max().unwrap_or(0);
    let ok = |v: f64| v.is_finite() && v > 0.0;
    let mut lines: Vec<Line> = (0..layers)
        .map(|layer| {
            let of_layer = || stats.iter().filter(move |s| s.layer == layer);
            let mut line = Line::new(
                format!("layer {} (mean, band min..max)", layer + 1),
                of_layer()
                    .filter(|s| ok(s.mean))
                    .map(|s| (s.task as u32 + 1, s.mean))
                    .collect(),
            );
            line.band = of_layer()
                .filter(|s| ok(s.min) && ok(s.max))
                .map(|s| (s.task as u32 + 1, s.min, s.max))
                .collect();
            line
        })
        .filter(|l| !l.points.is_empty())
        .collect();
    let t = t.max(stats.iter().map(|s| s.task + 1).max().unwrap_or(0));
    if let Some(p) = prior.filter(|&p| ok(p)) {
        let mut line = Line::new(
            format!("prior sigma = {p}"),
            vec![(0, p), (t.max(1) as u32 + 1, p)],
        );
        line.color = Some(RGBColor(128, 128, 128));
        lines.push(line);
    }
    let values = lines.iter().flat_map(|l| {
        let band = l.band.iter().flat_map(|b| [b.1, b.2]);
        l.points.iter().map(|p| p.1).chain(band)
    });
    let (lo, hi) = values.fold((f64::INFINITY, 0.0f64), |(a, b), v| (a.min(v), b.max(v)));
    let title = "sigma per layer";
    // Sigma shrinks as tasks are learned, leaving the upper right free.
    let legend = SeriesLabelPosition::UpperRight;
    // A log axis only labels decades, so use it only when it spans a few.
    if hi > 100.0 * lo {
        let y = (lo / 1.5..hi * 1.5).log_scale();
        line_chart(title, run, "|sigma| (log scale)", t, y, &lines, legend)
    } else {
        // Pad so flat lines are not drawn on the frame.
        let pad = if hi > lo {
            0.05 * (hi - lo)
        } else {
            0.1 * hi.max(1e-3)
        };
        let y = (lo - pad).max(0.0)..hi + pad;
        let y = if y.start.is_finite() { y } else { 0.0..1.0 };
        line_chart(title, run, "|sigma|", t, y, &lines, legend)
    }
}

/// AUROC of each uncertainty (OOD set against the newest task) after each task.
pub fn ood_auroc(ood: &[OodAuroc], t: usize, run: &str) -> Res {
    let line = |name: &str, f: fn(&OodAuroc) -> f64| {
        let pts = ood.iter().map(|o| (o.task as u32 + 1, f(o)));
        Line::new(name, pts.filter(|p| p.1.is_finite()).collect())
    };
    let lines = [
        line("epistemic", |o| o.epistemic),
        line("aleatoric", |o| o.aleatoric),
        line("predictive", |o| o.predictive),
    ];
    let lo = lines
        .iter()
        .flat_map(|l| &l.points)
        .map(|p| p.1)
        .fold(0.5f64, f64::min);
    let lo = ((lo - 0.02) * 10.0).floor() / 10.0;
    line_chart(
        "OOD detection: AUROC after each task",
        run,
        "AUROC (OOD positive)",
        t,
        lo.max(0.0)..1.0,
        &lines,
        SeriesLabelPosition::LowerRight,
    )
}

/// Mean training loss per example of each task (log scale when it spans
/// more than a decade).
pub fn loss(per_task: &[f64], t: usize, run: &str) -> Res {
    let pts: Vec<_> = per_task
        .iter()
        .enumerate()
        .map(|(i, l)| (i as u32 + 1, *l))
        .filter(|p| p.1.is_finite())
        .collect();
    let (lo, hi) = pts.iter().fold((f64::INFINITY, 0.0f64), |(lo, hi), p| {
        (lo.min(p.1), hi.max(p.1))
    });
    let lines = [Line::new("training loss", pts)];
    let (title, y_desc, legend) = (
        "Training loss per task",
        "mean loss per example (nats)",
        SeriesLabelPosition::UpperRight,
    );
    if lo > 0.0 && hi > 10.0 * lo {
        let y = (lo * 0.8..hi * 1.25).log_scale();
        return line_chart(title, run, y_desc, t, y, &lines, legend);
    }
    let hi = if hi > 0.0 { hi * 1.1 } else { 1.0 };
    line_chart(title, run, y_desc, t, 0.0..hi, &lines, legend)
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
/// NaN cells stay blank; tasks are numbered from 1. Up to `CELL_LABELS` tasks
/// each cell shows its value.
pub fn heatmap(matrix: &[Vec<f64>], done: usize, run: &str) -> Res {
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
        let area = titled(&root, "accuracy matrix R[i][j] (%)", run)?;
        let (main, bar) = area.split_horizontally(660);
        // Cells are centred on integer indices; the y range is reversed so
        // row 0 is at the top.
        let edge = t as f64 - 0.5;
        let mut chart = ChartBuilder::on(&main)
            .margin(15)
            .x_label_area_size(45)
            .y_label_area_size(60)
            .build_cartesian_2d(-0.5..edge, edge..-0.5)
            .map_err(err)?;
        let index = |v: &f64| {
            let r = v.round();
            if (v - r).abs() < 1e-6 {
                format!("{}", r + 1.0)
            } else {
                String::new()
            }
        };
        chart
            .configure_mesh()
            .disable_mesh()
            .x_desc("evaluated task")
            .y_desc("after learning task")
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
        if t <= CELL_LABELS {
            let size = if t <= 8 { 16 } else { 12 };
            let labels = rows.iter().enumerate().flat_map(|(i, row)| {
                row.iter()
                    .enumerate()
                    .filter(|(_, v)| v.is_finite())
                    .map(move |(j, v)| {
                        let v = 100.0 * v;
                        // Dark text on the light (high) end of viridis.
                        let ink = if (v - lo) / (hi - lo) > 0.6 {
                            BLACK
                        } else {
                            WHITE
                        };
                        let style = (FONT, size)
                            .into_font()
                            .color(&ink)
                            .pos(Pos::new(HPos::Center, VPos::Center));
                        Text::new(format!("{v:.1}"), (j as f64, i as f64), style)
                    })
            });
            chart.draw_series(labels).map_err(err)?;
        }

        let mut scale = ChartBuilder::on(&bar)
            .margin_top(15)
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

/// One named line of a sweep plot: (x, y) points, and per point the half
/// height of an error bar (`sd` empty, or 0 or NaN at a point: no bar).
pub struct XyLine {
    pub name: String,
    pub points: Vec<(f64, f64)>,
    pub sd: Vec<f64>,
}

impl XyLine {
    fn marker(&self, size: u32) -> u32 {
        size
    }

    fn color_at(&self, k: usize) -> RGBColor {
        PALETTE[k % PALETTE.len()]
    }
}

/// Axis text: 1e5 rather than 100000.0, 1.8e5 rather than 180000, 512
/// rather than 512.0.
fn tick(x: f64) -> String {
    if x.abs() >= 1e5 {
        // Three significant digits at most, trailing zeros dropped.
        let text = format!("{x:.2e}");
        let (mantissa, exp) = text.split_once('e').unwrap_or((&text, "0"));
        let mantissa = mantissa.trim_end_matches('0').trim_end_matches('.');
        format!("{mantissa}e{exp}")
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
    // Error bars: (x, y - sd, y, y + sd) where sd is finite and positive.
    let bars: Vec<(usize, [f64; 4])> = lines
        .iter()
        .enumerate()
        .flat_map(|(k, l)| {
            l.points
                .iter()
                .zip(&l.sd)
                .filter_map(move |(&(x, y), &sd)| {
                    (sd.is_finite() && sd > 0.0 && y.is_finite())
                        .then_some((k, [x, y - sd, y, y + sd]))
                })
        })
        .collect();
    let (y0, y1) = bounds(|p| p.1);
    let (y0, y1) = bars
        .iter()
        .fold((y0, y1), |(lo, hi), (_, b)| (lo.min(b[1]), hi.max(b[3])));
    // The x values themselves as ticks when there are few on a log axis
    // (a log axis labels only decades, none at all within one).
    let mut xs: Vec<f64> = pts().map(|p| p.0).filter(|v| v.is_finite()).collect();
    xs.sort_by(f64::total_cmp);
    xs.dedup();
    if !x0.is_finite() {
        return Err("no finite points to plot".into());
    }
    // Pad so a single point or a flat line still gets an axis.
    let (x0, x1) = if log_x {
        // A factor 2, or 5 % of the span in decades, on each side.
        let pad = (x1 / x0).powf(0.05).max(2.0);
        (x0 / pad, x1 * pad)
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
                let errors = bars.iter().map(|(k, [x, lo, y, hi])| {
                    let color = PALETTE[k % PALETTE.len()];
                    ErrorBar::new_vertical(*x, *lo, *y, *hi, color.stroke_width(2), 10)
                });
                chart.draw_series(errors).map_err(err)?;
                draw_lines!(chart, lines, 4, Some(SeriesLabelPosition::LowerRight));
            }};
        }
        if log_x && xs.len() <= 8 {
            let x = (x0..x1).log_scale().with_key_points(xs);
            draw!(builder.build_cartesian_2d(x, y0..y1));
        } else if log_x {
            draw!(builder.build_cartesian_2d((x0..x1).log_scale(), y0..y1));
        } else {
            draw!(builder.build_cartesian_2d(x0..x1, y0..y1));
        }
        root.present().map_err(err)?;
    }
    Ok(svg)
}
