//! libtorch functions tch does not bind, through the C shim `csrc/shim.cpp` (compiled by
//! `build.rs` against the headers of the libtorch torch-sys links): autocast's per-device
//! state and dtype (tch sets only CUDA's, with its fp16 default), and the multi-tensor ops an
//! optimizer step needs (`_foreach_norm`, `_foreach_mul_`, `_fused_adamw_`), which replace a
//! few kernel launches per parameter by a few per step. This module is the workspace's one
//! use of `unsafe`: each call passes tch's tensor handles, which stay alive for the call.
#![allow(unsafe_code)]

use tch::{Device, Tensor};
use torch_sys::C_tensor;

use crate::error::{BertError, Result};

unsafe extern "C" {
    fn bertflow_autocast_set_enabled(device: i8, enabled: bool);
    fn bertflow_autocast_is_enabled(device: i8) -> bool;
    fn bertflow_autocast_set_dtype(device: i8, dtype: i8);
    fn bertflow_autocast_get_dtype(device: i8) -> i8;
    fn bertflow_grad_norm(
        grads: *const *mut C_tensor,
        n: usize,
        total: *mut *mut C_tensor,
        err: *mut std::ffi::c_char,
        err_len: usize,
    ) -> i32;
    fn bertflow_scale_(
        ts: *const *mut C_tensor,
        n: usize,
        scale: f64,
        err: *mut std::ffi::c_char,
        err_len: usize,
    ) -> i32;
    fn bertflow_grads_to_none(
        params: *const *mut C_tensor,
        n: usize,
        err: *mut std::ffi::c_char,
        err_len: usize,
    ) -> i32;
    fn bertflow_set_grads(
        params: *const *mut C_tensor,
        grads: *const *mut C_tensor,
        n: usize,
        err: *mut std::ffi::c_char,
        err_len: usize,
    ) -> i32;
    fn bertflow_fused_adamw(
        params: *const *mut C_tensor,
        grads: *const *mut C_tensor,
        exp_avgs: *const *mut C_tensor,
        exp_avg_sqs: *const *mut C_tensor,
        n: usize,
        step: *mut C_tensor,
        lr: f64,
        beta1: f64,
        beta2: f64,
        weight_decay: f64,
        eps: f64,
        err: *mut std::ffi::c_char,
        err_len: usize,
    ) -> i32;
}

/// `c10::DeviceType` of a tch device.
pub(crate) fn device_type(device: Device) -> i8 {
    match device {
        Device::Cpu => 0,
        Device::Cuda(_) => 1,
        Device::Vulkan => 10,
        Device::Mps => 13,
    }
}

pub(crate) fn autocast_set_enabled(device: i8, enabled: bool) {
    // SAFETY: plain values; libtorch keeps the state per thread.
    unsafe { bertflow_autocast_set_enabled(device, enabled) }
}

pub(crate) fn autocast_is_enabled(device: i8) -> bool {
    // SAFETY: as above.
    unsafe { bertflow_autocast_is_enabled(device) }
}

pub(crate) fn autocast_set_dtype(device: i8, dtype: i8) {
    // SAFETY: as above; `dtype` is a `c10::ScalarType` value chosen by `autocast`.
    unsafe { bertflow_autocast_set_dtype(device, dtype) }
}

pub(crate) fn autocast_get_dtype(device: i8) -> i8 {
    // SAFETY: as above.
    unsafe { bertflow_autocast_get_dtype(device) }
}

pub(crate) fn autocast_increment_nesting() {
    // SAFETY: torch-sys's binding, no arguments.
    unsafe { torch_sys::at_autocast_increment_nesting() };
}

pub(crate) fn autocast_exit_nesting() {
    // SAFETY: torch-sys's bindings, no arguments.
    unsafe {
        if torch_sys::at_autocast_decrement_nesting() == 0 {
            torch_sys::at_autocast_clear_cache();
        }
    }
}

/// Runs a shim call with an error buffer; a non-zero status becomes `what: <C++ message>`.
fn checked(what: &str, call: impl FnOnce(*mut std::ffi::c_char, usize) -> i32) -> Result<()> {
    let mut err = vec![0 as std::ffi::c_char; 1024];
    if call(err.as_mut_ptr(), err.len()) == 0 {
        return Ok(());
    }
    // SAFETY: the shim NUL-terminates within the buffer (snprintf).
    let message = unsafe { std::ffi::CStr::from_ptr(err.as_ptr()) };
    Err(BertError::Torch {
        context: what.into(),
        source: tch::TchError::Torch(message.to_string_lossy().into_owned()),
    })
}

fn handles(ts: &[&Tensor]) -> Vec<*mut C_tensor> {
    ts.iter().map(|t| t.as_ptr() as *mut C_tensor).collect()
}

