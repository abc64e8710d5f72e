//! The CPU backend against the f64 reference: the Philox stream, the
//! normals, whole training steps at awkward shapes for every rule,
//! evaluation, divergence, and determinism across runs and thread counts.

mod common;

use common::{
    calibration_error, f64s, random_split, reference_noise, reference_predictions, rel_err,
};
use mesu::Error;
use mesu::backend::Backend;
use mesu::backend::cpu::{CpuBackend, LANES, fill_normals, philox_block};
use mesu::data::{PIXELS, Split};
use mesu::model::{Architecture, EngineConfig, Params, Penalty, Score};
use mesu::optim::{Hyper, Optimizer, RunSpec};
use mesu::philox::philox_key;
use mesu::reference;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng, rngs::StdRng};

/// Relative error allowed on f32 results against f64: the change of an
/// SGD mu (lr 0.002) is itself only resolved to ~1e-5 of its size in f32.
const TOL: f64 = 2e-5;

fn cfg(batch: usize, train_samples: usize, test_samples: usize) -> EngineConfig {
    EngineConfig {
        batch,
        train_samples,
        test_samples,
        ..Default::default()
    }
}

fn run(seed: u64, optimizer: Optimizer) -> RunSpec {
    RunSpec {
        seed,
        hyper: Hyper {
            optimizer,
            lr_mu: optimizer.default_lr_mu(),
            penalty: optimizer.default_penalty(),
            ..Hyper::default()
        },
    }
}

fn shuffled(n: usize, rng: &mut StdRng) -> Vec<u32> {
    let mut v: Vec<u32> = (0..n as u32).collect();
    v.shuffle(rng);
    v
}

/// Params::init with sigmas spread over 0.02..0.3 (Bayesian runs).
fn random_params(arch: &Architecture, seed: u64, bayesian: bool) -> Params {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut p = Params::init(arch, seed, bayesian);
    if bayesian {
        for s in p.sigma.iter_mut().flatten() {
            *s = rng.random_range(0.02..0.3);
        }
    }
    p
}

/// A split whose images are mostly zero pixels, like MNIST.
fn sparse_split(n: usize, seed: u64) -> Split {
    let mut rng = StdRng::seed_from_u64(seed);
    Split {
        images: (0..n * PIXELS)
            .map(|_| {
                if rng.random_bool(0.2) {
                    rng.random::<u8>()
                } else {
                    0
                }
            })
            .collect(),
        labels: (0..n).map(|_| rng.random_range(0..10u8)).collect(),
    }
}

#[test]
fn philox_matches_reference_and_known_answer() {
    let kat = philox_block([0; 4], [0; 2]);
    assert_eq!(
        [kat[0][0], kat[1][0], kat[2][0], kat[3][0]],
        [0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8]
    );
    let mut rng = StdRng::seed_from_u64(1);
    for _ in 0..2000 {
        let counter: [u32; 4] = rng.random();
        let key: [u32; 2] = rng.random();
        let block = philox_block(counter, key);
        for lane in 0..LANES {
            let c = [
                counter[0].wrapping_add(lane as u32),
                counter[1],
                counter[2],
                counter[3],
            ];
            let want = reference::philox4x32_10(c, key);
            let got = block.map(|word| word[lane]);
            assert_eq!(got, want, "counter {c:x?} key {key:x?}");
        }
    }
}

/// Four million normals against f64 Box-Muller on the same u32.
#[test]
fn normals_match_f64_box_muller() {
    let key = philox_key(0x1234_5678_9abc);
    let (count, rest) = (1 << 22, [3, 17, 1 | (1 << 16)]);
    let mut out = vec![0f32; count];
    fill_normals(&mut out, 0, rest, key);
    let mut worst = 0f64;
    for (g, four) in out.chunks(4).enumerate() {
        let want = reference::box_muller4(reference::philox4x32_10(
            [g as u32, rest[0], rest[1], rest[2]],
            key,
        ));
        for (a, b) in four.iter().zip(want) {
            worst = worst.max((f64::from(*a) - b).abs());
        }
    }
    println!("Box-Muller f32 vs f64: max abs error {worst:.2e} over {count} normals");
    assert!(worst < 5e-6, "max abs error {worst:.2e}");
    // An unaligned start gives the same values.
    let mut part = vec![0f32; 301];
    fill_normals(&mut part, 1001, rest, key);
    assert_eq!(part[..], out[1001..1302]);
}

