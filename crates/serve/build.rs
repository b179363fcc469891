//! Gives this package's binaries and tests an rpath to libtorch.

fn main() {
    torch_link::emit();
}
