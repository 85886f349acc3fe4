#include "engine/workflow/schema_copy.h"

#include "engine/workflow/subprocess.h"
#include "fmt/format.h"

namespace shadowcopy::workflow {
namespace {
constexpr const char* kDumpLockWait = "10s";
}  // namespace

absl::Status DumpSchema(const std::string& bindir, const std::string& target_conninfo, const std::string& file,
                        const std::string& log, const std::stop_token& stop) {
  ProcessSpec spec;
  spec.argv = {bindir + "/pg_dump",   "--schema-only",      "--no-owner",       "--no-privileges",
               "--no-tablespaces",    "--no-publications",  "--no-subscriptions", "--no-security-labels",
               "--no-comments",       std::string("--lock-wait-timeout=") + kDumpLockWait,
               "--file",              file,                 "--dbname",         target_conninfo};
  spec.output_path = log;
  auto rc = RunProcess(spec, stop);
  if (!rc.ok()) return rc.status();
  if (*rc != 0)
    return absl::FailedPreconditionError(fmt::format("pg_dump --schema-only of the target failed: {}", ErrorLineOf(log)));
  return absl::OkStatus();
}

absl::Status LoadSchema(const std::string& bindir, const std::string& conninfo, const std::string& file,
                        const std::string& log, const std::stop_token& stop) {
  ProcessSpec spec;
  spec.argv = {bindir + "/psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "--single-transaction", "--dbname", conninfo, "--file", file};
  spec.output_path = log;
  auto rc = RunProcess(spec, stop);
  if (!rc.ok()) return rc.status();
  if (*rc != 0)
    return absl::FailedPreconditionError(
        fmt::format("the target's schema does not load on the rehearsal server: {}", ErrorLineOf(log)));
  return absl::OkStatus();
}

}  // namespace shadowcopy::workflow
