#include "cli/plan_command.h"

#include <cstdio>

#include "CLI/CLI.hpp"
#include "common/json.h"
#include "engine/workflow/plan.h"
#include "engine/workflow/plan_report.h"
#include "fmt/format.h"

namespace shadowcopy::cli {
namespace {

constexpr const char* kDescription = R"(shadowcopy plan: what each migration statement locks, rewrites and costs in production, and its safe path

usage:
  shadowcopy plan [--dsn DSN] [--format text|json] [--fail-on info|warning|error]
                  [--rehearsal local|dsn|none] [--rehearsal-dsn DSN] [--rehearsal-keep-data] FILE...|-
)";

constexpr const char* kFooter = R"(
The statements are split by PostgreSQL's lexical rules (psql meta-commands are refused),
rehearsed on a schema-only copy of the target (never on the target itself: there only
catalogs and sizes are read), and judged with the target's real sizes. Each statement gets
findings (rule, severity, why), the lock time as written and on its safe path, and the safe
path's commands. --rehearsal none uses static rules only, and the report says so.

Exit status: 0 nothing at or above --fail-on (default error), 1 findings at or above it,
2 usage or a statement that does not parse or fails on the rehearsal, 3 cannot connect.
)";

int Usage(const std::string& message) {
  std::fprintf(stderr, "shadowcopy: error: %s\n", message.c_str());
  return 2;
}

std::string OneLine(std::string_view text) {
  std::string out(text);
  for (char& c : out)
    if (c == '\n') c = ' ';
  return out;
}

}  // namespace

int PlanMain(const std::vector<std::string>& args) {
  CLI::App app{kDescription, "shadowcopy plan"};
  app.footer(kFooter);
  app.set_help_flag("-h,--help", "print this help and exit");
  app.get_formatter()->column_width(32);
  std::string dsn, format = "text", fail_on = "error", rehearsal = "local", rehearsal_dsn;
  bool keep_data = false;
  std::vector<std::string> files;
  app.add_option("--dsn", dsn, "the target (production): libpq conninfo or URI; default: PG* variables")
      ->type_name("DSN");
  app.add_option("--format", format, "text (default) or json")->type_name("text|json");
  app.add_option("--fail-on", fail_on, "exit 1 on findings at or above (default error)")
      ->type_name("info|warning|error");
  auto* mode = app.add_option("--rehearsal", rehearsal, "where the statements are rehearsed (default local)")
                   ->type_name("local|dsn|none");
  app.add_option("--rehearsal-dsn", rehearsal_dsn, "a staging server: rehearse in a scratch database there")
      ->type_name("DSN");
  app.add_flag("--rehearsal-keep-data", keep_data,
               "with --rehearsal-dsn: run on the staging database itself, each statement rolled back");
  app.add_option("files", files, "migration files, or - for stdin")->type_name("FILE...");
  for (CLI::Option* o : app.get_options()) o->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);
  app.get_option("files")->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
  std::vector<std::string> reversed(args.rbegin(), args.rend());
  try {
    app.parse(reversed);
  } catch (const CLI::CallForHelp&) {
    std::fputs(app.help().c_str(), stdout);
    return 0;
  } catch (const CLI::ParseError& e) {
    return Usage(fmt::format("{} (see plan --help)", e.what()));
  }
  workflow::PlanRequest request;
  request.dsn = dsn;
  request.files = files;
  if (format != "text" && format != "json") return Usage("--format is text or json");
  auto severity = workflow::ParseSeverity(fail_on);
  if (!severity) return Usage("--fail-on is info, warning or error");
  if (!rehearsal_dsn.empty() && mode->count() == 0) rehearsal = "dsn";
  if (rehearsal == "local") request.rehearsal.mode = workflow::RehearsalMode::kLocal;
  else if (rehearsal == "dsn") request.rehearsal.mode = workflow::RehearsalMode::kDsn;
  else if (rehearsal == "none") request.rehearsal.mode = workflow::RehearsalMode::kNone;
  else return Usage("--rehearsal is local, dsn or none");
  if (rehearsal == "dsn" && rehearsal_dsn.empty()) return Usage("--rehearsal dsn needs --rehearsal-dsn DSN");
  if (rehearsal != "dsn" && !rehearsal_dsn.empty())
    return Usage(fmt::format("--rehearsal-dsn goes with --rehearsal dsn, not {}", rehearsal));
  if (keep_data && rehearsal != "dsn") return Usage("--rehearsal-keep-data goes with --rehearsal-dsn");
  request.rehearsal.rehearsal_dsn = rehearsal_dsn;
  request.rehearsal.keep_data = keep_data;
  if (files.empty()) return Usage("give one or more migration files, or - for stdin (see plan --help)");

  auto outcome = workflow::RunPlan(request);
  if (!outcome.ok()) {
    std::fprintf(stderr, "shadowcopy: error: %s\n", OneLine(std::string(outcome.status().message())).c_str());
    return outcome.status().code() == absl::StatusCode::kUnavailable ? 3 : 2;
  }
  if (format == "json")
    std::printf("%s\n", DumpJson(workflow::PlanJson(outcome->facts, outcome->judgement)).c_str());
  else
    std::fputs(workflow::PlanText(outcome->facts, outcome->judgement, *severity).c_str(), stdout);
  std::fflush(stdout);
  return workflow::PlanExitCode(outcome->judgement, *severity);
}

}  // namespace shadowcopy::cli