/// One step of every run on the CPU against reference::step on the
/// reference's own noise: the changes of mu and sigma, and the loss.
/// Returns the backend after the step.
fn check_step(arch: &Architecture, runs: &[RunSpec], batch: usize, samples: usize) -> CpuBackend {
    let mut rng = StdRng::seed_from_u64(99);
    let split = random_split(4 * batch + 1, 5);
    let (mean, std) = split.pixel_mean_std();
    let mut cpu =
        CpuBackend::new(arch.clone(), runs.to_vec(), &cfg(batch, samples, 4), None).unwrap();
    let params: Vec<Params> = runs
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let mut p = random_params(arch, 1000 + i as u64, s.hyper.optimizer.is_bayesian());
            if s.hyper.optimizer.is_penalised() {
                p.penalty = p.mu.iter().map(|m| Penalty::anchored(m)).collect();
            }
            p
        })
        .collect();
    cpu.set_params(&params).unwrap();
    cpu.set_train_data(&split).unwrap();
    let r = runs.len();
    let perms: Vec<_> = (0..r).map(|_| shuffled(PIXELS, &mut rng)).collect();
    let orders: Vec<_> = (0..r).map(|_| shuffled(split.len(), &mut rng)).collect();
    cpu.set_task(&perms).unwrap();
    cpu.set_order(&orders).unwrap();
    let first_batch = 2;
    let loss = cpu.train_steps(first_batch, 1).unwrap();
    let after = cpu.params().unwrap();
    for (ri, spec) in runs.iter().enumerate() {
        let idx = &orders[ri][first_batch * batch..(first_batch + 1) * batch];
        let x = reference::input_batch(&split.images, PIXELS, &perms[ri], idx, mean, std);
        let labels: Vec<u8> = idx.iter().map(|&n| split.labels[n as usize]).collect();
        let eps: Vec<_> = reference_noise(arch, spec.seed, 0, 0, samples);
        let (mu, sigma) = (f64s(&params[ri].mu), f64s(&params[ri].sigma));
        let out = reference::step(arch, &spec.hyper, &mu, &sigma, &eps, &x, &labels);
        let loss_err = (loss[ri] * batch as f64 - out.loss).abs() / out.loss;
        assert!(
            loss_err < TOL,
            "run {ri}: loss relative error {loss_err:.2e}"
        );
        if spec.hyper.clamp_grad > 0.0 {
            let clipped = (0..arch.layers())
                .flat_map(|l| out.g_mu[l].iter().zip(&sigma[l]))
                .filter(|(g, s)| g.abs() > spec.hyper.clamp_grad / s.abs())
                .count();
            assert!(clipped > 0, "the clamp test clips nothing");
        }
        for l in 0..arch.layers() {
            let change = |new: &[f32], old: &[f32]| -> Vec<f32> {
                new.iter().zip(old).map(|(a, b)| a - b).collect()
            };
            let ref_change = |new: &[f64], old: &[f64]| -> Vec<f64> {
                new.iter().zip(old).map(|(a, b)| a - b).collect()
            };
            let e_mu = rel_err(
                &change(&after[ri].mu[l], &params[ri].mu[l]),
                &ref_change(&out.mu[l], &mu[l]),
            );
            let e_sigma = if spec.hyper.optimizer.is_bayesian() {
                rel_err(
                    &change(&after[ri].sigma[l], &params[ri].sigma[l]),
                    &ref_change(&out.sigma[l], &sigma[l]),
                )
            } else {
                assert_eq!(after[ri].sigma[l], params[ri].sigma[l], "SGD keeps sigma");
                0.0
            };
            println!(
                "{} B={batch} K={samples} run {ri} ({}) layer {l}: d_mu {e_mu:.2e}, d_sigma {e_sigma:.2e}",
                arch.describe(),
                spec.hyper.optimizer
            );
            assert!(
                e_mu < TOL && e_sigma < TOL,
                "run {ri} layer {l}: {e_mu:.2e} / {e_sigma:.2e}"
            );
        }
    }
    cpu
}

