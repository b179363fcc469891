//! The server's counters and histograms, written in the Prometheus text exposition format
//! (version 0.0.4) for `GET /metrics`: requests by route and status, request latency, the
//! requests, inputs and sub-words of each model batch, model time, and the queue depth.
//!
//! A handful of series updated a few times per request: one mutex is cheaper and simpler than
//! a metrics library here.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

/// Upper bounds of the latency buckets, in seconds.
const LATENCY_BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];
/// Upper bounds of the requests-per-batch buckets.
const BATCH_BUCKETS: &[f64] = &[1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0];
/// Upper bounds of the sub-words-per-batch buckets.
const TOKEN_BUCKETS: &[f64] = &[
    16.0, 64.0, 256.0, 1024.0, 4096.0, 16384.0, 65536.0, 262144.0,
];

/// A cumulative histogram with fixed buckets.
#[derive(Debug, Clone)]
struct Histogram {
    bounds: &'static [f64],
    /// Observations at or below each bound (not cumulative; summed when written).
    counts: Vec<u64>,
    sum: f64,
    count: u64,
}

impl Histogram {
    fn new(bounds: &'static [f64]) -> Self {
        Self {
            bounds,
            counts: vec![0; bounds.len()],
            sum: 0.0,
            count: 0,
        }
    }

    fn observe(&mut self, v: f64) {
        if let Some(i) = self.bounds.iter().position(|&b| v <= b) {
            self.counts[i] += 1;
        }
        self.sum += v;
        self.count += 1;
    }

    /// Writes the `_bucket`, `_sum` and `_count` lines; `labels` is empty or `key="value",`.
    fn write(&self, out: &mut String, name: &str, labels: &str) {
        let mut cumulative = 0;
        for (bound, n) in self.bounds.iter().zip(&self.counts) {
            cumulative += n;
            let _ = writeln!(out, "{name}_bucket{{{labels}le=\"{bound}\"}} {cumulative}");
        }
        let _ = writeln!(out, "{name}_bucket{{{labels}le=\"+Inf\"}} {}", self.count);
        let plain = labels.trim_end_matches(',');
        let braces = if plain.is_empty() {
            String::new()
        } else {
            format!("{{{plain}}}")
        };
        let _ = writeln!(out, "{name}_sum{braces} {}", self.sum);
        let _ = writeln!(out, "{name}_count{braces} {}", self.count);
    }
}

#[derive(Debug)]
struct Series {
    requests: BTreeMap<(String, u16), u64>,
    latency: BTreeMap<String, Histogram>,
    batch_requests: Histogram,
    batch_inputs: Histogram,
    batch_tokens: Histogram,
    model_seconds: Histogram,
    cancelled: u64,
}

/// The server's metrics; shared by the HTTP handlers and the model worker.
#[derive(Debug)]
pub struct Metrics {
    series: Mutex<Series>,
    queue_depth: AtomicUsize,
}

impl Default for Metrics {
    fn default() -> Self {
        Self {
            series: Mutex::new(Series {
                requests: BTreeMap::new(),
                latency: BTreeMap::new(),
                batch_requests: Histogram::new(BATCH_BUCKETS),
                batch_inputs: Histogram::new(BATCH_BUCKETS),
                batch_tokens: Histogram::new(TOKEN_BUCKETS),
                model_seconds: Histogram::new(LATENCY_BUCKETS),
                cancelled: 0,
            }),
            queue_depth: AtomicUsize::new(0),
        }
    }
}

/// One model batch, as the worker ran it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BatchStats {
    /// Requests answered together.
    pub requests: usize,
    /// Their inputs.
    pub inputs: usize,
    /// Their sub-words.
    pub tokens: usize,
    /// Time in the model (encoding, forward passes, JSON), in seconds.
    pub seconds: f64,
}

impl Metrics {
    fn lock(&self) -> std::sync::MutexGuard<'_, Series> {
        // A panic while holding the lock cannot leave a counter half-written; keep counting.
        self.series.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Counts a finished request on `route` with its status and latency.
    pub fn request(&self, route: &str, status: u16, seconds: f64) {
        let mut s = self.lock();
        *s.requests.entry((route.to_string(), status)).or_default() += 1;
        s.latency
            .entry(route.to_string())
            .or_insert_with(|| Histogram::new(LATENCY_BUCKETS))
            .observe(seconds);
    }

    /// Records one model batch.
    pub fn batch(&self, b: BatchStats) {
        let mut s = self.lock();
        s.batch_requests.observe(b.requests as f64);
        s.batch_inputs.observe(b.inputs as f64);
        s.batch_tokens.observe(b.tokens as f64);
        s.model_seconds.observe(b.seconds);
    }

