// Health checks during the revert window: --health-check (a query that must
// return true, on its own connection) and --health-check-cmd (exit 0 =
// healthy), every --health-interval; --health-max-failures failures in a row
// revert the run by itself. A query that cannot reach the server (it is
// restarting, the network is out) tells nothing of the application's
// health and could not be reverted against anyway: it is logged, not
// counted, and the count of failures in a row stands.
//
// Thread-safety: the rewrite thread.
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>

#include <thread>

#include "common/log.h"
#include "engine/rewrite/rewrite.h"
#include "fmt/format.h"

extern char** environ;

namespace shadowcopy::engine {
namespace {

using Clock = std::chrono::steady_clock;

// Runs `cmd` with /bin/sh -c; "" when it exits 0 within `timeout`, else why not.
std::string RunHealthCommand(const std::string& cmd, std::chrono::milliseconds timeout) {
  pid_t pid = 0;
  const char* argv[] = {"/bin/sh", "-c", cmd.c_str(), nullptr};
  if (posix_spawn(&pid, "/bin/sh", nullptr, nullptr, const_cast<char**>(argv), environ) != 0)
    return "could not start the command";
  auto deadline = Clock::now() + timeout;
  int status = 0;
  for (;;) {
    pid_t r = waitpid(pid, &status, WNOHANG);
    if (r == pid) break;
    if (r < 0) return "could not wait for the command";
    if (Clock::now() >= deadline) {
      kill(pid, SIGKILL);
      waitpid(pid, &status, 0);
      return fmt::format("the command ran over {} ms", timeout.count());
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  if (WIFEXITED(status) && WEXITSTATUS(status) == 0) return "";
  if (WIFEXITED(status)) return fmt::format("the command exited with {}", WEXITSTATUS(status));
  return fmt::format("the command was ended by signal {}", WTERMSIG(status));
}

}  // namespace

bool Rewrite::RevertWanted() {
  if (config_.health_check_sql.empty() && config_.health_check_cmd.empty()) return false;
  auto now = Clock::now();
  if (now < next_health_check_) return false;
  next_health_check_ = now + config_.health_interval;
  std::string failure, unknown;
  if (!config_.health_check_sql.empty()) {
    if (!health_ || !health_->Healthy()) {
      ConnectOptions co;
      co.dsn = config_.dsn;
      co.application_name = "shadowcopy_health";
      auto conn = PgConn::Connect(co);
      if (conn.ok()) health_ = std::move(*conn);
      else unknown = fmt::format("cannot connect: {}", conn.status().message());
    }
    if (health_ && unknown.empty()) {
      auto set = health_->Exec(fmt::format("SET statement_timeout = '{}ms'", config_.health_interval.count()));
      auto r = set.ok() ? health_->Exec(config_.health_check_sql) : set;
      if (!r.ok() && !health_->Healthy()) unknown = fmt::format("the connection was lost: {}", r.status().message());
      else if (!r.ok()) failure = fmt::format("--health-check failed: {}", r.status().message());
      else if (r->Rows() != 1 || r->Get(0, 0) != "t")
        failure = fmt::format("--health-check returned {}", r->Rows() == 0 ? "no row" : "'" + r->GetString(0, 0) + "'");
    }
  }
  if (failure.empty() && !config_.health_check_cmd.empty()) {
    std::string why = RunHealthCommand(config_.health_check_cmd, config_.health_interval);
    if (!why.empty()) failure = fmt::format("--health-check-cmd: {}", why);
  }
  if (failure.empty() && !unknown.empty()) {
    Log(LogLevel::kWarning, "health check could not run ({}); not counted as a failure", unknown);
    return false;
  }
  if (failure.empty()) {
    health_failures_ = 0;
    return false;
  }
  ++health_failures_;
  Log(LogLevel::kWarning, "health check failed ({} of {} in a row): {}", health_failures_,
      config_.health_max_failures, failure);
  Hook("health-check-failed", {{"SHADOWCOPY_HEALTH_FAILURE", failure},
                                {"SHADOWCOPY_HEALTH_FAILURES", std::to_string(health_failures_)}});
  if (health_failures_ < config_.health_max_failures) return false;
  summary_.revert_reason = fmt::format("{} ({} in a row)", failure, health_failures_);
  Log(LogLevel::kError, "reverting: {}", summary_.revert_reason);
  return true;
}

}  // namespace shadowcopy::engine