/// The 2-norm of all tensors together, as `torch.nn.utils.clip_grad_norm_` computes it (the
/// norm of the per-tensor norms, one `_foreach_norm`); a 0-d tensor on their device.
pub fn total_norm(ts: &[&Tensor]) -> Result<Tensor> {
    let hs = handles(ts);
    let mut out: *mut C_tensor = std::ptr::null_mut();
    // SAFETY: `hs` holds live handles for the call; the shim writes a new handle to `out`
    // only on success, which `Tensor::from_ptr` then owns.
    checked("gradient norm", |e, n| unsafe {
        bertflow_grad_norm(hs.as_ptr(), hs.len(), &mut out, e, n)
    })?;
    // SAFETY: a fresh `at::Tensor*` from the shim.
    Ok(unsafe { Tensor::from_ptr(out) })
}

/// Multiplies every tensor in place by `scale` (one `_foreach_mul_`).
pub fn scale_(ts: &[&Tensor], scale: f64) -> Result<()> {
    let hs = handles(ts);
    // SAFETY: live handles for the call.
    checked("scaling gradients", |e, n| unsafe {
        bertflow_scale_(hs.as_ptr(), hs.len(), scale, e, n)
    })
}

/// Drops the gradients of `params` (PyTorch's `zero_grad(set_to_none=True)`): nothing to
/// launch or clear; the next backward pass allocates them.
pub fn grads_to_none(params: &[&Tensor]) -> Result<()> {
    let hs = handles(params);
    // SAFETY: live handles for the call.
    checked("dropping gradients", |e, n| unsafe {
        bertflow_grads_to_none(hs.as_ptr(), hs.len(), e, n)
    })
}

/// Sets `params[i].grad = grads[i]` (for a parameter that got no gradient here but did on
/// another rank of a data-parallel step).
pub fn set_grads(params: &[&Tensor], grads: &[&Tensor]) -> Result<()> {
    if params.len() != grads.len() {
        return Err(BertError::Input(format!(
            "set_grads: {} parameters, {} gradients",
            params.len(),
            grads.len()
        )));
    }
    let (p, g) = (handles(params), handles(grads));
    // SAFETY: live handles for the call, two lists of the same length.
    checked("setting gradients", |e, n| unsafe {
        bertflow_set_grads(p.as_ptr(), g.as_ptr(), p.len(), e, n)
    })
}

/// One AdamW step over a parameter group with libtorch's fused kernel
/// (`torch.optim.AdamW(fused=True)`, CPU and CUDA): updates `params`, `exp_avgs` and
/// `exp_avg_sqs` in place. `step` is the 0-d float32 step count *after* this step, on the
/// parameters' device (bias correction reads it); every slice has one entry per parameter.
#[allow(clippy::too_many_arguments)]
pub fn fused_adamw_(
    params: &[&Tensor],
    grads: &[&Tensor],
    exp_avgs: &[&Tensor],
    exp_avg_sqs: &[&Tensor],
    step: &Tensor,
    lr: f64,
    betas: (f64, f64),
    weight_decay: f64,
    eps: f64,
) -> Result<()> {
    let n = params.len();
    if [grads.len(), exp_avgs.len(), exp_avg_sqs.len()] != [n, n, n] {
        return Err(BertError::Input(format!(
            "fused AdamW: {n} parameters but {} gradients, {} and {} moments",
            grads.len(),
            exp_avgs.len(),
            exp_avg_sqs.len()
        )));
    }
    let (p, g, m, v) = (
        handles(params),
        handles(grads),
        handles(exp_avgs),
        handles(exp_avg_sqs),
    );
    // SAFETY: live handles for the call, four lists of length `n`.
    checked("fused AdamW step", |e, len| unsafe {
        bertflow_fused_adamw(
            p.as_ptr(),
            g.as_ptr(),
            m.as_ptr(),
            v.as_ptr(),
            n,
            step.as_ptr() as *mut C_tensor,
            lr,
            betas.0,
            betas.1,
            weight_decay,
            eps,
            e,
            len,
        )
    })
}

unsafe extern "C" {
    #[allow(clippy::too_many_arguments)]
    fn bertflow_pg_new(
        host: *const std::ffi::c_char,
        port: u16,
        rank: i32,
        world: i32,
        timeout_ms: i64,
        ifname: *const std::ffi::c_char,
        bind_host: *const std::ffi::c_char,
        threads: i32,
        out: *mut *mut std::ffi::c_void,
        err: *mut std::ffi::c_char,
        err_len: usize,
    ) -> i32;
    fn bertflow_pg_free(handle: *mut std::ffi::c_void);
    fn bertflow_pg_allreduce(
        handle: *mut std::ffi::c_void,
        ts: *const *mut C_tensor,
        n: usize,
        op: i32,
        err: *mut std::ffi::c_char,
        err_len: usize,
    ) -> i32;
    fn bertflow_pg_broadcast(
        handle: *mut std::ffi::c_void,
        ts: *const *mut C_tensor,
        n: usize,
        root: i32,
        err: *mut std::ffi::c_char,
        err_len: usize,
    ) -> i32;
}

