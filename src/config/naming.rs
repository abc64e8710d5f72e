//! Names: a run's folder name spells every setting, so reruns find their
//! folder; hidden widths as a sweep spells them; the time in folder names.

use super::RunSettings;
use crate::Result;
use crate::optim::PenaltyHyper;

/// "50" or "400x400".
pub fn hidden_name(hidden: &[usize]) -> String {
    let s: Vec<_> = hidden.iter().map(|h| h.to_string()).collect();
    s.join("x")
}

/// Parses "50" or "400x400" (widths of the hidden layers).
pub fn parse_hidden(s: &str) -> Result<Vec<usize>> {
    let widths = s
        .split('x')
        .map(|w| w.trim().parse::<usize>())
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(|_| format!("hidden {s:?}: expected widths like 50 or 400x400"))?;
    if widths.contains(&0) {
        return Err(format!("hidden {s:?}: every width must be at least 1").into());
    }
    Ok(widths)
}

/// Shortest text that reads back as the same f64 (300000, 1e15, 0.002).
fn short(x: f64) -> String {
    if x != 0.0 && (x.abs() >= 1e7 || x.abs() < 1e-4) {
        format!("{x:e}")
    } else {
        format!("{x}")
    }
}

impl RunSettings {
    /// A folder name that spells every setting, so reruns find their folder.
    pub fn name(&self) -> String {
        let h = &self.hyper;
        let penalty = match h.penalty {
            None => String::new(),
            Some(PenaltyHyper::Ewc { lambda, gamma }) => {
                format!("-lam{}_g{}", short(lambda), short(gamma))
            }
            Some(PenaltyHyper::Si { c, xi }) => format!("-c{}_xi{}", short(c), short(xi)),
        };
        format!(
            "h{}-{}{penalty}-N{}-sp{}-mp{}-lr{}_{}-cg{}-B{}-E{}-K{}_{}-seed{}",
            hidden_name(&self.hidden),
            h.optimizer,
            short(h.n),
            short(h.sigma_prior),
            short(h.mu_prior),
            short(h.lr_mu),
            short(h.lr_sigma),
            short(h.clamp_grad),
            self.batch_size,
            self.epochs,
            self.train_samples,
            self.test_samples,
            self.seed
        )
    }
}

/// How `utc_now` spells the time.
pub enum UtcFormat {
    /// 2026-12-01T17:23:56Z
    Iso,
    /// 20261201-172356, for folder names.
    Compact,
}

/// The current UTC time.
pub fn utc_now(format: UtcFormat) -> String {
    let pattern = match format {
        UtcFormat::Iso => "%Y-%m-%dT%H:%M:%SZ",
        UtcFormat::Compact => "%Y%m%d-%H%M%S",
    };
    jiff::Timestamp::now().strftime(pattern).to_string()
}
