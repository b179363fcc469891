//! Build-script helper for every package whose binaries or tests link `tch`.
//!
//! Call [`emit`] from the package's `build.rs`; the package must depend on `torch-sys` directly
//! (a normal dependency) so Cargo hands its build script `DEP_TCH_LIBTORCH_LIB`.
//!
//! Two things are emitted, because link arguments do not propagate from a library to the
//! binaries that use it:
//! - an rpath to libtorch's directory, so binaries run without `LD_LIBRARY_PATH`;
//! - `--no-as-needed -ltorch_cuda` when the CUDA library exists: nothing references it
//!   directly, so the default `--as-needed` drops it and CUDA then looks unavailable.

pub mod threading;

use std::path::Path;

/// Print the `cargo:` lines for the calling build script.
pub fn emit() {
    println!("cargo:rerun-if-env-changed=DEP_TCH_LIBTORCH_LIB");
    let Ok(lib) = std::env::var("DEP_TCH_LIBTORCH_LIB") else {
        println!(
            "cargo:warning=DEP_TCH_LIBTORCH_LIB is not set: add `torch-sys` as a dependency of this package"
        );
        return;
    };
    let lib = Path::new(&lib);
    println!("cargo:rustc-link-arg=-Wl,-rpath,{}", lib.display());
    if lib.join("libtorch_cuda.so").exists() {
        println!("cargo:rustc-link-arg=-Wl,--no-as-needed,-ltorch_cuda,-ltorch,--as-needed");
    }
}

/// The libtorch version tch 0.24 is built for.
pub const REQUIRED_LIBTORCH: &str = "2.11.0";

/// The libtorch this process has loaded: its directory and version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoadedLibtorch {
    /// Directory holding `libtorch_cpu.so`.
    pub lib_dir: std::path::PathBuf,
    /// Version from the wheel's `version.py` (e.g. `2.11.0+cu130`), if found.
    pub version: Option<String>,
}

/// Find the libtorch mapped into this process (Linux: `/proc/self/maps`) and read its version
/// from the torch wheel's `version.py` next to `lib/`. `None` when no libtorch is loaded.
pub fn loaded_libtorch() -> Option<LoadedLibtorch> {
    let maps = std::fs::read_to_string("/proc/self/maps").ok()?;
    let lib = maps
        .lines()
        .filter_map(|l| l.split_whitespace().nth(5))
        .find(|p| p.ends_with("/libtorch_cpu.so"))?;
    let lib_dir = Path::new(lib).parent()?.to_path_buf();
    let version = std::fs::read_to_string(lib_dir.join("../version.py"))
        .ok()
        .and_then(|text| {
            text.lines()
                .find_map(|l| l.strip_prefix("__version__"))
                .map(|rest| {
                    rest.trim_start_matches([' ', '='])
                        .trim()
                        .trim_matches(['\'', '"'])
                        .to_string()
                })
        })
        .or_else(|| {
            std::fs::read_to_string(lib_dir.join("../build-version"))
                .ok()
                .map(|s| s.trim().to_string())
        });
    Some(LoadedLibtorch { lib_dir, version })
}

/// Check that the loaded libtorch is [`REQUIRED_LIBTORCH`]; the error says how to fix it.
/// Call at start-up of every binary that runs the model.
pub fn check_libtorch() -> Result<LoadedLibtorch, String> {
    let fix = "run `make setup` (scripts/setup.sh installs torch==2.11.0 into .venv) and rebuild";
    let Some(found) = loaded_libtorch() else {
        return Err(format!("no libtorch is loaded in this process; {fix}"));
    };
    match found.version.as_deref() {
        Some(v) if v.split('+').next() == Some(REQUIRED_LIBTORCH) => Ok(found),
        Some(v) => Err(format!(
            "libtorch {v} found in {}, but tch 0.24 needs exactly {REQUIRED_LIBTORCH}; {fix}",
            found.lib_dir.display()
        )),
        None => Err(format!(
            "cannot tell the version of the libtorch in {}; tch 0.24 needs exactly {REQUIRED_LIBTORCH}; {fix}",
            found.lib_dir.display()
        )),
    }
}
