//! Gives this package's test and example binaries an rpath to libtorch, and compiles
//! `csrc/shim.cpp` (libtorch functions tch does not bind; see `src/torch_ext.rs`) against the
//! headers of the libtorch torch-sys links.

use std::path::PathBuf;

fn main() {
    torch_link::emit();
    println!("cargo:rerun-if-changed=csrc/shim.cpp");
    println!("cargo:rerun-if-changed=csrc/dist.cpp");
    println!("cargo:rerun-if-env-changed=LIBTORCH_CXX11_ABI");
    let lib = PathBuf::from(
        std::env::var("DEP_TCH_LIBTORCH_LIB")
            .expect("DEP_TCH_LIBTORCH_LIB: bert must depend on torch-sys directly"),
    );
    let include = lib
        .parent()
        .map(|root| root.join("include"))
        .filter(|dir| dir.join("ATen").is_dir())
        .unwrap_or_else(|| {
            panic!(
                "libtorch headers not found next to {} (expected ../include/ATen)",
                lib.display()
            )
        });
    // PyTorch wheels since 2.7 (the pinned 2.11.0 included) use the C++11 ABI.
    let abi = std::env::var("LIBTORCH_CXX11_ABI").unwrap_or_else(|_| "1".into());
    cc::Build::new()
        .cpp(true)
        .file("csrc/shim.cpp")
        .file("csrc/dist.cpp")
        .include(&include)
        .include(include.join("torch/csrc/api/include"))
        .flag("-std=c++17")
        .flag(format!("-D_GLIBCXX_USE_CXX11_ABI={abi}"))
        .flag("-DGLOG_USE_GLOG_EXPORT")
        .flag_if_supported("-Wno-unused-parameter")
        .warnings(false)
        .opt_level(2)
        .compile("bertflow_torch_shim");
}
