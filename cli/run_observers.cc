#include "cli/run_observers.h"

#include <sys/ioctl.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <cstring>

#include "cli/progress_line.h"
#include "common/log.h"

namespace shadowcopy::cli {
namespace {

constexpr auto kRedrawEvery = std::chrono::milliseconds(250);

std::string UrlHost(const std::string& host) {
  return host.find(':') == std::string::npos ? host : "[" + host + "]";
}

}  // namespace

bool ProgressLineWanted(const engine::Config& config) {
  if (!config.execute || config.progress_json || !::isatty(STDERR_FILENO)) return false;
  const char* term = std::getenv("TERM");
  return term == nullptr || std::strcmp(term, "dumb") != 0;
}

int TerminalWidth() {
  struct winsize ws;
  if (::ioctl(STDERR_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0) return ws.ws_col;
  return 80;
}

absl::StatusOr<std::unique_ptr<RunObservers>> RunObservers::Start(const std::string& metrics_listen,
                                                                  MetricsServer::Render render,
                                                                  const engine::Control* control,
                                                                  bool progress_line) {
  std::unique_ptr<RunObservers> o(new RunObservers());
  if (!metrics_listen.empty()) {
    auto address = ParseListenAddress(metrics_listen);
    if (!address.ok()) return address.status();
    o->server_ = std::make_unique<MetricsServer>(std::move(render));
    if (auto st = o->server_->Listen(*address); !st.ok()) return st;
    o->server_->Start();
    Log(LogLevel::kInfo, "metrics: http://{}:{}/metrics", UrlHost(address->host), o->server_->port());
  }
  if (control != nullptr && progress_line) {
    o->control_ = control;
    o->drawer_ = std::thread([p = o.get()] { p->DrawLoop(); });
  }
  return o;
}

MetricsServer::Render RunObservers::RunRender(RunLabels labels, const engine::Control* control) {
  return [labels = std::move(labels), control] {
    return RenderRunMetrics(labels, control->kind(), control->Status());
  };
}

void RunObservers::DrawLoop() {
  std::unique_lock<std::mutex> lock(mu_);
  while (!stopping_) {
    lock.unlock();
    // One column short of the width: a line filling the last column would
    // wrap on some terminals and leave the cursor on the next row.
    SetStickyLine(RenderProgressLine(ProgressLineFrom(control_->Status(), control_->kind()), TerminalWidth() - 1));
    lock.lock();
    cv_.wait_for(lock, kRedrawEvery, [this] { return stopping_; });
  }
}

void RunObservers::Finish(bool ok) {
  if (finished_) return;
  finished_ = true;
  if (drawer_.joinable()) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      stopping_ = true;
    }
    cv_.notify_all();
    drawer_.join();
    EndStickyLine(RenderFinalLine(control_->Status(), control_->kind(), ok, TerminalWidth() - 1));
  }
  if (server_) server_->Stop();
}

RunObservers::~RunObservers() { Finish(false); }

}  // namespace shadowcopy::cli