#[test]
fn step_784_37_10_batch_3_samples_5_two_runs() {
    let arch = Architecture::new(PIXELS, &[37], 10, false).unwrap();
    check_step(
        &arch,
        &[run(11, Optimizer::Mesu), run(12, Optimizer::Mesu)],
        3,
        5,
    );
}

#[test]
fn step_two_hidden_layers_bias_every_rule_and_clamp() {
    let arch = Architecture::new(PIXELS, &[19, 13], 10, true).unwrap();
    let mut runs: Vec<RunSpec> = Optimizer::ALL
        .iter()
        .enumerate()
        .map(|(i, &o)| run(20 + i as u64, o))
        .collect();
    for o in [Optimizer::Mesu, Optimizer::Bgd] {
        let mut r = run(30, o);
        r.hyper.clamp_grad = 0.3;
        runs.push(r);
    }
    check_step(&arch, &runs, 4, 3);
    check_step(&arch, &runs, 1, 2);
}

#[test]
fn step_paper_shape_batch_1_samples_10() {
    let arch = Architecture::new(PIXELS, &[50], 10, false).unwrap();
    check_step(&arch, &[run(0, Optimizer::Mesu)], 1, 10);
}

#[test]
fn sigmas_crossing_zero_still_match_and_train_on() {
    let arch = Architecture::new(PIXELS, &[21], 10, false).unwrap();
    let mut spec = run(3, Optimizer::Mesu);
    spec.hyper.lr_sigma = 300.0;
    let mut cpu = check_step(&arch, &[spec], 1, 4);
    let negative = cpu.params().unwrap()[0]
        .sigma
        .iter()
        .flatten()
        .filter(|&&s| s < 0.0)
        .count();
    println!("{negative} sigmas crossed zero in one step");
    assert!(negative > 0, "no sigma crossed zero");
    cpu.train_steps(3, 2).unwrap();
    assert!(
        cpu.params().unwrap()[0]
            .sigma
            .iter()
            .flatten()
            .all(|s| s.is_finite())
    );
}

/// Two runs' evaluation of a sparse and a dense split against
/// `reference::predict`, with every mu multiplied by `mu_scale`; returns
/// each run's scores.
fn evaluation_matches_reference(mu_scale: f32) -> Vec<Vec<Score>> {
    let arch = Architecture::new(PIXELS, &[23, 11], 10, true).unwrap();
    let runs = [run(21, Optimizer::Mesu), run(22, Optimizer::Bgd)];
    let (samples, eval_id) = (4, 3);
    let mut cpu =
        CpuBackend::new(arch.clone(), runs.to_vec(), &cfg(1, 2, samples), Some(2)).unwrap();
    let params: Vec<Params> = (0..2)
        .map(|r| {
            let mut p = random_params(&arch, 70 + r, true);
            p.mu.iter_mut().flatten().for_each(|m| *m *= mu_scale);
            p
        })
        .collect();
    cpu.set_params(&params).unwrap();
    let mut rng = StdRng::seed_from_u64(5);
    let mut scores = vec![Vec::new(); 2];
    for test in [sparse_split(300, 9), random_split(37, 4)] {
        let set = cpu.add_eval_set(&test).unwrap();
        let perms: Vec<_> = (0..2).map(|_| shuffled(PIXELS, &mut rng)).collect();
        let res = cpu.evaluate(set, &perms, eval_id).unwrap();
        for (r, spec) in runs.iter().enumerate() {
            let pred = reference_predictions(
                &arch, &params[r], spec.seed, eval_id, samples, &test, &perms[r],
            );
            let got: Vec<usize> = res[r].scores.iter().map(|s| s.pred as usize).collect();
            let want: Vec<usize> = pred.iter().map(|p| p.pred).collect();
            assert_eq!(got, want, "run {r}: predictions differ from the reference");
            let correct = (0..test.len())
                .filter(|&n| want[n] == test.labels[n] as usize)
                .count();
            assert_eq!(res[r].correct, correct);
            assert_eq!(res[r].total, test.len());
            let h: Vec<f32> = res[r]
                .scores
                .iter()
                .flat_map(|s| [s.h_pred, s.h_alea])
                .collect();
            let h_ref: Vec<f64> = pred.iter().flat_map(|p| [p.h_pred, p.h_alea]).collect();
            let err = rel_err(&h, &h_ref);
            let cal = calibration_error(&res[r].scores, &pred, &test.labels);
            println!(
                "run {r}: accuracy {:.3}, max relative error: entropies {err:.2e}, calibration terms {cal:.2e}",
                res[r].accuracy()
            );
            assert!(err < 1e-4, "entropies: relative error {err:.2e}");
            assert!(cal < 1e-4, "calibration terms: relative error {cal:.2e}");
            scores[r].extend_from_slice(&res[r].scores);
        }
    }
    scores
}

