// torch.distributed (c10d) for `bert::torch_ext::ProcessGroup`: a TCPStore rendezvous and a
// Gloo process group, both from the libtorch we link (`libtorch_cpu`), behind a C ABI.
//
// The wheel ships c10d's headers but not Gloo's, and `ProcessGroupGloo.hpp` includes Gloo's.
// So `ProcessGroupGloo` is declared here with exactly the members this file touches (the
// exported constructor, destructor, device factories and `Options`, whose fields are copied
// from that header: `Backend::Options`, then `devices`, then `threads`). The object itself is
// only ever constructed by the library's constructor and used through `c10d::Backend`'s
// virtual interface (declared by the shipped `Backend.hpp`); the declared size is padded far
// beyond the real one so the allocation always holds it.
//
// Every function catches C++ exceptions and returns their message in `err`, returning 1.

#include <torch/csrc/distributed/c10d/Backend.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>
#include <torch/csrc/distributed/c10d/Types.hpp>
#include <torch/csrc/distributed/c10d/Work.hpp>

#include <chrono>
#include <cstdio>
#include <exception>
#include <memory>
#include <string>
#include <vector>

namespace gloo::transport {
class Device;
}  // namespace gloo::transport

namespace c10d {

class ProcessGroupGloo : public Backend {
 public:
  struct Options : public Backend::Options {
    static c10::intrusive_ptr<Options> create_default(std::chrono::milliseconds timeout);
    std::vector<std::shared_ptr<::gloo::transport::Device>> devices;
    int threads{2};
  };

  static std::shared_ptr<::gloo::transport::Device> createDeviceForInterface(
      const std::string& interface, bool lazyInit);
  static std::shared_ptr<::gloo::transport::Device> createDeviceForHostname(
      const std::string& hostname, bool lazyInit);

  ProcessGroupGloo(const c10::intrusive_ptr<Store>& store, int rank, int size,
                   c10::intrusive_ptr<Options> options);
  ~ProcessGroupGloo() override;

 private:
  // The real members live here (the library's constructor lays them out).
  alignas(64) unsigned char storage_[1 << 14];
};

}  // namespace c10d

namespace {

struct Group {
  c10::intrusive_ptr<c10d::Store> store;
  c10::intrusive_ptr<c10d::Backend> backend;
  std::chrono::milliseconds timeout;
};

int fail(const std::exception& e, char* err, size_t err_len) {
  if (err_len > 0) std::snprintf(err, err_len, "%s", e.what());
  return 1;
}

std::vector<at::Tensor> list(at::Tensor** ts, size_t n) {
  std::vector<at::Tensor> out;
  out.reserve(n);
  for (size_t i = 0; i < n; ++i) out.push_back(*ts[i]);
  return out;
}

c10d::ReduceOp reduce_op(int op) {
  switch (op) {
    case 1:
      return c10d::ReduceOp(c10d::ReduceOp::MAX);
    case 2:
      return c10d::ReduceOp(c10d::ReduceOp::MIN);
    default:
      return c10d::ReduceOp(c10d::ReduceOp::SUM);
  }
}

// Waits for every started collective; the first failure is rethrown after all are done.
void wait_all(std::vector<c10::intrusive_ptr<c10d::Work>>& works,
              std::chrono::milliseconds timeout) {
  std::exception_ptr first;
  for (auto& work : works) {
    try {
      work->wait(timeout);
    } catch (...) {
      if (!first) first = std::current_exception();
    }
  }
  if (first) std::rethrow_exception(first);
}

}  // namespace

extern "C" {

// Joins the group: rank 0 serves the TCPStore at `host:port`, the others connect to it; all
// wait for `world` members within `timeout_ms`. `ifname` (may be null or empty) names the
// network interface Gloo binds to; `bind_host` the address, when no interface is named.
int bertflow_pg_new(const char* host, uint16_t port, int rank, int world, int64_t timeout_ms,
                    const char* ifname, const char* bind_host, int threads, void** out,
                    char* err, size_t err_len) {
  try {
    auto timeout = std::chrono::milliseconds(timeout_ms);
    c10d::TCPStoreOptions store_opts;
    store_opts.port = port;
    store_opts.isServer = rank == 0;
    store_opts.numWorkers = static_cast<size_t>(world);
    store_opts.waitWorkers = true;
    store_opts.timeout = timeout;
    auto store = c10::make_intrusive<c10d::TCPStore>(std::string(host), store_opts);
    auto options = c10d::ProcessGroupGloo::Options::create_default(timeout);
    if (ifname != nullptr && ifname[0] != '\0') {
      options->devices = {c10d::ProcessGroupGloo::createDeviceForInterface(ifname, false)};
    } else if (bind_host != nullptr && bind_host[0] != '\0') {
      options->devices = {c10d::ProcessGroupGloo::createDeviceForHostname(bind_host, false)};
    }
    options->threads = threads > 0 ? threads : 2;
    auto pg = c10::make_intrusive<c10d::ProcessGroupGloo>(
        c10::static_intrusive_pointer_cast<c10d::Store>(store), rank, world, options);
    auto* group = new Group{c10::static_intrusive_pointer_cast<c10d::Store>(store),
                            c10::static_intrusive_pointer_cast<c10d::Backend>(pg), timeout};
    *out = group;
    return 0;
  } catch (const std::exception& e) {
    return fail(e, err, err_len);
  }
}

void bertflow_pg_free(void* handle) { delete static_cast<Group*>(handle); }

// All-reduces each tensor in place (0 sum, 1 max, 2 min): every collective is started, then
// all are waited for, so Gloo's threads work on several buckets at once.
int bertflow_pg_allreduce(void* handle, at::Tensor** ts, size_t n, int op, char* err,
                          size_t err_len) {
  try {
    auto* group = static_cast<Group*>(handle);
    c10d::AllreduceOptions opts;
    opts.reduceOp = reduce_op(op);
    std::vector<c10::intrusive_ptr<c10d::Work>> works;
    std::vector<std::vector<at::Tensor>> args;
    args.reserve(n);
    for (auto& t : list(ts, n)) {
      args.push_back({t});
      works.push_back(group->backend->allreduce(args.back(), opts));
    }
    wait_all(works, group->timeout);
    return 0;
  } catch (const std::exception& e) {
    return fail(e, err, err_len);
  }
}

// Broadcasts each tensor in place from `root`.
int bertflow_pg_broadcast(void* handle, at::Tensor** ts, size_t n, int root, char* err,
                          size_t err_len) {
  try {
    auto* group = static_cast<Group*>(handle);
    c10d::BroadcastOptions opts;
    opts.rootRank = root;
    std::vector<c10::intrusive_ptr<c10d::Work>> works;
    std::vector<std::vector<at::Tensor>> args;
    args.reserve(n);
    for (auto& t : list(ts, n)) {
      args.push_back({t});
      works.push_back(group->backend->broadcast(args.back(), opts));
    }
    wait_all(works, group->timeout);
    return 0;
  } catch (const std::exception& e) {
    return fail(e, err, err_len);
  }
}

}  // extern "C"
