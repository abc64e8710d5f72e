//! Every kernel against its f64 twin in src/reference, on fresh random
//! inputs, with shapes that are not multiples of the workgroup size and
//! outputs poisoned (NaN) before the step runs.

mod common;

use common::{
    calibration_error, f64s, random_split, reference_noise, reference_predictions, rel_err, to_f64,
};
use mesu::backend::wgpu::{Engine, Kernels, Plan, TrainKernels, subgroup_sums};
use mesu::data::PIXELS;
use mesu::model::{Architecture, EngineConfig, Params};
use mesu::optim::{Hyper, Optimizer, RunSpec};
use mesu::philox::philox_key;
use mesu::reference;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng, rngs::StdRng};

const TOL: f64 = 1e-5;
const CLAMP: f64 = 0.3;

fn random_params(arch: &Architecture, seed: u64, bayesian: bool) -> Params {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut p = Params::init(arch, seed, bayesian);
    for s in p.sigma.iter_mut().flatten() {
        if bayesian {
            *s = rng.random_range(0.02..0.3);
        }
    }
    p
}

/// Which sigmas a step starts from.
#[derive(Clone, Copy, PartialEq)]
enum Sigmas {
    Positive,
    /// Every third one negated: sigma's sign is free (the standard deviation
    /// is |sigma|), and the step must cross zero somewhere.
    SignsMixedAndCrossing,
}

fn shuffled(n: usize, rng: &mut StdRng) -> Vec<u32> {
    let mut v: Vec<u32> = (0..n as u32).collect();
    v.shuffle(rng);
    v
}

/// Run one step on the GPU and check noise, forward, loss gradient,
/// backward and the fused update of every run against the reference.
/// Every check below, for the fast training kernels in both plans (the GPU
/// one forced on whatever adapter runs the tests) and for the v0 ones.
fn check_step(arch: Architecture, runs: Vec<RunSpec>, batch: usize, samples: usize) {
    check_step_from(arch, runs, batch, samples, Sigmas::Positive);
}

fn check_step_from(
    arch: Architecture,
    runs: Vec<RunSpec>,
    batch: usize,
    samples: usize,
    sigmas: Sigmas,
) {
    for kernels in [
        (TrainKernels::Fast, Plan::CpuAdapter, Sums::AsDevice),
        (TrainKernels::Fast, Plan::Gpu, Sums::AsDevice),
        (TrainKernels::V0, Plan::CpuAdapter, Sums::AsDevice),
    ] {
        check_step_with(arch.clone(), runs.clone(), batch, samples, kernels, sigmas);
    }
}

/// The GPU plan's workgroup sums: through subgroup operations where the
/// adapter has them (lavapipe does), or by the tree in workgroup memory.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Sums {
    AsDevice,
    Tree,
}

