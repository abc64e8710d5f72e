//! Every kernel fits the per-stage binding limits of the weakest target
//! (DX12 tier 2 and GL: 16 storage buffers; 12 uniform buffers), and an
//! adapter with fewer is refused at start-up with a message, not a panic;
//! so is a MESU_PLAN that names no launch plan.

mod common;

use common::random_split;
use mesu::backend::wgpu::{
    AdapterChoice, Engine, GpuContext, Shader, check_stage_limits, stage_bindings,
};
use mesu::data::PIXELS;
use mesu::model::{Architecture, EngineConfig};
use mesu::optim::{Hyper, RunSpec};

/// The downlevel (GL, DX12 tier 2) per-stage limits.
fn weakest() -> wgpu::Limits {
    wgpu::Limits {
        max_storage_buffers_per_shader_stage: 16,
        max_uniform_buffers_per_shader_stage: 12,
        ..wgpu::Limits::downlevel_defaults()
    }
}

#[test]
fn every_kernel_binds_at_most_16_storage_buffers() {
    let all = stage_bindings();
    // Every family is reflected, with every entry point of docs/layout.md.
    for shader in [
        Shader::OutputLayer,
        Shader::InputLayer,
        Shader::SampledGemm,
        Shader::Peak,
    ] {
        assert!(all.iter().any(|b| b.shader == shader), "{shader:?} missing");
    }
    for entry in [
        "output_layer",
        "forward_input",
        "update_input",
        "gemm_tile",
        "gemm_direct",
        "backward_tile",
        "update_tile",
        "update_gemm",
    ] {
        assert!(all.iter().any(|b| b.entry == entry), "{entry} missing");
    }
    let limits = weakest();
    for b in all {
        println!(
            "{:?}/{}: {} storage, {} uniform",
            b.shader, b.entry, b.storage, b.uniform
        );
        assert!(
            b.storage <= limits.max_storage_buffers_per_shader_stage,
            "{} binds {} storage buffers",
            b.entry,
            b.storage
        );
        assert!(
            b.uniform <= limits.max_uniform_buffers_per_shader_stage,
            "{}",
            b.entry
        );
    }
    check_stage_limits(&limits, "downlevel").unwrap();
}

#[test]
fn an_adapter_with_fewer_storage_buffers_is_refused_by_name() {
    let most = stage_bindings().iter().max_by_key(|b| b.storage).unwrap();
    let limits = wgpu::Limits {
        max_storage_buffers_per_shader_stage: most.storage - 1,
        ..weakest()
    };
    let message = check_stage_limits(&limits, "Fake GL")
        .unwrap_err()
        .to_string();
    for part in [
        format!("`{}`", most.entry),
        format!("binds {} storage buffers", most.storage),
        format!("allows {} per shader stage", most.storage - 1),
        "Fake GL".to_string(),
        "--backend".to_string(),
    ] {
        assert!(message.contains(&part), "{message:?} lacks {part:?}");
    }
}

#[test]
fn an_adapter_with_too_few_uniform_buffers_is_refused() {
    let limits = wgpu::Limits {
        max_uniform_buffers_per_shader_stage: 0,
        ..weakest()
    };
    let message = check_stage_limits(&limits, "Fake").unwrap_err().to_string();
    assert!(message.contains("uniform buffers"), "{message}");
}