    /// Counts requests dropped from the queue because their client had gone (disconnect or
    /// timeout) before the model reached them.
    pub fn cancelled(&self, n: usize) {
        self.lock().cancelled += n as u64;
    }

    /// A request entered the model queue.
    pub fn enqueued(&self) {
        self.queue_depth.fetch_add(1, Ordering::Relaxed);
    }

    /// A request left the model queue.
    pub fn dequeued(&self) {
        // Saturating: never wraps even if a count were missed.
        let _ = self
            .queue_depth
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |d| {
                Some(d.saturating_sub(1))
            });
    }

    /// Requests waiting for the model now.
    pub fn queue_depth(&self) -> usize {
        self.queue_depth.load(Ordering::Relaxed)
    }

    /// All series in the Prometheus text format.
    pub fn render(&self) -> String {
        let s = self.lock().clone_for_render();
        let mut out = String::new();
        out.push_str("# HELP serve_requests_total HTTP requests answered, by route and status.\n");
        out.push_str("# TYPE serve_requests_total counter\n");
        for ((route, status), n) in &s.requests {
            let _ = writeln!(
                out,
                "serve_requests_total{{route=\"{route}\",status=\"{status}\"}} {n}"
            );
        }
        out.push_str(
            "# HELP serve_request_duration_seconds Time from request to response, by route.\n",
        );
        out.push_str("# TYPE serve_request_duration_seconds histogram\n");
        for (route, h) in &s.latency {
            h.write(
                &mut out,
                "serve_request_duration_seconds",
                &format!("route=\"{route}\","),
            );
        }
        let histograms = [
            (
                "serve_batch_requests",
                "Requests answered by one model batch.",
                &s.batch_requests,
            ),
            (
                "serve_batch_inputs",
                "Inputs (texts, pairs, queries) in one model batch.",
                &s.batch_inputs,
            ),
            (
                "serve_batch_tokens",
                "Sub-words in one model batch.",
                &s.batch_tokens,
            ),
            (
                "serve_model_seconds",
                "Time the model worker spent on one batch.",
                &s.model_seconds,
            ),
        ];
        for (name, help, h) in histograms {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} histogram");
            h.write(&mut out, name, "");
        }
        out.push_str(
            "# HELP serve_cancelled_total Queued requests dropped because their client had gone.\n",
        );
        out.push_str("# TYPE serve_cancelled_total counter\n");
        let _ = writeln!(out, "serve_cancelled_total {}", s.cancelled);
        out.push_str("# HELP serve_queue_depth Requests waiting for the model.\n");
        out.push_str("# TYPE serve_queue_depth gauge\n");
        let _ = writeln!(out, "serve_queue_depth {}", self.queue_depth());
        out
    }
}

impl Series {
    fn clone_for_render(&self) -> Self {
        Self {
            requests: self.requests.clone(),
            latency: self.latency.clone(),
            batch_requests: self.batch_requests.clone(),
            batch_inputs: self.batch_inputs.clone(),
            batch_tokens: self.batch_tokens.clone(),
            model_seconds: self.model_seconds.clone(),
            cancelled: self.cancelled,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histograms_are_cumulative_and_counters_labelled() {
        let m = Metrics::default();
        m.request("/predict", 200, 0.003);
        m.request("/predict", 200, 0.2);
        m.request("/predict", 422, 0.0005);
        m.batch(BatchStats {
            requests: 3,
            inputs: 5,
            tokens: 40,
            seconds: 0.01,
        });
        m.enqueued();
        m.enqueued();
        m.dequeued();
        let text = m.render();
        for line in [
            "serve_requests_total{route=\"/predict\",status=\"200\"} 2",
            "serve_requests_total{route=\"/predict\",status=\"422\"} 1",
            "serve_request_duration_seconds_bucket{route=\"/predict\",le=\"0.001\"} 1",
            "serve_request_duration_seconds_bucket{route=\"/predict\",le=\"0.005\"} 2",
            "serve_request_duration_seconds_bucket{route=\"/predict\",le=\"+Inf\"} 3",
            "serve_request_duration_seconds_count{route=\"/predict\"} 3",
            "serve_batch_requests_bucket{le=\"2\"} 0",
            "serve_batch_requests_bucket{le=\"4\"} 1",
            "serve_batch_requests_sum 3",
            "serve_batch_tokens_bucket{le=\"64\"} 1",
            "serve_queue_depth 1",
        ] {
            assert!(text.contains(line), "missing `{line}` in\n{text}");
        }
    }
}