fn check_step_with(
    arch: Architecture,
    runs: Vec<RunSpec>,
    batch: usize,
    samples: usize,
    (kernels, plan, sums): (TrainKernels, Plan, Sums),
    sigmas: Sigmas,
) {
    let Some(mut ctx) = common::gpu() else { return };
    ctx.plan = plan;
    if sums == Sums::Tree {
        ctx.features.remove(wgpu::Features::SUBGROUP);
    }
    let sums = if subgroup_sums(&ctx) {
        "subgroups"
    } else {
        "tree"
    };
    let mut rng = StdRng::seed_from_u64(99);
    let split = random_split(4 * batch + 1, 5);
    let (mean, std) = split.pixel_mean_std();
    let cfg = EngineConfig {
        batch,
        train_samples: samples,
        test_samples: 4,
        ..Default::default()
    };
    let r = runs.len();
    let train = Kernels {
        train: kernels,
        ..Default::default()
    };
    let mut engine = Engine::with_kernels(ctx, arch.clone(), runs.clone(), cfg, train).unwrap();
    let mut params: Vec<Params> = runs
        .iter()
        .enumerate()
        .map(|(i, s)| random_params(&arch, 1000 + i as u64, s.hyper.optimizer.is_bayesian()))
        .collect();
    if sigmas == Sigmas::SignsMixedAndCrossing {
        for s in params
            .iter_mut()
            .flat_map(|p| p.sigma.iter_mut().flatten())
            .step_by(3)
        {
            *s = -*s;
        }
    }
    engine.set_params(&params).unwrap();
    engine.set_train_data(&split).unwrap();
    let perms: Vec<_> = (0..r).map(|_| shuffled(PIXELS, &mut rng)).collect();
    let orders: Vec<_> = (0..r).map(|_| shuffled(split.len(), &mut rng)).collect();
    engine.set_task(&perms).unwrap();
    engine.set_order(&orders).unwrap();
    engine.poison_intermediates().unwrap();

    let first_batch = 2;
    let gpu_loss = engine.train_steps(first_batch, 1).unwrap();
    let mid = engine.intermediates().unwrap();
    let after = engine.params().unwrap();

    let layers = arch.layers();
    if sigmas == Sigmas::SignsMixedAndCrossing {
        let flat = |p: &Params| p.sigma.concat();
        let crossed: usize = (0..r)
            .map(|ri| {
                let (old, new) = (flat(&params[ri]), flat(&after[ri]));
                old.iter()
                    .zip(&new)
                    .filter(|(a, b)| a.signum() != b.signum())
                    .count()
            })
            .sum();
        println!("{crossed} sigmas crossed zero in the step ({kernels:?}, {plan:?})");
        assert!(
            crossed > 0,
            "no sigma crossed zero: the test forces nothing"
        );
    }
    let mut worst = [0f64; 8];
    for (ri, spec) in runs.iter().enumerate() {
        // Noise: the GPU stream against Philox + Box-Muller in f64.
        let mut eps = Vec::new();
        for l in 0..layers {
            let p = arch.params(l);
            let gpu = &mid.eps[l][ri * samples * p..(ri + 1) * samples * p];
            let reference =
                reference::layer_noise(philox_key(spec.seed), 0, l as u32, 0, samples, p);
            worst[0] = worst[0].max(rel_err(gpu, &reference.concat()));
            eps.push(gpu.chunks(p).map(to_f64).collect::<Vec<_>>());
        }
        // The reference step on the GPU's noise.
        let idx = &orders[ri][first_batch * batch..(first_batch + 1) * batch];
        let x = reference::input_batch(&split.images, PIXELS, &perms[ri], idx, mean, std);
        let labels: Vec<u8> = idx.iter().map(|&n| split.labels[n as usize]).collect();
        let mu = f64s(&params[ri].mu);
        let sigma = f64s(&params[ri].sigma);
        let out = reference::step(&arch, &spec.hyper, &mu, &sigma, &eps, &x, &labels);
        // The whole step again with the reference's own f64 noise.
        let own_eps: Vec<_> = reference_noise(&arch, spec.seed, 0, 0, samples);
        let whole = reference::step(&arch, &spec.hyper, &mu, &sigma, &own_eps, &x, &labels);
        if spec.hyper.clamp_grad > 0.0 {
            let clipped = (0..layers)
                .flat_map(|l| out.g_mu[l].iter().zip(&sigma[l]))
                .filter(|(g, s)| g.abs() > spec.hyper.clamp_grad / s.abs())
                .count();
            assert!(clipped > 0, "the clamp test clips nothing");
            println!(
                "clamp_grad {}: {clipped} gradients clipped",
                spec.hyper.clamp_grad
            );
        }
        for k in 0..samples {
            for l in 0..layers {
                let n = batch * arch.n_out(l);
                let at = (ri * samples + k) * n;
                worst[1] = worst[1].max(rel_err(&mid.acts[l][at..at + n], &out.acts[k][l]));
                worst[2] = worst[2].max(rel_err(&mid.deltas[l][at..at + n], &out.deltas[k][l]));
            }
        }
        worst[3] = worst[3].max((gpu_loss[ri] * batch as f64 - out.loss).abs() / out.loss);
        // The update: compare the changes, which are small next to mu itself.
        for l in 0..layers {
            let change = |new: &[f32], old: &[f32]| -> Vec<f32> {
                new.iter().zip(old).map(|(a, b)| a - b).collect()
            };
            let ref_change = |new: &[f64], old: &[f64]| -> Vec<f64> {
                new.iter().zip(old).map(|(a, b)| a - b).collect()
            };
            let e4 = rel_err(
                &change(&after[ri].mu[l], &params[ri].mu[l]),
                &ref_change(&out.mu[l], &mu[l]),
            );
            worst[4] = worst[4].max(e4);
            worst[6] = worst[6].max(rel_err(
                &change(&after[ri].mu[l], &params[ri].mu[l]),
                &ref_change(&whole.mu[l], &mu[l]),
            ));
            if spec.hyper.optimizer.is_bayesian() {
                worst[5] = worst[5].max(rel_err(
                    &change(&after[ri].sigma[l], &params[ri].sigma[l]),
                    &ref_change(&out.sigma[l], &sigma[l]),
                ));
                worst[7] = worst[7].max(rel_err(
                    &change(&after[ri].sigma[l], &params[ri].sigma[l]),
                    &ref_change(&whole.sigma[l], &sigma[l]),
                ));
            } else {
                assert_eq!(after[ri].sigma[l], params[ri].sigma[l], "SGD keeps sigma");
            }
        }
    }
    let names = [
        "noise",
        "forward",
        "loss grad + backward",
        "loss",
        "update d_mu",
        "update d_sigma",
        "whole step (reference noise) d_mu",
        "whole step (reference noise) d_sigma",
    ];
    for (name, w) in names.iter().zip(worst) {
        println!(
            "{} ({kernels:?}, {plan:?}, {sums}) {name}: max relative error {w:.2e}",
            arch.describe()
        );
        assert!(w < TOL, "{name}: relative error {w:.2e} exceeds {TOL:.0e}");
    }
}

