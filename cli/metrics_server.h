// The `--metrics-listen` endpoint: an HTTP/1.1 server (Boost.Beast) that
// answers `GET /metrics` (and HEAD) with the page a callback renders, in the
// Prometheus text format; 404 for any other path, 405 for other methods.
// One response per connection (Connection: close); a client that sends
// nothing for 10 s is dropped.
//
// Thread-safety: Listen, Start and Stop belong to one thread. The server runs
// its own io_context on its own thread, where `render` is called: it must be
// safe to call from there (engine::Control::Status is). Nothing it does
// blocks the run.
#ifndef SHADOWCOPY_CLI_METRICS_SERVER_H_
#define SHADOWCOPY_CLI_METRICS_SERVER_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "cli/metrics_text.h"

namespace shadowcopy::cli {

class MetricsServer {
 public:
  using Render = std::function<std::string()>;

  explicit MetricsServer(Render render);
  ~MetricsServer();  // Stop()
  MetricsServer(const MetricsServer&) = delete;
  MetricsServer& operator=(const MetricsServer&) = delete;

  // Binds and listens. FailedPrecondition with one line when the address
  // cannot be used (in use, not local, no permission).
  absl::Status Listen(const ListenAddress& address);
  // The bound port (the system's pick for port 0). REQUIRES: Listen ok.
  uint16_t port() const;
  // Serves on its own thread. REQUIRES: Listen ok.
  void Start();
  // Stops serving, closes every connection and joins the thread. Idempotent.
  void Stop();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace shadowcopy::cli

#endif  // SHADOWCOPY_CLI_METRICS_SERVER_H_
