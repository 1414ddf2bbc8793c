//! Process-wide counters, rendered as Prometheus text at `GET /metrics`.
//!
//! Written by hand on purpose: `prometheus-client` writes OpenMetrics (`# TYPE`
//! names without `_total`, float bucket bounds such as `le="1.0"`, a `# EOF`
//! line), which changes what scrapers see, and `metrics` with its Prometheus
//! exporter needs a process-wide recorder and a key lookup per recorded
//! capture; a few atomics and one render function stay cheaper and exact.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Duration;

use crate::store::StoreObserver;

pub static METRICS: Metrics = Metrics::new();

/// Upper bounds of the batch-size histogram.
const BATCH_BUCKETS: [u64; 9] = [1, 2, 4, 8, 16, 32, 64, 256, 1024];
/// Upper bounds of the commit-latency histogram, in microseconds.
const COMMIT_BUCKETS_US: [u64; 9] = [100, 250, 500, 1_000, 2_500, 5_000, 10_000, 50_000, 250_000];

struct Histogram<const N: usize> {
    bounds: [u64; N],
    counts: [AtomicU64; N],
    count: AtomicU64,
    sum: AtomicU64,
}

impl<const N: usize> Histogram<N> {
    const fn new(bounds: [u64; N]) -> Self {
        Self {
            bounds,
            counts: [const { AtomicU64::new(0) }; N],
            count: AtomicU64::new(0),
            sum: AtomicU64::new(0),
        }
    }

    fn observe(&self, value: u64) {
        if let Some(i) = self.bounds.iter().position(|&b| value <= b) {
            self.counts[i].fetch_add(1, Relaxed);
        }
        self.count.fetch_add(1, Relaxed);
        self.sum.fetch_add(value, Relaxed);
    }

    /// Writes the histogram; `scale` divides bounds and sum (µs → s).
    fn render(&self, out: &mut String, name: &str, help: &str, scale: f64) {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} histogram");
        let mut cumulative = 0;
        for (bound, count) in self.bounds.iter().zip(&self.counts) {
            cumulative += count.load(Relaxed);
            let le = *bound as f64 / scale;
            let _ = writeln!(out, "{name}_bucket{{le=\"{le}\"}} {cumulative}");
        }
        let count = self.count.load(Relaxed);
        let sum = self.sum.load(Relaxed) as f64 / scale;
        let _ = writeln!(out, "{name}_bucket{{le=\"+Inf\"}} {count}");
        let _ = writeln!(out, "{name}_sum {sum}\n{name}_count {count}");
    }
}

/// What `/metrics` reports from the store.
#[derive(Debug, Clone, Copy, Default)]
pub struct StoreFigures {
    /// Bins in the database.
    pub bins: u64,
    /// Requests the search indexer skipped since the start.
    pub index_skipped: u64,
}

pub struct Metrics {
    captures: [AtomicU64; 5],
    captured_bytes: AtomicU64,
    live_viewers: AtomicU64,
    batch_size: Histogram<9>,
    commit_latency: Histogram<9>,
}

impl Metrics {
    const fn new() -> Self {
        Self {
            captures: [const { AtomicU64::new(0) }; 5],
            captured_bytes: AtomicU64::new(0),
            live_viewers: AtomicU64::new(0),
            batch_size: Histogram::new(BATCH_BUCKETS),
            commit_latency: Histogram::new(COMMIT_BUCKETS_US),
        }
    }

    /// Counts one answered capture attempt by the class of its status.
    pub fn record_capture(&self, status: u16, body_bytes: usize) {
        let class = usize::from(status / 100).clamp(1, 5) - 1;
        self.captures[class].fetch_add(1, Relaxed);
        if (200..300).contains(&status) {
            self.captured_bytes.fetch_add(body_bytes as u64, Relaxed);
        }
    }

    pub fn viewer_joined(&self) {
        self.live_viewers.fetch_add(1, Relaxed);
    }

    pub fn viewer_left(&self) {
        self.live_viewers.fetch_sub(1, Relaxed);
    }

    /// Prometheus text exposition; `store` holds what the caller read
    /// from the store.
    pub fn render(&self, store: StoreFigures) -> String {
        let mut out = String::new();
        out.push_str(
            "# HELP hookscope_captures_total Capture attempts answered, by status class.\n",
        );
        out.push_str("# TYPE hookscope_captures_total counter\n");
        for (i, count) in self.captures.iter().enumerate() {
            let _ = writeln!(
                out,
                "hookscope_captures_total{{class=\"{}xx\"}} {}",
                i + 1,
                count.load(Relaxed)
            );
        }
        let _ = writeln!(
            out,
            "# HELP hookscope_captured_bytes_total Body bytes of stored captures.\n\
             # TYPE hookscope_captured_bytes_total counter\n\
             hookscope_captured_bytes_total {}\n\
             # HELP hookscope_live_viewers Open live-feed connections.\n\
             # TYPE hookscope_live_viewers gauge\n\
             hookscope_live_viewers {}\n\
             # HELP hookscope_bins Bins in the database.\n\
             # TYPE hookscope_bins gauge\n\
             hookscope_bins {}\n\
             # HELP hookscope_search_index_skipped_total Requests the search indexer could not index and skipped.\n\
             # TYPE hookscope_search_index_skipped_total counter\n\
             hookscope_search_index_skipped_total {}",
            self.captured_bytes.load(Relaxed),
            self.live_viewers.load(Relaxed),
            store.bins,
            store.index_skipped,
        );
        self.batch_size.render(
            &mut out,
            "hookscope_writer_batch_size",
            "Operations committed per writer transaction.",
            1.0,
        );
        self.commit_latency.render(
            &mut out,
            "hookscope_writer_commit_seconds",
            "Time to apply and commit one writer batch.",
            1_000_000.0,
        );
        out
    }
}

/// The writer's batches feed the batch-size and commit-latency histograms.
impl StoreObserver for Metrics {
    fn batch_committed(&self, size: usize, elapsed: Duration) {
        self.batch_size.observe(size as u64);
        self.commit_latency
            .observe(u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX));
    }
}