#[test]
fn mesu_step_matches_reference() {
    let arch = Architecture::new(PIXELS, &[37], 10, false).unwrap();
    // A short window and a small prior make the prior terms visible.
    let hyper = |n: f64, sp: f64| Hyper {
        n,
        sigma_prior: sp,
        mu_prior: 0.01,
        ..Hyper::default()
    };
    let runs = vec![
        RunSpec {
            seed: 7,
            hyper: hyper(50.0, 0.1),
        },
        RunSpec {
            seed: 1 << 40,
            hyper: hyper(300_000.0, 1.0),
        },
    ];
    check_step(arch, runs, 3, 5);
}

/// Batch 1: the first layer's forward draws that layer's noise itself, two
/// samples per invocation (an odd K leaves one alone); its bias quads are
/// shared by four outputs (21 outputs: a partial last quad).
/// The output layer updates itself, one workgroup per run, here behind a
/// hidden layer's backward.
#[test]
fn batch_one_step_with_noise_drawn_in_forward_matches_reference() {
    let runs = |seed: u64, optimizers: &[Optimizer]| -> Vec<RunSpec> {
        optimizers
            .iter()
            .enumerate()
            .map(|(i, &optimizer)| RunSpec {
                seed: seed + i as u64,
                hyper: Hyper {
                    optimizer,
                    ..Hyper::default()
                },
            })
            .collect()
    };
    let arch = Architecture::new(PIXELS, &[21], 10, true).unwrap();
    check_step(arch, runs(9, &[Optimizer::Mesu, Optimizer::Bgd]), 1, 5);
    let arch = Architecture::new(PIXELS, &[13, 9], 10, false).unwrap();
    // Two runs: the random parameters of a third classify an example with p
    // = 1 - 1e-13 at this depth, where dC/dz = p - 1 is below f32's
    // resolution and no f32 kernel (v0 included) can match the f64 one.
    let two = [Optimizer::Mesu, Optimizer::FoovbPublished];
    check_step(arch, runs(50, &two), 1, 10);
}

