//! Autocast with a chosen dtype (bf16), which tch does not bind.
//!
//! `tch::autocast` switches on the CUDA autocast with libtorch's default dtype, fp16, and binds
//! nothing to change it. libtorch's C++ API has per-device `set_autocast_enabled`,
//! `is_autocast_enabled`, `set_autocast_dtype` and `get_autocast_dtype`; they are reached
//! through the C shim of [`crate::torch_ext`].
//!
//! Autocast state is per thread in libtorch: a guard affects the thread that made it.

use tch::{Device, Kind};

use crate::torch_ext::{
    autocast_exit_nesting, autocast_get_dtype, autocast_increment_nesting, autocast_is_enabled,
    autocast_set_dtype, autocast_set_enabled, device_type,
};

/// `c10::ScalarType` of the dtypes autocast accepts.
fn scalar_type(kind: Kind) -> Option<i8> {
    match kind {
        Kind::Half => Some(5),
        Kind::Float => Some(6),
        Kind::BFloat16 => Some(15),
        _ => None,
    }
}

fn kind_of(scalar: i8) -> Option<Kind> {
    [Kind::Half, Kind::Float, Kind::BFloat16]
        .into_iter()
        .find(|&k| scalar_type(k) == Some(scalar))
}

/// Whether autocast is on for `device`'s type in this thread.
pub fn is_enabled(device: Device) -> bool {
    autocast_is_enabled(device_type(device))
}

/// The dtype autocast casts to on `device`'s type in this thread (`None` if libtorch reports
/// one this binding does not name).
pub fn dtype(device: Device) -> Option<Kind> {
    kind_of(autocast_get_dtype(device_type(device)))
}

/// Autocast to a dtype on one device type until dropped; the previous state (on or off, and
/// dtype) comes back on drop, and libtorch's cast cache is cleared when the outermost
/// autocast region ends, as `torch.autocast` does.
#[must_use = "autocast ends when the guard drops"]
pub struct Autocast {
    device: i8,
    was_enabled: bool,
    was_dtype: i8,
}

impl Autocast {
    /// Starts autocast to `dtype` (`Kind::BFloat16` or `Kind::Half`) for `device`'s type.
    ///
    /// # Panics
    /// On a `dtype` autocast does not support (a programming error, not a data one).
    pub fn enter(device: Device, dtype: Kind) -> Autocast {
        let scalar = match scalar_type(dtype) {
            Some(s) if dtype != Kind::Float => s,
            _ => panic!("autocast casts to BFloat16 or Half, not {dtype:?}"),
        };
        let device = device_type(device);
        let guard = Autocast {
            device,
            was_enabled: autocast_is_enabled(device),
            was_dtype: autocast_get_dtype(device),
        };
        autocast_set_dtype(device, scalar);
        autocast_set_enabled(device, true);
        // The nesting counter decides when the cast cache is cleared.
        autocast_increment_nesting();
        guard
    }
}

impl Drop for Autocast {
    fn drop(&mut self) {
        autocast_exit_nesting();
        autocast_set_enabled(self.device, self.was_enabled);
        autocast_set_dtype(self.device, self.was_dtype);
    }
}
