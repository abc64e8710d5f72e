//! `mesu reproduce`: the paper's published experiments as sweeps of the
//! paper's stream (plan), their published numbers (published), and the
//! table of ours beside them read from the run folders (table).

mod plan;
pub mod published;
mod table;

use std::path::Path;

use crate::report::{ReportError, write_atomic};

pub use plan::{Experiment, paper_stream};
pub use table::{Comparison, RunRows, compare, csv, markdown, read_runs, svg};

/// Reads the run folders under `dir`, writes `<experiment>.md`, `.csv` and
/// (once a curve has a point) `.svg` there and returns the markdown table.
pub fn write_tables(dir: &Path, experiment: Experiment) -> crate::Result<String> {
    let runs = read_runs(dir)?;
    let rows = compare(experiment, &runs);
    let name = experiment.name();
    let text = markdown(experiment, &rows);
    write_atomic(dir, &format!("{name}.md"), &text)?;
    write_atomic(dir, &format!("{name}.csv"), &csv(&rows))?;
    let file = match experiment {
        Experiment::Fig3 => "fig3.svg",
        Experiment::WidthN => "width-n.svg",
    };
    if let Some(plot) =
        svg(experiment, &runs).map_err(|message| ReportError::Plot { file, message })?
    {
        write_atomic(dir, file, &plot)?;
    }
    Ok(text)
}