/// The batched GEMM path with widths that are multiples of 4 (its vec4
/// loads), a batch that is not (a partial block of examples), and a bias
/// (the scalar column after the inputs). The error is summed over the
/// batch, so the rates are lowered to keep every sigma positive.
#[test]
fn batched_step_with_aligned_widths_matches_reference() {
    let hyper = |optimizer| Hyper {
        optimizer,
        lr_mu: 0.1,
        lr_sigma: 0.1,
        ..Hyper::default()
    };
    let runs = |optimizer| {
        vec![
            RunSpec {
                seed: 21,
                hyper: hyper(Optimizer::Mesu),
            },
            RunSpec {
                seed: 22,
                hyper: hyper(optimizer),
            },
        ]
    };
    let arch = Architecture::new(PIXELS, &[24, 16], 12, false).unwrap();
    check_step(arch, runs(Optimizer::Bgd), 6, 3);
    let arch = Architecture::new(PIXELS, &[16, 8], 10, true).unwrap();
    check_step(arch, runs(Optimizer::Mesu), 5, 2);
    // A last hidden layer wider than a workgroup: the GPU plan's output
    // layer (a workgroup per example) strides its lanes over the inputs.
    let arch = Architecture::new(PIXELS, &[72], 10, true).unwrap();
    check_step(arch, runs(Optimizer::Mesu), 3, 2);
}

/// The GPU plan's two workgroup sums with the tree in workgroup memory
/// (the checks above take subgroups where the adapter has them): the first
/// layer's rows at batch 1, the output layer's rows at B > 1 with more
/// inputs than lanes.
#[test]
fn gpu_plan_sums_by_tree_match_reference() {
    let Some(ctx) = common::gpu() else { return };
    let gpu = mesu::backend::wgpu::GpuContext {
        plan: Plan::Gpu,
        ..ctx
    };
    if !subgroup_sums(&gpu) {
        eprintln!(
            "no subgroups on {}: the subgroup sums are not tested",
            gpu.describe()
        );
    }
    let kernels = (TrainKernels::Fast, Plan::Gpu, Sums::Tree);
    let runs = vec![RunSpec {
        seed: 5,
        hyper: Hyper::default(),
    }];
    let arch = Architecture::new(PIXELS, &[21], 10, true).unwrap();
    check_step_with(arch, runs.clone(), 1, 3, kernels, Sigmas::Positive);
    let arch = Architecture::new(PIXELS, &[72], 10, true).unwrap();
    check_step_with(arch, runs, 3, 2, kernels, Sigmas::Positive);
}

/// The GPU plan's 64 x 64 tiles (forward, backward and update sampling
/// their weights in the loaders) at ragged edges: 70 examples (a second
/// tile of rows), a layer of 70 outputs (a second tile of columns, and 70
/// inputs to the next: passes of 16 with a partial last one), widths that
/// are not multiples of 4 (70, 50, 13: quads of parameters straddling
/// rows), with and without the bias.
#[test]
fn tiled_gemms_at_ragged_edges_match_reference() {
    let runs: Vec<_> = [31, 32]
        .map(|seed| RunSpec {
            seed,
            hyper: Hyper {
                lr_mu: 0.1,
                lr_sigma: 0.1,
                ..Hyper::default()
            },
        })
        .into();
    let arch = Architecture::new(PIXELS, &[70, 50], 10, false).unwrap();
    check_step(arch, runs.clone(), 70, 2);
    let arch = Architecture::new(PIXELS, &[13, 70], 10, true).unwrap();
    check_step(arch, runs, 40, 3);
}

