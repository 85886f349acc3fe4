#include "cli/run_control.h"

#include <pthread.h>
#include <unistd.h>

#include <atomic>
#include <string>
#include <thread>

#include "cli/socket_path.h"
#include "common/log.h"

namespace shadowcopy::cli {

sigset_t BlockStopSignals(sigset_t* old) {
  sigset_t set;
  sigemptyset(&set);
  for (int sig : {SIGINT, SIGTERM, SIGHUP, SIGQUIT}) sigaddset(&set, sig);
  pthread_sigmask(SIG_BLOCK, &set, old);
  return set;
}

const char* StopSignalName(int sig) {
  switch (sig) {
    case SIGINT: return "SIGINT";
    case SIGTERM: return "SIGTERM";
    case SIGHUP: return "SIGHUP";
    case SIGQUIT: return "SIGQUIT";
  }
  return "a signal";
}

absl::StatusOr<std::unique_ptr<ControlServer>> OpenControlSocket(engine::Config* config) {
  if (!config->execute || config->no_socket) return std::unique_ptr<ControlServer>();
  bool default_socket = config->socket_path.empty();
  ControlServerOptions options;
  if (default_socket) {
    auto path = DefaultControlSocketPath(config->dsn, config->schema, config->table);
    if (!path.ok()) return path.status();
    config->socket_path = *path;
    options.key = DefaultSocketKey(config->dsn, config->schema, config->table);
  }
  auto server = std::make_unique<ControlServer>(nullptr, config->socket_path, options);
  auto st = server->Listen();
  if (!st.ok() && default_socket && st.code() == absl::StatusCode::kFailedPrecondition) {
    std::string fallback = FallbackSocketPath(config->socket_path, getpid());
    Log(LogLevel::kWarning, "control socket {} is in use by another process; using {} instead", config->socket_path,
        fallback);
    config->socket_path = fallback;
    server = std::make_unique<ControlServer>(nullptr, fallback, options);
    st = server->Listen();
  }
  if (!st.ok()) return st;
  Log(LogLevel::kInfo, "control socket: {} (shadowcopy ctl --socket {} status)", server->path(), server->path());
  return server;
}

bool RunUnderControl(engine::Control* control, ControlServer* server, const sigset_t& set,
                     const std::function<void()>& run, const std::function<void()>& stop) {
  if (server != nullptr) server->Serve(control);
  std::atomic<bool> finished{false};
  std::atomic<bool> stopped{false};
  std::thread watcher([&stop, &finished, &stopped, set] {
    int sig = 0;
    while (sigwait(&set, &sig) == 0) {
      if (finished) return;  // the wake-up sent below
      Log(LogLevel::kWarning, "received {}, stopping", StopSignalName(sig));
      stopped = true;
      stop();
    }
  });
  run();
  if (server != nullptr) server->Stop();
  finished = true;
  pthread_kill(watcher.native_handle(), SIGTERM);
  watcher.join();
  return stopped;
}

}  // namespace shadowcopy::cli
