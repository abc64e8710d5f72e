//! `--profile` output of any backend: rows per kernel or phase, as a
//! table for stdout and as profile.csv.

use std::fmt::Write as _;

/// Work of one kernel launch, counted from its shapes (compulsory traffic:
/// each input read once, each output written once).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Cost {
    pub flops: f64,
    pub bytes: f64,
}

impl std::ops::Add for Cost {
    type Output = Cost;
    fn add(self, o: Cost) -> Cost {
        Cost {
            flops: self.flops + o.flops,
            bytes: self.bytes + o.bytes,
        }
    }
}

/// One row of the closing table and of profile.csv.
#[derive(Clone, Debug)]
pub struct ProfileRow {
    pub name: String,
    pub calls: u64,
    pub total_ms: f64,
    pub mean_us: f64,
    pub gflops: f64,
    pub gbytes: f64,
    pub share: f64,
}

/// The per-kernel table for stdout.
pub fn profile_table(rows: &[ProfileRow]) -> String {
    let mut out = format!(
        "{:<22} {:>9} {:>11} {:>10} {:>9} {:>9} {:>7}\n",
        "kernel", "calls", "total ms", "mean us", "GFLOP/s", "GB/s", "share"
    );
    for r in rows {
        let _ = writeln!(
            out,
            "{:<22} {:>9} {:>11.1} {:>10.2} {:>9.2} {:>9.2} {:>6.1}%",
            r.name,
            r.calls,
            r.total_ms,
            r.mean_us,
            r.gflops,
            r.gbytes,
            r.share * 100.0
        );
    }
    out
}

/// profile.csv: one row per kernel.
pub fn profile_csv(rows: &[ProfileRow]) -> String {
    let mut out = String::from("kernel,calls,total_ms,mean_us,gflop_per_s,gbyte_per_s,share\n");
    for r in rows {
        let _ = writeln!(
            out,
            "{},{},{},{},{},{},{}",
            r.name, r.calls, r.total_ms, r.mean_us, r.gflops, r.gbytes, r.share
        );
    }
    out
}
