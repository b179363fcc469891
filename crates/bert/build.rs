//! Gives this package's test and example binaries an rpath to libtorch.

fn main() {
    torch_link::emit();
}
