//! `tracing` set-up shared by every binary: logs to stderr, stdout stays for results.

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;

/// Install the global subscriber. `verbose` counts `-v` flags, `quiet` is `-q`;
/// `RUST_LOG` overrides both. Colours only when stderr is a terminal, so logs redirected to a
/// file or captured by CI stay plain text.
pub fn init(verbose: u8, quiet: bool) {
    let level = match (quiet, verbose) {
        (true, _) => "warn",
        (false, 0) => "info",
        (false, 1) => "debug",
        (false, _) => "trace",
    };
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(level));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_target(false)
        .try_init();
}

/// Print an error with its whole cause chain, the way every binary reports failure.
pub fn report(err: &anyhow::Error) {
    eprintln!("error: {err:#}");
}
