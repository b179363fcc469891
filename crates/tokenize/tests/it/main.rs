//! Integration tests of the tokenize crate, one module per concern.

mod families;
mod parity;
mod real_data;
mod stage;
mod table;
mod util;
mod windows;
