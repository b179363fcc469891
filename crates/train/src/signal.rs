//! SIGTERM during training: what Slurm, Kubernetes and spot instances send before killing a
//! process. While a run trains (a `Training` guard alive), the signal sets [`termination_flag`]
//! and the run saves a checkpoint and stops; outside training, SIGTERM keeps its default
//! action and ends the process.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};

/// This process's SIGTERM handling: `stop` is set by the signal; `idle` (outside training)
/// restores the default action.
struct Termination {
    stop: Arc<AtomicBool>,
    idle: Arc<AtomicBool>,
}

fn termination() -> &'static Termination {
    static TERM: OnceLock<Termination> = OnceLock::new();
    TERM.get_or_init(|| {
        let t = Termination {
            stop: Arc::new(AtomicBool::new(false)),
            idle: Arc::new(AtomicBool::new(true)),
        };
        let sig = signal_hook::consts::SIGTERM;
        // The default action first (while idle), then the flag.
        let registered = signal_hook::flag::register_conditional_default(sig, Arc::clone(&t.idle))
            .and_then(|_| signal_hook::flag::register(sig, Arc::clone(&t.stop)));
        if let Err(e) = registered {
            tracing::warn!(
                "cannot watch SIGTERM ({e}); a terminated run will not save a checkpoint first"
            );
        }
        t
    })
}

/// The flag SIGTERM sets during training (pass it as the run's `stop` option).
pub fn termination_flag() -> Arc<AtomicBool> {
    Arc::clone(&termination().stop)
}

/// While alive, SIGTERM stops the run gracefully instead of ending the process.
pub(crate) struct Training;

impl Training {
    /// Marks this process as training until the guard is dropped.
    pub(crate) fn start() -> Self {
        termination().idle.store(false, Ordering::SeqCst);
        Self
    }
}

impl Drop for Training {
    fn drop(&mut self) {
        termination().idle.store(true, Ordering::SeqCst);
    }
}