/// A reduction of [`ProcessGroup::all_reduce`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReduceOp {
    /// Element-wise sum.
    Sum = 0,
    /// Element-wise maximum.
    Max = 1,
    /// Element-wise minimum.
    Min = 2,
}

/// Where and how a process joins a [`ProcessGroup`].
#[derive(Debug, Clone)]
pub struct GroupOptions {
    /// Address of rank 0, which serves the rendezvous (`MASTER_ADDR`).
    pub master_addr: String,
    /// Its port (`MASTER_PORT`).
    pub master_port: u16,
    /// This process's rank.
    pub rank: usize,
    /// Number of processes.
    pub world_size: usize,
    /// How long the rendezvous and every collective may take before failing.
    pub timeout: std::time::Duration,
    /// Network interface Gloo binds to (`GLOO_SOCKET_IFNAME`), if named.
    pub interface: Option<String>,
    /// Address Gloo binds to when no interface is named (`None`: the host name's address).
    pub bind_host: Option<String>,
    /// Gloo's worker threads.
    pub threads: usize,
}

/// A `torch.distributed` process group: libtorch's c10d `TCPStore` rendezvous and
/// `ProcessGroupGloo` (CPU tensors, and CUDA tensors through host copies), the same objects
/// `torch.distributed.init_process_group("gloo")` creates.
#[derive(Debug)]
pub struct ProcessGroup {
    handle: *mut std::ffi::c_void,
    rank: usize,
    world_size: usize,
}

// SAFETY: the handle owns c10d objects that are safe to use from any thread; the methods take
// `&self` and c10d orders collectives by call order, which the callers keep identical on every
// rank.
unsafe impl Send for ProcessGroup {}
// SAFETY: as above.
unsafe impl Sync for ProcessGroup {}

fn c_string(what: &str, text: &str) -> Result<std::ffi::CString> {
    std::ffi::CString::new(text)
        .map_err(|_| BertError::Input(format!("{what} `{text}` holds a NUL byte")))
}

impl ProcessGroup {
    /// Joins the group (rank 0 serves the rendezvous; everyone waits for all members).
    pub fn new(opts: &GroupOptions) -> Result<Self> {
        let host = c_string("master address", &opts.master_addr)?;
        let ifname = c_string("interface", opts.interface.as_deref().unwrap_or(""))?;
        let bind = c_string("bind address", opts.bind_host.as_deref().unwrap_or(""))?;
        let mut handle: *mut std::ffi::c_void = std::ptr::null_mut();
        let what = format!(
            "joining the process group as rank {} of {} at {}:{}",
            opts.rank, opts.world_size, opts.master_addr, opts.master_port
        );
        // SAFETY: NUL-terminated strings alive for the call; the shim writes the handle only
        // on success.
        checked(&what, |e, n| unsafe {
            bertflow_pg_new(
                host.as_ptr(),
                opts.master_port,
                opts.rank as i32,
                opts.world_size as i32,
                i64::try_from(opts.timeout.as_millis()).unwrap_or(i64::MAX),
                ifname.as_ptr(),
                bind.as_ptr(),
                opts.threads as i32,
                &mut handle,
                e,
                n,
            )
        })?;
        Ok(Self {
            handle,
            rank: opts.rank,
            world_size: opts.world_size,
        })
    }

    /// This process's rank.
    pub fn rank(&self) -> usize {
        self.rank
    }

    /// Number of processes.
    pub fn world_size(&self) -> usize {
        self.world_size
    }

    /// Reduces every tensor in place across the group (all started, then all awaited).
    pub fn all_reduce(&self, ts: &[&Tensor], op: ReduceOp) -> Result<()> {
        let hs = handles(ts);
        // SAFETY: a live group handle and live tensor handles for the call.
        checked("all-reduce", |e, n| unsafe {
            bertflow_pg_allreduce(self.handle, hs.as_ptr(), hs.len(), op as i32, e, n)
        })
    }

    /// Overwrites every tensor with rank `root`'s.
    pub fn broadcast(&self, ts: &[&Tensor], root: usize) -> Result<()> {
        let hs = handles(ts);
        // SAFETY: as above.
        checked("broadcast", |e, n| unsafe {
            bertflow_pg_broadcast(self.handle, hs.as_ptr(), hs.len(), root as i32, e, n)
        })
    }
}

impl Drop for ProcessGroup {
    fn drop(&mut self) {
        // SAFETY: the handle came from `bertflow_pg_new` and is freed once.
        unsafe { bertflow_pg_free(self.handle) }
    }
}
