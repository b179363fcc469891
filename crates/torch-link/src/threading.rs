//! How a libtorch binary sets up its CPU threading, and the record of what it got.
//!
//! libtorch's intra-op threads are OpenMP threads (the torch wheel bundles GNU libgomp). At
//! the end of every parallel region they wait for each other at a barrier, spinning first
//! (`GOMP_SPINCOUNT` iterations, 300,000 by default) and sleeping only after. On an idle
//! machine the spin saves a wake-up per region; on a busy one it is a disaster: a thread that
//! spins while its partner has been descheduled burns the very core its partner needs, and
//! a 2-core machine with one busy neighbour ran training 7× and serving 19× slower (issue 42).
//! libgomp reads its settings once, when it is loaded, before `main` runs: setting them from
//! inside the process is too late. [`configure`] therefore re-executes the binary once, with
//! the product's settings ([`DEFAULTS`]) added to the environment where the user did not set
//! them, and marks the environment ([`MARK`]) so it happens once. [`Threading::current`]
//! records what a run got, for manifests and `/info`.

use std::collections::BTreeMap;

/// Set in the environment of a process whose threading [`configure`] has set up.
pub const MARK: &str = "BERTFLOW_THREADING";

/// The OpenMP settings the product runs libtorch with, unless the user set them: spin briefly
/// at a barrier, then sleep. The spin count is measured (scripts/bench/contention.sh,
/// bench-results/contention.md; a first sweep of 20 training steps of MiniLM on 2 cores,
/// tokens/s idle / beside one busy process: libgomp's default 300,000 ≈ 1,810 / 560 (31 %),
/// 100,000 1,840 / 320, 10,000 1,920 / 730, 4,000 1,730 / 870, 2,000 1,735 / 965 (53 %),
/// 1,000 1,690 / 1,000, 0 (sleep at once, like `OMP_WAIT_POLICY=PASSIVE`) 1,560 / 1,050):
/// long enough that an idle machine rarely pays a wake-up per parallel region, short enough
/// that a thread whose partner was descheduled does not burn the core that partner needs.
pub const DEFAULTS: &[(&str, &str)] = &[("GOMP_SPINCOUNT", "2000")];

/// Environment variables that shape libtorch's CPU threading and its numerics, recorded as set.
const RECORDED: &[&str] = &[
    "OMP_NUM_THREADS",
    "OMP_WAIT_POLICY",
    "OMP_DYNAMIC",
    "OMP_PROC_BIND",
    "GOMP_SPINCOUNT",
    "MKL_NUM_THREADS",
    "MKL_DYNAMIC",
    "MKL_CBWR",
    "KMP_BLOCKTIME",
    MARK,
];

/// What [`configure`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Configured {
    /// The settings were already in place (set by the user or a parent run).
    AlreadySet,
    /// Turned off by `BERTFLOW_THREADING=off`: libgomp's defaults apply.
    Off,
    /// Re-executing failed; the run goes on with libgomp's defaults.
    Failed(String),
}

/// The settings of [`DEFAULTS`] missing from `env` (a variable the user set is kept as is).
pub fn missing(env: &BTreeMap<String, String>) -> Vec<(&'static str, &'static str)> {
    DEFAULTS
        .iter()
        .filter(|(k, _)| !env.contains_key(*k))
        .copied()
        .collect()
}

/// Re-executes this binary with the threading settings of [`DEFAULTS`] added to its
/// environment, unless [`MARK`] says that was done (or is `off`). Call first thing in `main`
/// of every binary that runs libtorch, before any thread starts. Returns only when no
/// re-execution happened.
pub fn configure() -> Configured {
    let env: BTreeMap<String, String> = std::env::vars().collect();
    match env.get(MARK).map(String::as_str) {
        Some("off") => return Configured::Off,
        Some(_) => return Configured::AlreadySet,
        None => {}
    }
    let add = missing(&env);
    reexec(&add)
}

#[cfg(unix)]
fn reexec(add: &[(&str, &str)]) -> Configured {
    use std::os::unix::process::CommandExt;
    let exe = match std::env::current_exe() {
        Ok(exe) => exe,
        Err(e) => return Configured::Failed(format!("cannot find this binary: {e}")),
    };
    let mut args = std::env::args_os();
    let arg0 = args.next().unwrap_or_else(|| exe.clone().into_os_string());
    let err = std::process::Command::new(&exe)
        .arg0(arg0)
        .args(args)
        .envs(add.iter().copied())
        .env(MARK, "1")
        .exec();
    Configured::Failed(format!("re-executing {}: {err}", exe.display()))
}

#[cfg(not(unix))]
fn reexec(_: &[(&str, &str)]) -> Configured {
    Configured::Failed("re-executing is only done on Unix".into())
}

/// The threading a run got: libtorch's thread counts, the machine's CPUs and the environment
/// that shapes OpenMP and MKL, recorded in manifests and `/info` (thread count and the math
/// library's settings can change results in the last bits).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Threading {
    /// libtorch's intra-op threads (`torch.get_num_threads()`).
    pub intra_op_threads: usize,
    /// CPUs this process may run on.
    pub cpus: usize,
    /// The recorded environment variables that are set.
    pub env: BTreeMap<String, String>,
}

impl Threading {
    /// The current settings; `intra_op_threads` comes from the caller (`tch::get_num_threads`).
    pub fn current(intra_op_threads: usize) -> Self {
        let env = RECORDED
            .iter()
            .filter_map(|k| std::env::var(k).ok().map(|v| (k.to_string(), v)))
            .collect();
        Self {
            intra_op_threads,
            cpus: std::thread::available_parallelism().map_or(1, |n| n.get()),
            env,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_setting_the_user_made_is_kept() {
        let mut env = BTreeMap::new();
        assert_eq!(missing(&env), DEFAULTS.to_vec());
        for (k, _) in DEFAULTS {
            env.insert(k.to_string(), "5".to_string());
        }
        assert!(missing(&env).is_empty());
    }

    #[test]
    fn the_record_names_threads_cpus_and_settings() {
        let t = Threading::current(2);
        assert_eq!(t.intra_op_threads, 2);
        assert!(t.cpus >= 1);
        assert!(t.env.keys().all(|k| RECORDED.contains(&k.as_str())));
    }
}