#[test]
fn baselines_step_matches_reference_deep_with_bias() {
    let arch = Architecture::new(PIXELS, &[19, 13], 10, true).unwrap();
    let with = |optimizer, clamp_grad, lr_mu| Hyper {
        optimizer,
        clamp_grad,
        lr_mu,
        ..Hyper::default()
    };
    let runs = vec![
        RunSpec {
            seed: 3,
            hyper: with(Optimizer::Bgd, 0.0, 1.0),
        },
        RunSpec {
            seed: 4,
            hyper: with(Optimizer::FoovbPublished, 0.0, 1.0),
        },
        // A large SGD rate: at 0.002 the change is so small next to mu that
        // storing mu in f32 (not the kernel) would dominate the comparison.
        RunSpec {
            seed: 5,
            hyper: with(Optimizer::Sgd, 0.0, 0.05),
        },
        // Clips some gradients (checked below) but not most: clipping all of
        // them would shrink the changes below the f32 error of the sums.
        RunSpec {
            seed: 6,
            hyper: with(Optimizer::Mesu, CLAMP, 1.0),
        },
    ];
    check_step(arch, runs, 2, 3);
}

/// sigma's sign is free: from sigmas of both signs, with a lr_sigma large
/// enough that some cross zero in the step, every kernel family (batch 1,
/// the GEMM path, v0) still matches the reference, the clamp included.
#[test]
fn sigmas_crossing_zero_match_reference() {
    let hyper = |optimizer, clamp_grad| Hyper {
        optimizer,
        clamp_grad,
        lr_sigma: 50.0,
        ..Hyper::default()
    };
    let runs = vec![
        RunSpec {
            seed: 41,
            hyper: hyper(Optimizer::Mesu, 0.0),
        },
        RunSpec {
            seed: 42,
            hyper: hyper(Optimizer::Mesu, CLAMP),
        },
        RunSpec {
            seed: 43,
            hyper: hyper(Optimizer::Bgd, 0.0),
        },
    ];
    let arch = Architecture::new(PIXELS, &[21], 10, true).unwrap();
    check_step_from(arch, runs.clone(), 1, 5, Sigmas::SignsMixedAndCrossing);
    let arch = Architecture::new(PIXELS, &[16, 8], 10, false).unwrap();
    check_step_from(arch, runs, 3, 2, Sigmas::SignsMixedAndCrossing);
}

#[test]
fn evaluation_matches_reference() {
    let Some(ctx) = common::gpu() else { return };
    let arch = Architecture::new(PIXELS, &[37], 10, false).unwrap();
    let runs: Vec<_> = (0..2)
        .map(|s| RunSpec {
            seed: 11 + s,
            hyper: Hyper::default(),
        })
        .collect();
    let cfg = EngineConfig {
        test_samples: 6,
        eval_chunk: 9,
        ..Default::default()
    };
    let mut engine = Engine::new(ctx, arch.clone(), runs.clone(), cfg).unwrap();
    let params: Vec<_> = (0..2).map(|i| random_params(&arch, 50 + i, true)).collect();
    engine.set_params(&params).unwrap();
    let test = random_split(23, 8);
    let set = engine.add_eval_set(&test).unwrap();
    let mut rng = StdRng::seed_from_u64(4);
    let perms: Vec<_> = (0..2).map(|_| shuffled(PIXELS, &mut rng)).collect();
    let eval_id = 5;
    let results = engine.evaluate(set, &perms, eval_id).unwrap();
    for (ri, res) in results.iter().enumerate() {
        let pred = reference_predictions(
            &arch,
            &params[ri],
            runs[ri].seed,
            eval_id,
            6,
            &test,
            &perms[ri],
        );
        let correct = pred
            .iter()
            .zip(&test.labels)
            .filter(|(p, y)| p.pred == **y as usize)
            .count();
        assert_eq!(res.correct, correct);
        for (g, p) in res.scores.iter().zip(&pred) {
            assert_eq!(g.pred as usize, p.pred);
        }
        let h: Vec<f32> = res
            .scores
            .iter()
            .flat_map(|s| [s.h_pred, s.h_alea])
            .collect();
        let h_ref: Vec<f64> = pred.iter().flat_map(|p| [p.h_pred, p.h_alea]).collect();
        let err = rel_err(&h, &h_ref);
        let cal = calibration_error(&res.scores, &pred, &test.labels);
        println!(
            "evaluation: max relative error: entropies {err:.2e}, calibration terms {cal:.2e}"
        );
        assert!(err < TOL);
        assert!(cal < TOL, "calibration terms: relative error {cal:.2e}");
    }
}
