use crate::optim::{Hyper, Optimizer};

/// One parameter's update from its old (mu, sigma) and the sample-averaged
/// gradients, in f64: the twin of `apply` in shaders/update.wgsl.
pub fn update(h: &Hyper, mu: f64, sigma: f64, g_mu: f64, g_sigma: f64) -> (f64, f64) {
    let v = sigma * sigma;
    let (g_mu, g_sigma) = if h.clamp_grad > 0.0 {
        let lim = h.clamp_grad / sigma;
        (g_mu.clamp(-lim, lim), g_sigma.clamp(-lim, lim))
    } else {
        (g_mu, g_sigma)
    };
    let sp2 = h.sigma_prior * h.sigma_prior;
    let np = h.n * sp2;
    let half = 0.5 * sigma * g_sigma;
    match h.optimizer {
        Optimizer::Mesu => (
            mu + h.lr_mu * (-v * g_mu + v * (h.mu_prior - mu) / np),
            sigma + h.lr_sigma * 0.5 * (-v * g_sigma + sigma * (sp2 - v) / np),
        ),
        Optimizer::Bgd => (
            mu - h.lr_mu * v * g_mu,
            sigma * (1.0 + half * half).sqrt() - 0.5 * v * g_sigma,
        ),
        // The authors' foovbdiagonal: d_sigma = -lr_sigma (v g / 2 + sigma (sqrt(1 + h^2) - 1)).
        Optimizer::FoovbPublished => (
            mu - h.lr_mu * v * g_mu,
            sigma - h.lr_sigma * (0.5 * v * g_sigma + sigma * ((1.0 + half * half).sqrt() - 1.0)),
        ),
        Optimizer::Sgd => (mu - h.lr_mu * g_mu, sigma),
    }
}
