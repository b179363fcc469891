// libtorch functions tch does not bind, behind a C ABI for `bert::torch_ext`.
//
// Tensors arrive as tch's handles (`at::Tensor*`). Every function catches C++ exceptions and
// returns them as a message in `err` (a NUL-terminated string of at most `err_len` bytes),
// returning 1; 0 means success.

#include <ATen/autocast_mode.h>
#include <ATen/core/Tensor.h>
#include <ATen/ops/_foreach_mul.h>
#include <ATen/ops/_foreach_norm.h>
#include <ATen/ops/_fused_adamw.h>
#include <ATen/ops/linalg_vector_norm.h>
#include <ATen/ops/stack.h>

#include <cstdio>
#include <exception>
#include <vector>

namespace {

std::vector<at::Tensor> list(at::Tensor **ts, size_t n) {
  std::vector<at::Tensor> out;
  out.reserve(n);
  for (size_t i = 0; i < n; ++i) out.push_back(*ts[i]);
  return out;
}

int fail(const std::exception &e, char *err, size_t err_len) {
  if (err_len > 0) std::snprintf(err, err_len, "%s", e.what());
  return 1;
}

}  // namespace

extern "C" {

void bertflow_autocast_set_enabled(int8_t device, bool enabled) {
  at::autocast::set_autocast_enabled(static_cast<c10::DeviceType>(device), enabled);
}

bool bertflow_autocast_is_enabled(int8_t device) {
  return at::autocast::is_autocast_enabled(static_cast<c10::DeviceType>(device));
}

void bertflow_autocast_set_dtype(int8_t device, int8_t dtype) {
  at::autocast::set_autocast_dtype(static_cast<c10::DeviceType>(device),
                                   static_cast<c10::ScalarType>(dtype));
}

int8_t bertflow_autocast_get_dtype(int8_t device) {
  return static_cast<int8_t>(at::autocast::get_autocast_dtype(static_cast<c10::DeviceType>(device)));
}

// `torch.nn.utils.clip_grad_norm_`'s total: the 2-norm of the per-tensor 2-norms (one
// `_foreach_norm`), written to `*total` as a new 0-d tensor handle.
int bertflow_grad_norm(at::Tensor **grads, size_t n, at::Tensor **total, char *err,
                       size_t err_len) {
  try {
    auto norms = at::_foreach_norm(list(grads, n), 2);
    *total = new at::Tensor(at::linalg_vector_norm(at::stack(norms), 2));
    return 0;
  } catch (const std::exception &e) {
    return fail(e, err, err_len);
  }
}

// Multiplies every tensor in place by `scale` (one `_foreach_mul_`).
int bertflow_scale_(at::Tensor **ts, size_t n, double scale, char *err, size_t err_len) {
  try {
    at::_foreach_mul_(list(ts, n), scale);
    return 0;
  } catch (const std::exception &e) {
    return fail(e, err, err_len);
  }
}

// Drops the gradients of `params` (`zero_grad(set_to_none=True)`): no kernel, no memset;
// the next backward pass allocates them afresh.
int bertflow_grads_to_none(at::Tensor **params, size_t n, char *err, size_t err_len) {
  try {
    for (size_t i = 0; i < n; ++i) params[i]->mutable_grad().reset();
    return 0;
  } catch (const std::exception &e) {
    return fail(e, err, err_len);
  }
}

// Sets each parameter's gradient to the given tensor (`param.grad = grad`).
int bertflow_set_grads(at::Tensor **params, at::Tensor **grads, size_t n, char *err,
                       size_t err_len) {
  try {
    for (size_t i = 0; i < n; ++i) params[i]->mutable_grad() = *grads[i];
    return 0;
  } catch (const std::exception &e) {
    return fail(e, err, err_len);
  }
}

// One AdamW step over a parameter group (`torch.optim.AdamW(fused=True)`): `step` is the 0-d
// float step count after this step (the caller increments it), shared by the group.
int bertflow_fused_adamw(at::Tensor **params, at::Tensor **grads, at::Tensor **exp_avgs,
                         at::Tensor **exp_avg_sqs, size_t n, at::Tensor *step, double lr,
                         double beta1, double beta2, double weight_decay, double eps,
                         char *err, size_t err_len) {
  try {
    std::vector<at::Tensor> steps(n, *step);
    at::_fused_adamw_(list(params, n), list(grads, n), list(exp_avgs, n), list(exp_avg_sqs, n),
                      {}, steps, lr, beta1, beta2, weight_decay, eps, /*amsgrad=*/false,
                      /*maximize=*/false);
    return 0;
  } catch (const std::exception &e) {
    return fail(e, err, err_len);
  }
}

}  // extern "C"
