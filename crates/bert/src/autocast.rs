//! Autocast with a chosen dtype (bf16), which tch does not bind.
//!
//! `tch::autocast` switches on the CUDA autocast with libtorch's default dtype, fp16, and binds
//! nothing to change it. libtorch's C++ API has `at::autocast::set_autocast_dtype(DeviceType,
//! ScalarType)` and per-device `set_autocast_enabled`/`is_autocast_enabled`/
//! `get_autocast_dtype`, exported from `libtorch_cpu.so`. They are declared here under their
//! Itanium-mangled names: both enums are `int8_t`-sized (`c10::DeviceType`, `c10::ScalarType`)
//! and pass as `i8`. The names are fixed for the libtorch this workspace pins (2.11.0, checked
//! at start-up by `torch-link`), and the tests read every value back, so a changed signature
//! fails there rather than in a training run. This is the workspace's one use of `unsafe`.
//!
//! Autocast state is per thread in libtorch: a guard affects the thread that made it.
#![allow(unsafe_code)]

use tch::{Device, Kind};

unsafe extern "C" {
    #[link_name = "_ZN2at8autocast20set_autocast_enabledEN3c1010DeviceTypeEb"]
    fn at_set_autocast_enabled(device: i8, enabled: bool);
    #[link_name = "_ZN2at8autocast19is_autocast_enabledEN3c1010DeviceTypeE"]
    fn at_is_autocast_enabled(device: i8) -> bool;
    #[link_name = "_ZN2at8autocast18set_autocast_dtypeEN3c1010DeviceTypeENS1_10ScalarTypeE"]
    fn at_set_autocast_dtype(device: i8, dtype: i8);
    #[link_name = "_ZN2at8autocast18get_autocast_dtypeEN3c1010DeviceTypeE"]
    fn at_get_autocast_dtype(device: i8) -> i8;
}

/// `c10::DeviceType` of a tch device (`CPU = 0`, `CUDA = 1`, `MPS = 13`, `Vulkan = 10`).
fn device_type(device: Device) -> i8 {
    match device {
        Device::Cpu => 0,
        Device::Cuda(_) => 1,
        Device::Vulkan => 10,
        Device::Mps => 13,
    }
}

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
    // SAFETY: a plain libtorch function of a device-type enum value; no pointers.
    unsafe { at_is_autocast_enabled(device_type(device)) }
}

/// The dtype autocast casts to on `device`'s type in this thread (`None` if libtorch reports
/// one this binding does not name).
pub fn dtype(device: Device) -> Option<Kind> {
    // SAFETY: as in `is_enabled`.
    kind_of(unsafe { at_get_autocast_dtype(device_type(device)) })
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
        // SAFETY: as in `is_enabled`; the setters take enum values libtorch defines.
        let guard = unsafe {
            let guard = Autocast {
                device,
                was_enabled: at_is_autocast_enabled(device),
                was_dtype: at_get_autocast_dtype(device),
            };
            at_set_autocast_dtype(device, scalar);
            at_set_autocast_enabled(device, true);
            guard
        };
        // SAFETY: torch-sys's binding of the nesting counter (it decides when the cast cache
        // is cleared); no arguments.
        unsafe { torch_sys::at_autocast_increment_nesting() };
        guard
    }
}

impl Drop for Autocast {
    fn drop(&mut self) {
        // SAFETY: torch-sys bindings without arguments; then the values read in `enter`.
        unsafe {
            if torch_sys::at_autocast_decrement_nesting() == 0 {
                torch_sys::at_autocast_clear_cache();
            }
            at_set_autocast_enabled(self.device, self.was_enabled);
            at_set_autocast_dtype(self.device, self.was_dtype);
        }
    }
}
