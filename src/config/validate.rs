//! Settings no run could use are refused before anything is opened or
//! written, with a message naming the flag.

use super::{MAX_TASKS, Ood, RunSettings, Shared};
use crate::Result;
use crate::data::{CLASSES, PIXELS};
use crate::memory::{MemoryPlan, bytes};
use crate::optim::{Hyper, Optimizer, PenaltyHyper};

impl RunSettings {
    /// Rejects settings no run could use, naming the flag.
    pub fn validate(&self) -> Result<()> {
        let positive = [
            ("--batch-size", self.batch_size),
            ("--epochs", self.epochs),
            ("--train-samples", self.train_samples),
            ("--test-samples", self.test_samples),
        ];
        if let Some((flag, _)) = positive.iter().find(|(_, v)| *v == 0) {
            return Err(format!("{flag} must be at least 1").into());
        }
        if self.hidden.contains(&0) {
            return Err("--hidden: every width must be at least 1".into());
        }
        let h = &self.hyper;
        let reals = [
            ("--n", h.n),
            ("--sigma-prior", h.sigma_prior),
            ("--lr-mu", h.lr_mu),
            ("--lr-sigma", h.lr_sigma),
        ];
        if let Some((flag, v)) = reals.iter().find(|(_, v)| !v.is_finite()) {
            let hint = if *flag == "--n" {
                " (1e15 is the paper's no-forgetting N)"
            } else {
                ""
            };
            return Err(format!("{flag} must be finite, got {v}{hint}").into());
        }
        if let Some((flag, v)) = reals.iter().find(|(_, v)| *v <= 0.0) {
            return Err(format!("{flag} must be a positive number, got {v}").into());
        }
        if !(h.clamp_grad.is_finite() && h.clamp_grad >= 0.0) {
            return Err("--clamp-grad must be 0 (off) or positive".into());
        }
        if !h.mu_prior.is_finite() {
            return Err("--mu-prior must be finite".into());
        }
        validate_penalty(h)?;
        // What every run of these settings allocates at the least, checked
        // here so that no later allocation aborts first.
        let mut plan = MemoryPlan::default();
        for (part, bytes) in self.least_bytes() {
            plan.add(part, bytes);
        }
        plan.check("lower --hidden, --train-samples or --test-samples")
    }

    /// The least memory a run of these settings allocates, part by part:
    /// mu and sigma of every weight, and per training and evaluation weight
    /// sample its bookkeeping. A bound from below, so a refusal is certain
    /// to be right.
    pub fn least_bytes(&self) -> [(&'static str, u64); 3] {
        let widths = std::iter::once(PIXELS)
            .chain(self.hidden.iter().copied())
            .chain(std::iter::once(CLASSES));
        let sizes: Vec<usize> = widths.collect();
        let params = sizes
            .windows(2)
            .fold(0u64, |acc, p| acc.saturating_add(bytes(&[p[0], p[1]])));
        [
            ("weights", params.saturating_mul(8)),
            ("training samples", bytes(&[self.train_samples, 104])),
            ("evaluation samples", bytes(&[self.test_samples, 24])),
        ]
    }
}

/// A penalty exactly for the penalised baselines, of their kind, with
/// usable values.
fn validate_penalty(h: &Hyper) -> Result<()> {
    let o = h.optimizer;
    let values = match (o, h.penalty) {
        (
            Optimizer::OnlineEwc | Optimizer::StreamEwc,
            Some(PenaltyHyper::Ewc { lambda, gamma }),
        ) => [
            ("--ewc-lambda", lambda, false),
            ("--ewc-gamma", gamma, false),
        ],
        (Optimizer::Si, Some(PenaltyHyper::Si { c, xi })) => {
            [("--si-c", c, false), ("--si-xi", xi, true)]
        }
        (_, None) if !o.is_penalised() => return Ok(()),
        _ => return Err(format!("--optimizer {o}: its penalty settings do not fit it").into()),
    };
    for (flag, v, positive) in values {
        if !v.is_finite() || v < 0.0 || (positive && v == 0.0) {
            let want = if positive {
                "positive"
            } else {
                "0 or positive"
            };
            return Err(format!("{flag} must be {want} and finite, got {v}").into());
        }
    }
    Ok(())
}

/// Rejects shared settings no stream could use, naming the flag.
pub fn validate_shared(shared: &Shared) -> Result<()> {
    if shared.tasks == 0 || shared.tasks > MAX_TASKS {
        return Err(format!("--tasks must be between 1 and {MAX_TASKS}").into());
    }
    if shared.train_limit == Some(0) || shared.test_limit == Some(0) {
        return Err("--train-limit and --test-limit must be at least 1".into());
    }
    if shared.eval_every == 0 {
        return Err("--eval-every must be at least 1".into());
    }
    if shared.ood == Ood::Dataset(shared.dataset) {
        let (name, other) = (shared.dataset.name(), shared.dataset.other().name());
        return Err(format!(
            "--ood {name}: the OOD set must differ from the stream's own {name} test set; \
             use --ood {other}, --ood pmnist or --ood none"
        )
        .into());
    }
    Ok(())
}
