//! `--profile`: GPU timestamps around every kernel launch when the adapter
//! writes them inside compute passes, else host timing of whole submits.

use std::collections::BTreeMap;
use std::time::Duration;

use super::{GpuContext, GpuError};
use crate::backend::{Cost, ProfileRow};

/// Totals of one kernel (or, without timestamps, of one kind of submit).
#[derive(Clone, Debug, Default)]
pub struct KernelStat {
    pub calls: u64,
    pub nanos: f64,
    pub cost: Cost,
}

struct Queries {
    set: wgpu::QuerySet,
    resolve: wgpu::Buffer,
    readback: wgpu::Buffer,
    /// Nanoseconds per timestamp tick.
    period: f64,
}

/// Most timestamps one query set holds (wgpu's QUERY_SET_MAX_QUERIES).
const QUERIES: u32 = 4096;

pub struct Profiler {
    queries: Option<Queries>,
    /// Launches recorded since the last `collect`, in query order: (phase, kernel).
    pending: Vec<((&'static str, &'static str), Cost)>,
    stats: BTreeMap<(&'static str, &'static str), KernelStat>,
}

impl Profiler {
    pub fn new(ctx: &GpuContext) -> Self {
        let inside =
            wgpu::Features::TIMESTAMP_QUERY | wgpu::Features::TIMESTAMP_QUERY_INSIDE_PASSES;
        let queries = ctx.features.contains(inside).then(|| {
            let bytes = QUERIES as u64 * 8;
            let buffer = |label, usage| {
                ctx.device.create_buffer(&wgpu::BufferDescriptor {
                    label: Some(label),
                    size: bytes,
                    usage,
                    mapped_at_creation: false,
                })
            };
            Queries {
                set: ctx.device.create_query_set(&wgpu::QuerySetDescriptor {
                    label: Some("profile"),
                    ty: wgpu::QueryType::Timestamp,
                    count: QUERIES,
                }),
                resolve: buffer(
                    "profile resolve",
                    wgpu::BufferUsages::QUERY_RESOLVE | wgpu::BufferUsages::COPY_SRC,
                ),
                readback: buffer(
                    "profile readback",
                    wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
                ),
                period: ctx.queue.get_timestamp_period() as f64,
            }
        });
        Profiler {
            queries,
            pending: Vec::new(),
            stats: BTreeMap::new(),
        }
    }

    /// What the figures measure, for the run's log.
    pub fn method(&self) -> &'static str {
        if self.queries.is_some() {
            "GPU timestamps around every kernel"
        } else {
            "host time of whole submits (the adapter has no timestamps inside compute passes)"
        }
    }

    /// Most launches one submit may record before `collect`.
    pub fn max_launches(&self) -> usize {
        (QUERIES / 2) as usize
    }

    /// Timestamp before a launch of kernel `name` in `phase` (train, eval).
    pub fn begin(
        &mut self,
        pass: &mut wgpu::ComputePass<'_>,
        phase: &'static str,
        name: &'static str,
        cost: Cost,
    ) {
        if let Some(q) = &self.queries {
            let i = self.pending.len() as u32 * 2;
            assert!(i + 1 < QUERIES, "more launches than one query set holds");
            pass.write_timestamp(&q.set, i);
        }
        self.pending.push(((phase, name), cost));
    }

    /// Timestamp after the launch begun last.
    pub fn end(&mut self, pass: &mut wgpu::ComputePass<'_>) {
        if let Some(q) = &self.queries {
            pass.write_timestamp(&q.set, self.pending.len() as u32 * 2 - 1);
        }
    }

    /// Copy this submit's timestamps out (record after the pass ends).
    pub fn resolve(&self, encoder: &mut wgpu::CommandEncoder) {
        if let Some(q) = &self.queries
            && !self.pending.is_empty()
        {
            let n = self.pending.len() as u32 * 2;
            encoder.resolve_query_set(&q.set, 0..n, &q.resolve, 0);
            encoder.copy_buffer_to_buffer(&q.resolve, 0, &q.readback, 0, n as u64 * 8);
        }
    }

    /// After the submit of `phase` (waited for, `elapsed` on the host): add
    /// the timestamps up per kernel, or without them the whole submit.
    pub fn collect(
        &mut self,
        ctx: &GpuContext,
        phase: &'static str,
        elapsed: Duration,
    ) -> Result<(), GpuError> {
        let Some(q) = &self.queries else {
            let cost = self
                .pending
                .drain(..)
                .fold(Cost::default(), |a, (_, c)| a + c);
            let key = (phase, "whole submits");
            add(&mut self.stats, key, elapsed.as_nanos() as f64, cost);
            return Ok(());
        };
        if self.pending.is_empty() {
            return Ok(());
        }
        let n = self.pending.len() * 2;
        let slice = q.readback.slice(..n as u64 * 8);
        slice.map_async(wgpu::MapMode::Read, |_| {});
        ctx.wait()?;
        let ticks: Vec<u64> = {
            let view = slice
                .get_mapped_range()
                .map_err(|e| GpuError::Runtime(format!("profile readback: {e}")))?;
            bytemuck::cast_slice(&view).to_vec()
        };
        q.readback.unmap();
        for (i, (name, cost)) in self.pending.drain(..).enumerate() {
            let span = ticks[2 * i + 1].saturating_sub(ticks[2 * i]);
            add(&mut self.stats, name, span as f64 * q.period, cost);
        }
        Ok(())
    }

    /// Rows, longest total first.
    pub fn rows(&self) -> Vec<ProfileRow> {
        let total: f64 = self.stats.values().map(|s| s.nanos).sum();
        let mut rows: Vec<ProfileRow> = self
            .stats
            .iter()
            .map(|((phase, kernel), s)| {
                let secs = s.nanos * 1e-9;
                ProfileRow {
                    name: format!("{phase}/{kernel}"),
                    calls: s.calls,
                    total_ms: s.nanos * 1e-6,
                    mean_us: s.nanos * 1e-3 / s.calls.max(1) as f64,
                    gflops: s.cost.flops / secs.max(1e-12) * 1e-9,
                    gbytes: s.cost.bytes / secs.max(1e-12) * 1e-9,
                    share: s.nanos / total.max(1e-12),
                }
            })
            .collect();
        rows.sort_by(|a, b| b.total_ms.total_cmp(&a.total_ms));
        rows
    }
}

fn add(
    stats: &mut BTreeMap<(&'static str, &'static str), KernelStat>,
    name: (&'static str, &'static str),
    nanos: f64,
    cost: Cost,
) {
    let s = stats.entry(name).or_default();
    s.calls += 1;
    s.nanos += nanos;
    s.cost = s.cost + cost;
}