#[test]
fn evaluation_matches_reference_predict() {
    evaluation_matches_reference(1.0);
}

/// Logits far apart: p of the label underflows f32 for some images, yet
/// ln p stays finite and equal to the reference's, so the NLL is finite.
#[test]
fn log_likelihood_stays_finite_where_p_underflows() {
    let scores = evaluation_matches_reference(30.0);
    let ln_p: Vec<f32> = scores.iter().flatten().map(|s| s.ln_p_true).collect();
    assert!(ln_p.iter().all(|v| v.is_finite()), "{ln_p:?}");
    let below = ln_p
        .iter()
        .filter(|&&v| v < f32::MIN_POSITIVE.ln() - 20.0)
        .count();
    println!(
        "{below} of {} images with ln p of the label below ln(2^-126) - 20",
        ln_p.len()
    );
    assert!(below > 0, "no image where p of the label underflows f32");
}

/// Per run, each example's score as bits (every field).
type ScoreBits = Vec<Vec<[u32; 8]>>;

/// A group's state after 5 steps: (params, losses, eval scores).
fn trained(
    arch: &Architecture,
    runs: &[RunSpec],
    threads: usize,
    batch: usize,
) -> (Vec<Params>, Vec<f64>, ScoreBits) {
    let split = sparse_split(40, 7);
    let mut cpu = CpuBackend::new(
        arch.clone(),
        runs.to_vec(),
        &cfg(batch, 3, 3),
        Some(threads),
    )
    .unwrap();
    cpu.set_train_data(&split).unwrap();
    // Each run's permutation and order depend on its seed only.
    let per_run =
        |f: &mut dyn FnMut(u64) -> Vec<u32>| runs.iter().map(|r| f(r.seed)).collect::<Vec<_>>();
    let perms = per_run(&mut |s| shuffled(PIXELS, &mut StdRng::seed_from_u64(s)));
    let orders = per_run(&mut |s| shuffled(split.len(), &mut StdRng::seed_from_u64(s + 1)));
    cpu.set_task(&perms).unwrap();
    cpu.set_order(&orders).unwrap();
    let loss = cpu.train_steps(1, 5).unwrap();
    let set = cpu.add_eval_set(&sparse_split(50, 2)).unwrap();
    let scores = cpu
        .evaluate(set, &perms, 4)
        .unwrap()
        .into_iter()
        .map(|r| {
            r.scores
                .iter()
                .map(|&s| bytemuck::cast::<Score, [u32; 8]>(s))
                .collect()
        })
        .collect();
    (cpu.params().unwrap(), loss, scores)
}

