// The update rules on one parameter, shared by the fused update kernels.
// Twin of `model::Rule::apply`. The including kernel binds `penalty`: per
// parameter (anchor theta*, importance, path, unused), read and written only
// for the penalised baselines.

const MESU: u32 = 0u;
const BGD: u32 = 1u;
const BGD_PUBLISHED: u32 = 2u;
const SGD: u32 = 3u;
const ONLINE_EWC: u32 = 4u;
const STREAM_EWC: u32 = 5u;
const SI: u32 = 6u;

const PASS_FISHER: u32 = 1u;
const PASS_HOLD: u32 = 2u;

fn is_finite(x: f32) -> bool {
    return (bitcast<u32>(x) & 0x7f800000u) != 0x7f800000u;
}

// New (mu, sigma) from the old ones and the gradient sums over K samples;
// `at` is the parameter's index into `penalty`.
fn rule(run: Run, m: f32, s: f32, g_mu_sum: f32, g_sigma_sum: f32, samples: u32, at: u32) -> vec2<f32> {
    let v = s * s;
    var g_mu = g_mu_sum / f32(samples);
    var g_sigma = g_sigma_sum / f32(samples);
    if (run.step_pass == PASS_FISHER) {
        penalty[at].z += g_mu * g_mu;
        return vec2<f32>(m, s);
    }
    if (run.step_pass == PASS_HOLD) { return vec2<f32>(m, s); }
    if (run.clamp_grad > 0.0) {
        let lim = run.clamp_grad / abs(s); // sigma's sign is free
        g_mu = clamp(g_mu, -lim, lim);
        g_sigma = clamp(g_sigma, -lim, lim);
    }
    switch run.optimizer {
        case MESU: {
            // One expression each: the prior pull alone is below f32 resolution.
            return vec2<f32>(
                m + run.lr_mu * v * ((run.mu_prior - m) * run.inv_n_prior - g_mu),
                s + run.lr_sigma * 0.5 * (s * (run.sigma_prior_sq - v) * run.inv_n_prior - v * g_sigma));
        }
        case BGD: {
            let h = 0.5 * s * g_sigma;
            return vec2<f32>(m - run.lr_mu * v * g_mu, s * sqrt(1.0 + h * h) - 0.5 * v * g_sigma);
        }
        case BGD_PUBLISHED: {
            // The authors' foovbdiagonal: the square-root term enters with the wrong sign.
            let h = 0.5 * s * g_sigma;
            return vec2<f32>(m - run.lr_mu * v * g_mu,
                             s - run.lr_sigma * (0.5 * v * g_sigma + s * (sqrt(1.0 + h * h) - 1.0)));
        }
        case ONLINE_EWC, STREAM_EWC, SI: {
            // SGD on loss + penalty; g_mu is the plain-loss gradient.
            var pen = penalty[at];
            let g_total = g_mu + run.strength * pen.y * (m - pen.x);
            let new_m = m - run.lr_mu * g_total;
            if (run.optimizer == STREAM_EWC) {
                pen.x = m;
                pen.y = run.gamma * pen.y + g_mu * g_mu;
            }
            if (run.optimizer == SI) { pen.z = pen.z - g_total * (new_m - m); }
            penalty[at] = pen;
            return vec2<f32>(new_m, s);
        }
        default: { // SGD: deterministic weights = mu (sigma stays 0)
            return vec2<f32>(m - run.lr_mu * g_mu, s);
        }
    }
}

// Whether a rule's output may be kept: a finite mu and a finite sigma of
// either sign (the standard deviation is |sigma|; w = mu + sigma eps and every
// rule are symmetric under (sigma, eps) -> (-sigma, -eps)). Twin of
// `model::healthy`.
fn healthy(ms: vec2<f32>) -> bool {
    return is_finite(ms.x) && is_finite(ms.y);
}
