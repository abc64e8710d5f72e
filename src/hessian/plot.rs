//! The log-log scatter of MESU's estimate against the Hessian diagonal, one
//! point series per checkpoint, with the line where they are equal.

use plotters::prelude::*;

use super::stats::quantile;
use crate::plot::{FONT, PALETTE, Res, chart_on, err, titled_svg};

/// One checkpoint's points (hessian, estimate), both positive.
pub struct Series {
    pub name: String,
    pub points: Vec<(f64, f64)>,
}

/// An axis's range, from the 0.5 % quantile of its values up: a few
/// near-dead units' tiny values would otherwise squeeze the rest into a
/// corner (the legend counts the points left out).
fn range(series: &[Series], side: fn(&(f64, f64)) -> f64) -> (f64, f64) {
    let mut v: Vec<f64> = series.iter().flat_map(|s| &s.points).map(side).collect();
    v.sort_by(f64::total_cmp);
    let lo = quantile(&v, 0.005);
    let hi = v.last().copied().unwrap_or(f64::NAN);
    if lo.is_finite() && hi > lo {
        (lo / 2.0, hi * 2.0)
    } else {
        (1e-6, 1.0)
    }
}

pub fn scatter(title: &str, subtitle: &str, series: &[Series]) -> Res {
    // Each axis its own range, since the estimate's scale can be far from
    // the Hessian's (by N / steps before equilibrium); the line of equality
    // where the two ranges overlap.
    let (x, y) = (range(series, |p| p.0), range(series, |p| p.1));
    let (lo, hi) = (x.0.max(y.0), x.1.min(y.1));
    titled_svg(title, subtitle, |area| {
        let mut chart = chart_on(area)
            .build_cartesian_2d((x.0..x.1).log_scale(), (y.0..y.1).log_scale())
            .map_err(err)?;
        chart
            .configure_mesh()
            .x_desc("Hessian diagonal (mean over the training set)")
            .y_desc("MESU: (1/sigma^2 - 1/sigma_prior^2) / N")
            .x_label_formatter(&|x| format!("{x:.0e}"))
            .y_label_formatter(&|y| format!("{y:.0e}"))
            .axis_desc_style((FONT, 16))
            .label_style((FONT, 13))
            .draw()
            .map_err(err)?;
        if lo < hi {
            let grey = RGBColor(128, 128, 128);
            chart
                .draw_series(LineSeries::new([(lo, lo), (hi, hi)], grey.stroke_width(1)))
                .map_err(err)?
                .label("equal")
                .legend(move |(x, y)| {
                    PathElement::new([(x, y), (x + 20, y)], grey.stroke_width(1))
                });
        }
        for (k, s) in series.iter().enumerate() {
            let color = PALETTE[k % PALETTE.len()];
            let (inside, outside): (Vec<_>, Vec<_>) =
                s.points.iter().partition(|p| p.0 >= x.0 && p.1 >= y.0);
            let dots = inside
                .iter()
                .map(|&&p| Circle::new(p, 2, color.mix(0.5).filled()));
            let name = match outside.len() {
                0 => s.name.clone(),
                n => format!("{} ({n} below the axes)", s.name),
            };
            chart
                .draw_series(dots)
                .map_err(err)?
                .label(name)
                .legend(move |(x, y)| Circle::new((x + 10, y), 4, color.filled()));
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperLeft)
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK)
            .label_font((FONT, 14))
            .draw()
            .map_err(err)?;
        Ok(())
    })
}
