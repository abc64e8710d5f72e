//! The f64 reference's gradients against central finite differences of its
//! own loss C(mu, sigma) at fixed noise.

use mesu::model::{Architecture, Params};
use mesu::optim::Hyper;
use mesu::reference;
use rand::{Rng, SeedableRng, rngs::StdRng};

#[test]
fn reference_gradients_match_finite_differences() {
    let arch = Architecture::new(11, &[7, 5], 4, true).unwrap();
    let mut rng = StdRng::seed_from_u64(1);
    let p = Params::init(&arch, 3, true);
    let mu: Vec<Vec<f64>> =
        p.mu.iter()
            .map(|l| l.iter().map(|&v| v as f64).collect())
            .collect();
    let sigma: Vec<Vec<f64>> = (0..arch.layers())
        .map(|l| {
            (0..arch.params(l))
                .map(|_| rng.random_range(0.05..0.5))
                .collect()
        })
        .collect();
    let (batch, samples) = (3, 4);
    let eps: Vec<Vec<Vec<f64>>> = (0..arch.layers())
        .map(|l| reference::layer_noise([9, 9], 0, l as u32, 0, samples, arch.params(l)))
        .collect();
    let x: Vec<f64> = (0..batch * 11)
        .map(|_| rng.random_range(-2.0..2.0))
        .collect();
    let labels = [0u8, 3, 1];
    let out = reference::step(&arch, &Hyper::default(), &mu, &sigma, &eps, &x, &labels);
    let c =
        |mu: &[Vec<f64>], sigma: &[Vec<f64>]| reference::loss(&arch, mu, sigma, &eps, &x, &labels);
    assert!((c(&mu, &sigma) - out.loss).abs() < 1e-12);
    let h = 1e-6;
    let mut worst: f64 = 0.0;
    for l in 0..arch.layers() {
        for e in 0..arch.params(l) {
            let shifted = |v: &[Vec<f64>], d: f64| {
                let mut v = v.to_vec();
                v[l][e] += d;
                v
            };
            let fd_mu = (c(&shifted(&mu, h), &sigma) - c(&shifted(&mu, -h), &sigma)) / (2.0 * h);
            let fd_sigma = (c(&mu, &shifted(&sigma, h)) - c(&mu, &shifted(&sigma, -h))) / (2.0 * h);
            for (fd, an) in [(fd_mu, out.g_mu[l][e]), (fd_sigma, out.g_sigma[l][e])] {
                let err = (fd - an).abs() / an.abs().max(1e-3);
                worst = worst.max(err);
                assert!(
                    err < 1e-5,
                    "layer {l} param {e}: finite difference {fd} vs gradient {an}"
                );
            }
        }
    }
    println!("worst relative gap to finite differences: {worst:.2e}");
}
