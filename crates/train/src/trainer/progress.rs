//! What a run shows and logs as it trains: the progress bar, the training-loss lines of the
//! history (mean loss, learning rate, gradient norm, tokens/s every `log_every` steps) and
//! the peak memory of the summary.

use flowcore::progress::Progress;
use serde_json::json;

/// The progress bar of a run at step `done` of `total` (drawn on stderr when `enabled`).
pub(super) fn progress_bar(total: u64, done: u64, enabled: bool) -> Progress {
    let bar = Progress::new(
        "train",
        "step",
        total,
        "train {bar:30} step {pos}/{len} {msg} [{elapsed_precise} < {eta_precise}]",
        enabled,
    );
    bar.set_position(done);
    bar.reset_eta();
    bar
}

/// Training loss, tokens and seconds of the steps since the last history line.
#[derive(Debug, Default)]
pub(super) struct LogWindow {
    loss: f64,
    steps: u64,
    tokens: u64,
    seconds: f64,
    /// The mean loss of the last closed window.
    pub(super) final_loss: Option<f64>,
}

impl LogWindow {
    /// Adds one optimizer step.
    pub(super) fn add(&mut self, loss: f64, tokens: u64, seconds: f64) {
        self.loss += loss;
        self.steps += 1;
        self.tokens += tokens;
        self.seconds += seconds;
    }

    /// Closes the window at `step`: its history line, also shown on `bar`; the next window
    /// starts empty.
    pub(super) fn close(
        &mut self,
        step: u64,
        epoch: f64,
        lr: f64,
        grad_norm: f64,
        bar: &Progress,
    ) -> serde_json::Value {
        let mean = self.loss / self.steps.max(1) as f64;
        let tps = self.tokens as f64 / self.seconds.max(1e-9);
        self.final_loss = Some(mean);
        let line = json!({
            "step": step,
            "epoch": round4(epoch),
            "loss": mean,
            "lr": lr,
            "grad_norm": grad_norm,
            "tokens_per_s": tps.round(),
        });
        bar.set_message(format!("loss {mean:.4} lr {lr:.2e} {tps:.0} tok/s"));
        tracing::debug!(step, loss = mean, lr, grad_norm, tps, "train");
        (self.loss, self.steps, self.tokens, self.seconds) = (0.0, 0, 0, 0.0);
        line
    }
}

/// Peak resident set size of this process in MiB, from `/proc/self/status` (`VmHWM`).
pub fn peak_rss_mib() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}

/// `x` rounded to 4 decimals (epochs in the history and the summary).
pub(super) fn round4(x: f64) -> f64 {
    (x * 1e4).round() / 1e4
}
