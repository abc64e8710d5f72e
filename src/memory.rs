//! Host memory a group of runs will take, estimated from the shapes before
//! anything is allocated, and checked against what the machine has
//! available: a size no machine here can hold is refused with the figures
//! instead of aborting in the allocator.

use crate::Error;

/// What to lower when a plan does not fit.
pub const FIX: &str = "lower --hidden, --batch-size, --train-samples, --test-samples or --tasks, or run fewer runs at once";

/// What a group will allocate on the host, part by part.
#[derive(Clone, Debug, Default)]
pub struct MemoryPlan {
    pub parts: Vec<(&'static str, u64)>,
}

/// The product of `factors` in bytes, saturating (a product beyond u64 is
/// as refused as one just above the memory).
pub fn bytes(factors: &[usize]) -> u64 {
    factors
        .iter()
        .fold(1u64, |acc, &f| acc.saturating_mul(f as u64))
}

impl MemoryPlan {
    pub fn add(&mut self, part: &'static str, bytes: u64) {
        self.parts.push((part, bytes));
    }

    pub fn total(&self) -> u64 {
        self.parts
            .iter()
            .fold(0u64, |acc, (_, b)| acc.saturating_add(*b))
    }

    /// Refuse a plan larger than the memory available now (MemAvailable of
    /// /proc/meminfo); where that is unknown, only one no address space
    /// holds. `fix` says which settings to lower.
    pub fn check(&self, fix: &str) -> Result<(), Error> {
        let total = self.total();
        let (limit, what) = match available() {
            Some(bytes) => (bytes, format!("{} available", gib(bytes))),
            None => (isize::MAX as u64, "the address space".into()),
        };
        if total <= limit {
            return Ok(());
        }
        let mut largest = self.parts.clone();
        largest.sort_by_key(|(_, b)| std::cmp::Reverse(*b));
        let parts: Vec<String> = largest
            .iter()
            .take(3)
            .map(|(p, b)| format!("{p} {}", gib(*b)))
            .collect();
        Err(Error::TooLarge(format!(
            "these settings need about {} of memory ({}) but this machine has {what}; {fix}",
            gib(total),
            parts.join(", ")
        )))
    }
}

/// Bytes as GiB for messages.
fn gib(bytes: u64) -> String {
    if bytes == u64::MAX {
        "more than 16 EiB".into()
    } else {
        format!("{:.1} GiB", bytes as f64 / f64::from(1u32 << 30))
    }
}

/// MemAvailable of /proc/meminfo in bytes (Linux); None elsewhere.
pub fn available() -> Option<u64> {
    let info = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = info.lines().find(|l| l.starts_with("MemAvailable:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib.saturating_mul(1024))
}