/// Batch-1 and batch-2 training and an evaluation on `backends`; None
/// when no such adapter is visible. Returns the first layer's mu and the
/// evaluation's correct count.
fn train_on(backends: wgpu::Backends) -> Option<(Vec<f32>, usize)> {
    let choice = AdapterChoice {
        backends: Some(backends),
        ..Default::default()
    };
    let ctx = GpuContext::new(&choice).ok()?;
    let arch = Architecture::new(PIXELS, &[13], 10, true).unwrap();
    let runs = vec![RunSpec {
        seed: 4,
        hyper: Hyper {
            lr_sigma: 0.1,
            ..Hyper::default()
        },
    }];
    let mut mu = Vec::new();
    let mut correct = 0;
    for batch in [1, 2] {
        let cfg = EngineConfig {
            batch,
            train_samples: 3,
            test_samples: 3,
            ..Default::default()
        };
        let mut e = Engine::new(ctx.clone(), arch.clone(), runs.clone(), cfg).unwrap();
        e.set_train_data(&random_split(8, 5)).unwrap();
        e.set_task(&[(0..PIXELS as u32).collect()]).unwrap();
        let losses = e.train_steps(0, 3).unwrap();
        assert!(losses.iter().all(|l| l.is_finite()), "{losses:?}");
        let test = e.add_eval_set(&random_split(9, 6)).unwrap();
        let perm = vec![(0..PIXELS as u32).collect::<Vec<_>>()];
        correct += e.evaluate(test, &perm, 0).unwrap()[0].correct;
        mu.extend(e.params().unwrap().remove(0).mu.remove(0));
    }
    Some((mu, correct))
}

/// GL (16 storage buffers per stage) builds every training and evaluation
/// kernel and computes what Vulkan computes, to float rounding.
#[test]
fn the_gl_backend_trains_and_evaluates_like_vulkan() {
    let Some((gl_mu, gl_correct)) = train_on(wgpu::Backends::GL) else {
        eprintln!("skipping: no GL adapter");
        return;
    };
    let Some((vk_mu, vk_correct)) = train_on(wgpu::Backends::VULKAN) else {
        eprintln!("skipping: no Vulkan adapter to compare GL with");
        return;
    };
    let reference: Vec<f64> = vk_mu.iter().map(|&v| v as f64).collect();
    let err = common::rel_err(&gl_mu, &reference);
    assert!(err < 1e-5, "GL against Vulkan: relative error {err}");
    assert_eq!(gl_correct, vk_correct);
}

/// A MESU_PLAN that names no plan is refused with a message, not a panic.
#[test]
fn an_unknown_plan_is_refused_with_a_message() {
    refused_by_env("MESU_PLAN", "fast", "MESU_PLAN is \"fast\"");
    refused_by_env("MESU_SUBGROUPS", "maybe", "MESU_SUBGROUPS is \"maybe\"");
}

/// With subgroups set aside the GPU plan's workgroup sums take the tree:
/// a run trains (tests/kernels.rs checks the tree's numbers).
#[test]
fn subgroups_can_be_set_aside() {
    let out_dir = std::env::temp_dir().join(format!("mesu-nosubgroups-{}", std::process::id()));
    let flags = ["--train-limit", "40", "--test-limit", "40", "--ood", "none"];
    let out = one_task(
        &[("MESU_SUBGROUPS", "off"), ("MESU_PLAN", "gpu")],
        &flags,
        &out_dir,
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    if stderr.contains("no GPU adapter") && std::env::var_os("MESU_REQUIRE_GPU").is_none() {
        return;
    }
    assert!(out.status.success(), "{stderr}");
    std::fs::remove_dir_all(&out_dir).unwrap();
}

/// `mesu --backend vulkan --tasks 1` with `flags` into `out`, under `env`.
fn one_task(env: &[(&str, &str)], flags: &[&str], out: &std::path::Path) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_mesu"))
        .envs(env.iter().copied())
        .args(["--backend", "vulkan", "--tasks", "1"])
        .args(flags)
        .arg("--out")
        .arg(out)
        .output()
        .unwrap()
}

/// `mesu` with `var=value` is refused before anything is written.
fn refused_by_env(var: &str, value: &str, says: &str) {
    let out_dir = std::env::temp_dir().join(format!("mesu-env-{var}-{}", std::process::id()));
    let out = one_task(&[(var, value)], &["--train-limit", "8"], &out_dir);
    let stderr = String::from_utf8_lossy(&out.stderr);
    if stderr.contains("no GPU adapter") {
        return;
    }
    assert!(!out.status.success());
    assert!(stderr.contains(says), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(!out_dir.exists(), "nothing written");
}
