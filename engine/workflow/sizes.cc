#include "engine/workflow/sizes.h"

#include <chrono>
#include <cstdlib>

#include "common/quote.h"
#include "common/status.h"
#include "fmt/format.h"

namespace shadowcopy::workflow {
namespace {

// Rows of the throughput probe: about 3 MB with its index, a rewrite of a
// few tens of milliseconds.
constexpr int kProbeRows = 40000;

// "{a,b}" for a text[] parameter.
std::string TextArray(const std::vector<std::string>& items) {
  std::string out = "{";
  for (size_t i = 0; i < items.size(); ++i) {
    if (i > 0) out += ",";
    out += "\"";
    for (char c : items[i]) {
      if (c == '"' || c == '\\') out += '\\';
      out += c;
    }
    out += "\"";
  }
  return out + "}";
}

// The planner's row estimate of a scan of `table` (never analyzed: from its size).
absl::StatusOr<int64_t> PlannerRows(PgConn* prod, const std::string& table) {
  ASSIGN_OR_RETURN(auto r, prod->Exec("EXPLAIN SELECT 1 FROM " + table));
  if (r.Rows() == 0) return 0;
  std::string line = r.GetString(0, 0);
  auto pos = line.find("rows=");
  return pos == std::string::npos ? 0 : std::strtoll(line.c_str() + pos + 5, nullptr, 10);
}

}  // namespace

absl::StatusOr<std::unique_ptr<PgConn>> ConnectProduction(const std::string& dsn) {
  ConnectOptions o;
  o.dsn = dsn;
  o.application_name = "shadowcopy plan";
  o.settings = {{"default_transaction_read_only", "on"},
                {"lock_timeout", "2s"},
                {"statement_timeout", "60s"},
                // At the minimum before the session's first temporary table.
                {"temp_buffers", "800kB"}};
  return PgConn::Connect(o);
}

absl::StatusOr<ProductionInfo> ReadProductionInfo(PgConn* prod) {
  ASSIGN_OR_RETURN(auto r, prod->Query(
      "SELECT pg_catalog.current_database(), pg_catalog.pg_encoding_to_char(d.encoding),"
      " pg_catalog.current_setting('search_path') FROM pg_catalog.pg_database d"
      " WHERE d.datname = pg_catalog.current_database()"));
  if (r.Rows() != 1) return absl::InternalError("cannot read the target database's name");
  ProductionInfo info;
  info.server_version_num = prod->ServerVersion();
  info.database = r.GetString(0, 0);
  info.encoding = r.GetString(0, 1);
  info.search_path = r.GetString(0, 2);
  return info;
}

absl::StatusOr<std::map<std::string, RelationSize>> ReadSizes(PgConn* prod, const std::vector<std::string>& names) {
  std::map<std::string, RelationSize> out;
  if (names.empty()) return out;
  ASSIGN_OR_RETURN(auto r, prod->Query(
      "SELECT DISTINCT quote_ident(n.nspname) || '.' || quote_ident(c.relname), n.nspname, c.relname,"
      " c.relkind, c.reltuples::bigint, pg_catalog.pg_total_relation_size(c.oid),"
      " pg_catalog.pg_relation_size(c.oid)"
      " FROM unnest($1::text[]) AS t(name)"
      " JOIN pg_catalog.pg_class c ON c.oid = pg_catalog.to_regclass(t.name)"
      " JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace"
      " WHERE c.relkind IN ('r', 'p', 'm', 'i', 'I')",
      {TextArray(names)}));
  for (int i = 0; i < r.Rows(); ++i) {
    RelationSize s;
    s.rows = r.GetInt(i, 4);
    s.bytes = r.GetInt(i, 5);
    char kind = r.Get(i, 3).empty() ? '?' : r.Get(i, 3)[0];
    if (s.rows < 0) {
      s.rows = 0;
      // The planner assumes 10 pages for a table never vacuumed: ask it
      // only when the heap has any.
      if ((kind == 'r' || kind == 'm') && r.GetInt(i, 6) > 0) {
        ASSIGN_OR_RETURN(s.rows, PlannerRows(prod, QualifiedName(r.Get(i, 1), r.Get(i, 2))));
      }
    }
    out[r.GetString(i, 0)] = s;
  }
  return out;
}

absl::StatusOr<double> MeasureRewriteThroughput(PgConn* prod) {
  RETURN_IF_ERROR(prod->Exec("BEGIN READ WRITE").status());
  auto measure = [&]() -> absl::StatusOr<double> {
    RETURN_IF_ERROR(prod->Exec(fmt::format(
        "CREATE TEMPORARY TABLE shadowcopy_rewrite_probe ON COMMIT DROP AS"
        " SELECT g AS id, md5(g::text) AS v FROM generate_series(1, {}) AS g;"
        " CREATE INDEX ON shadowcopy_rewrite_probe (id)", kProbeRows)).status());
    auto start = std::chrono::steady_clock::now();
    RETURN_IF_ERROR(prod->Exec("ALTER TABLE shadowcopy_rewrite_probe ALTER COLUMN id TYPE bigint").status());
    double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    ASSIGN_OR_RETURN(auto r, prod->Exec("SELECT pg_catalog.pg_total_relation_size('shadowcopy_rewrite_probe')"));
    double bytes = static_cast<double>(r.GetInt(0, 0));
    return seconds > 0 ? bytes / seconds : 0;
  };
  auto result = measure();
  prod->RollbackQuietly();
  return result;
}

}  // namespace shadowcopy::workflow
