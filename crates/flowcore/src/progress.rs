//! Progress of long loops, shown where people look: an `indicatif` bar when stderr is a
//! terminal, and a plain `tracing` line at a steady interval when it is a file or a pipe
//! (CI, `pipeline run … > run.log 2>&1`), so a long run is never silent.
//!
//! The interval is 30 s, or `BERTFLOW_PROGRESS_SECS` seconds when that is set.

use std::io::IsTerminal;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};

/// Seconds between two plain progress lines unless `BERTFLOW_PROGRESS_SECS` says otherwise.
pub const DEFAULT_INTERVAL_SECS: u64 = 30;

/// A progress report over `total` units of work (steps, windows, examples).
#[derive(Debug)]
pub struct Progress {
    bar: ProgressBar,
    plain: Option<Plain>,
}

#[derive(Debug)]
struct Plain {
    what: String,
    unit: String,
    total: u64,
    pos: AtomicU64,
    start: Instant,
    /// Position when the clock started (a resumed run does not count earlier work in its rate).
    start_pos: AtomicU64,
    /// Milliseconds since `start` of the last line written.
    last_ms: AtomicU64,
    every_ms: u64,
    message: Mutex<String>,
}

impl Progress {
    /// A report named `what` counting `unit`s up to `total`. `template` is the `indicatif`
    /// template of the terminal bar. Nothing is shown when `enabled` is false (tests,
    /// `--quiet`).
    pub fn new(what: &str, unit: &str, total: u64, template: &str, enabled: bool) -> Self {
        let terminal = std::io::stderr().is_terminal();
        let interval = match std::env::var("BERTFLOW_PROGRESS_SECS") {
            Ok(raw) => raw.trim().parse::<u64>().unwrap_or_else(|_| {
                tracing::warn!(
                    "BERTFLOW_PROGRESS_SECS = {raw:?} is not a whole number of seconds; using {DEFAULT_INTERVAL_SECS}"
                );
                DEFAULT_INTERVAL_SECS
            }),
            Err(_) => DEFAULT_INTERVAL_SECS,
        };
        Self::with(
            what,
            unit,
            total,
            template,
            enabled,
            terminal,
            Duration::from_secs(interval),
        )
    }

    fn with(
        what: &str,
        unit: &str,
        total: u64,
        template: &str,
        enabled: bool,
        terminal: bool,
        every: Duration,
    ) -> Self {
        let bar = if enabled && terminal {
            let bar = ProgressBar::new(total);
            if let Ok(style) = ProgressStyle::with_template(template) {
                bar.set_style(style);
            }
            bar
        } else {
            ProgressBar::hidden()
        };
        let plain = (enabled && !terminal).then(|| Plain {
            what: what.to_string(),
            unit: unit.to_string(),
            total,
            pos: AtomicU64::new(0),
            start: Instant::now(),
            start_pos: AtomicU64::new(0),
            last_ms: AtomicU64::new(0),
            every_ms: every.as_millis() as u64,
            message: Mutex::new(String::new()),
        });
        Self { bar, plain }
    }

    /// Adds `n` units of done work.
    pub fn inc(&self, n: u64) {
        self.bar.inc(n);
        if let Some(p) = &self.plain {
            p.pos.fetch_add(n, Ordering::Relaxed);
            p.maybe_log();
        }
    }

    /// Sets the done work to `pos`.
    pub fn set_position(&self, pos: u64) {
        self.bar.set_position(pos);
        if let Some(p) = &self.plain {
            p.pos.store(pos, Ordering::Relaxed);
            p.maybe_log();
        }
    }

    /// Starts the clock of the rate and ETA at the current position (after a resume).
    pub fn reset_eta(&self) {
        self.bar.reset_eta();
        if let Some(p) = &self.plain {
            p.start_pos
                .store(p.pos.load(Ordering::Relaxed), Ordering::Relaxed);
        }
    }

    /// The text after the counts (e.g. `loss 0.41 lr 3e-5 530 tok/s`).
    pub fn set_message(&self, message: String) {
        if let Some(p) = &self.plain
            && let Ok(mut m) = p.message.lock()
        {
            m.clone_from(&message);
        }
        self.bar.set_message(message);
    }