#[test]
fn runs_batched_equal_runs_alone_and_threads_do_not_change_bits() {
    let arch = Architecture::new(PIXELS, &[29], 10, true).unwrap();
    let mut runs = vec![
        run(5, Optimizer::Mesu),
        run(6, Optimizer::Bgd),
        run(7, Optimizer::Sgd),
    ];
    runs[0].hyper.lr_sigma = 3.0;
    for batch in [1, 3] {
        let (params, loss, scores) = trained(&arch, &runs, 2, batch);
        for (r, spec) in runs.iter().enumerate() {
            let (p, l, s) = trained(&arch, std::slice::from_ref(spec), 1, batch);
            assert_eq!(p[0], params[r], "batch {batch}: run {r} alone differs");
            assert_eq!(l[0].to_bits(), loss[r].to_bits());
            assert_eq!(s[0], scores[r]);
        }
        let (p1, l1, s1) = trained(&arch, &runs, 1, batch);
        assert_eq!(p1, params, "batch {batch}: 1 and 2 threads differ");
        assert_eq!(l1, loss);
        assert_eq!(s1, scores);
    }
}

#[test]
fn divergence_is_reported_and_the_other_run_trains_on() {
    let arch = Architecture::new(PIXELS, &[17], 10, false).unwrap();
    let mut bad = run(2, Optimizer::Mesu);
    bad.hyper.lr_sigma = 1e30;
    let runs = vec![run(1, Optimizer::Mesu), bad];
    let split = random_split(20, 3);
    let mut cpu = CpuBackend::new(arch, runs, &cfg(2, 3, 2), Some(2)).unwrap();
    cpu.set_train_data(&split).unwrap();
    let identity: Vec<u32> = (0..PIXELS as u32).collect();
    let order: Vec<u32> = (0..20).collect();
    cpu.set_task(&[identity.clone(), identity]).unwrap();
    cpu.set_order(&[order.clone(), order]).unwrap();
    match cpu.train_steps(0, 5) {
        Err(Error::Diverged { run, layer, step }) => {
            assert_eq!(run, 1);
            assert!(step < 5 && layer < 2, "layer {layer} step {step}");
        }
        other => panic!("expected a divergence, got {other:?}"),
    }
    let d = cpu.divergences().to_vec();
    assert!(d[0].is_none(), "the healthy run was reported: {d:?}");
    let (layer, step) = d[1].expect("run 1 diverged");
    println!("run 1 diverged at layer {layer}, step {step}");
    let before = cpu.params().unwrap()[0].clone();
    let loss = cpu.train_steps(5, 2).expect("no fresh divergence");
    assert!(loss[0].is_finite());
    let after = cpu.params().unwrap()[0].clone();
    assert_ne!(before, after);
    assert!(
        after
            .mu
            .iter()
            .chain(&after.sigma)
            .flatten()
            .all(|v| v.is_finite())
    );
}

#[test]
fn config_errors_and_describe() {
    let arch = Architecture::new(PIXELS, &[5], 10, false).unwrap();
    assert!(CpuBackend::new(arch.clone(), vec![], &cfg(1, 1, 1), None).is_err());
    assert!(
        CpuBackend::new(
            arch.clone(),
            vec![run(0, Optimizer::Mesu)],
            &cfg(0, 1, 1),
            None
        )
        .is_err()
    );
    assert!(
        CpuBackend::new(
            arch.clone(),
            vec![run(0, Optimizer::Mesu)],
            &cfg(1, 1, 1),
            Some(0)
        )
        .is_err()
    );
    let mut cpu =
        CpuBackend::new(arch, vec![run(0, Optimizer::Mesu)], &cfg(1, 1, 1), Some(1)).unwrap();
    let d = cpu.describe();
    assert!(d.starts_with("cpu (") && d.ends_with(", 1 threads)"), "{d}");
    assert!(
        cpu.train_steps(0, 1).is_err(),
        "no data: an error, not a panic"
    );
    assert!(cpu.set_task(&[vec![0; 3]]).is_err());
    assert_eq!(cpu.enable_profiling(), "host time per phase");
}
