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