    /// A line that must not be lost among the updates (shown above the bar, or logged).
    pub fn println(&self, line: String) {
        if self.plain.is_some() {
            tracing::info!("{line}");
        } else {
            self.bar.println(line);
        }
    }

    /// Done: removes the bar; a plain report of a loop that ran longer than one interval
    /// logs its last line (short loops stay quiet).
    pub fn finish_and_clear(&self) {
        self.bar.finish_and_clear();
        if let Some(p) = &self.plain
            && p.start.elapsed().as_millis() as u64 >= p.every_ms.max(1)
        {
            p.log();
        }
    }

    /// Stopped early (error or interruption): leaves the bar where it is.
    pub fn abandon(&self) {
        self.bar.abandon();
    }
}

impl Plain {
    fn maybe_log(&self) {
        let now = self.start.elapsed().as_millis() as u64;
        let last = self.last_ms.load(Ordering::Relaxed);
        if now.saturating_sub(last) >= self.every_ms
            && self
                .last_ms
                .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
        {
            self.log();
        }
    }

    fn log(&self) {
        let message = self.message.lock().map(|m| m.clone()).unwrap_or_default();
        let line = plain_line(
            &self.what,
            &self.unit,
            self.pos.load(Ordering::Relaxed),
            self.start_pos.load(Ordering::Relaxed),
            self.total,
            self.start.elapsed(),
            &message,
        );
        tracing::info!("{line}");
    }
}

/// `train: step 120/1407 (8.5 %), loss 4.97, 2.1 step/s, elapsed 4m02s, ETA 10m13s`.
fn plain_line(
    what: &str,
    unit: &str,
    pos: u64,
    start_pos: u64,
    total: u64,
    elapsed: Duration,
    message: &str,
) -> String {
    let pct = if total > 0 {
        100.0 * pos as f64 / total as f64
    } else {
        0.0
    };
    let mut line = format!("{what}: {unit} {pos}/{total} ({pct:.1} %)");
    if !message.is_empty() {
        line += &format!(", {message}");
    }
    let secs = elapsed.as_secs_f64();
    let done = pos.saturating_sub(start_pos);
    if secs > 0.0 && done > 0 {
        let rate = done as f64 / secs;
        line += &format!(", {rate:.1} {unit}/s");
        line += &format!(", elapsed {}", clock(secs));
        if pos < total {
            line += &format!(", ETA {}", clock(total.saturating_sub(pos) as f64 / rate));
        }
    } else {
        line += &format!(", elapsed {}", clock(secs));
    }
    line
}

/// `1h02m03s`, `4m02s`, `12s`.
fn clock(secs: f64) -> String {
    let s = secs.round() as u64;
    let (h, m, s) = (s / 3600, (s % 3600) / 60, s % 60);
    if h > 0 {
        format!("{h}h{m:02}m{s:02}s")
    } else if m > 0 {
        format!("{m}m{s:02}s")
    } else {
        format!("{s}s")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_line_has_counts_rate_and_eta() {
        let line = plain_line(
            "train",
            "step",
            120,
            20,
            1407,
            Duration::from_secs(50),
            "loss 4.9700",
        );
        assert_eq!(
            line,
            "train: step 120/1407 (8.5 %), loss 4.9700, 2.0 step/s, elapsed 50s, ETA 10m44s"
        );
        let start = plain_line("tokenize", "example", 0, 0, 10, Duration::ZERO, "");
        assert_eq!(start, "tokenize: example 0/10 (0.0 %), elapsed 0s");
        assert_eq!(clock(3723.0), "1h02m03s");
    }

    #[test]
    fn plain_reports_follow_the_work_and_bars_stay_off_the_pipe() {
        let p = Progress::with("x", "step", 10, "{pos}", true, false, Duration::ZERO);
        assert!(p.bar.is_hidden());
        p.inc(3);
        p.set_position(7);
        p.reset_eta();
        let plain = p.plain.as_ref().unwrap();
        assert_eq!(plain.pos.load(Ordering::Relaxed), 7);
        assert_eq!(plain.start_pos.load(Ordering::Relaxed), 7);
        let off = Progress::with("x", "step", 10, "{pos}", false, false, Duration::ZERO);
        assert!(off.plain.is_none() && off.bar.is_hidden());
    }
}
