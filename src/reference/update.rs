use crate::model::Rule;
use crate::optim::Hyper;

/// One parameter's update from its old (mu, sigma) and the sample-averaged
/// gradients, in f64: the shared rule of `crate::model::Rule`.
pub fn update(h: &Hyper, mu: f64, sigma: f64, g_mu: f64, g_sigma: f64) -> (f64, f64) {
    Rule::<f64>::new(h).apply(mu, sigma, g_mu, g_sigma)
}
