// Mirror-table workload: schema and load, the writer threads (see workload.h).
#include "tests/integration/workload.h"

#include <libpq-fe.h>

#include <algorithm>
#include <random>
#include <set>

#include "common/quote.h"
#include "fmt/format.h"
#include "gtest/gtest.h"

namespace shadowcopy::it {
namespace {

// Statements each writer runs, once against orders and once against truth.
// {T} is the table; $n the parameters.
enum Stmt {
  kInsertRow,
  kUpdateStatus,
  kUpdateBigNote,
  kUpdateNoteNull,
  kUpdateKey,
  kDeleteRow,
  kStmtCount
};
constexpr const char* kStmtSql[kStmtCount] = {
    "INSERT INTO {T} (id, customer_id, status, amount, note, created_at) "
    "VALUES ($1, $2, $3, $4, $5, now())",
    "UPDATE {T} SET status = $2, amount = $3 WHERE id = $1",
    "UPDATE {T} SET note = (SELECT string_agg(md5($2::text || g::text), '') "
    "FROM generate_series(1, 3125) g) WHERE id = $1",
    "UPDATE {T} SET note = NULL WHERE id = $1",
    "UPDATE {T} SET id = $2 WHERE id = $1",
    "DELETE FROM {T} WHERE id = $1",
};
constexpr const char* kMirrorTables[2] = {"orders", "truth"};
constexpr const char* kStatuses[] = {"new", "paid", "shipped", "cancelled", "refunded"};

std::string StmtText(Stmt stmt, const char* table) {
  std::string sql = kStmtSql[stmt];
  sql.replace(sql.find("{T}"), 3, table);
  return sql;
}

// Replaces $n with the quoted literal of params[n-1] (NULL for nullopt), for
// the simple-protocol writers.
std::string InlineParams(const std::string& sql, const PgParams& params) {
  std::string out;
  for (size_t i = 0; i < sql.size(); ++i) {
    if (sql[i] != '$' || i + 1 >= sql.size() || !isdigit(static_cast<unsigned char>(sql[i + 1]))) {
      out.push_back(sql[i]);
      continue;
    }
    size_t n = 0;
    while (i + 1 < sql.size() && isdigit(static_cast<unsigned char>(sql[i + 1])))
      n = n * 10 + (sql[++i] - '0');
    const auto& p = params.at(n - 1);
    out += p ? QuoteLiteral(*p) : "NULL";
  }
  return out;
}

}  // namespace

const char* EventTypeName(EventType type) {
  static constexpr const char* kNames[] = {"insert",
                                           "update_toast_unchanged",
                                           "update_toast_changed",
                                           "update_note_null",
                                           "key_update",
                                           "delete",
                                           "multi_statement",
                                           "rollback"};
  return kNames[static_cast<int>(type)];
}

std::string BigNoteSql(const std::string& seed_sql) {
  return "(SELECT string_agg(md5(" + seed_sql +
         " || '/' || i::text), '') FROM generate_series(1, 3125) i)";
}

absl::Status CreateAndLoadOrders(PgConn& conn, int rows, int big_note_every) {
  std::string sql = fmt::format(
      "CREATE TABLE orders (id serial PRIMARY KEY, customer_id int NOT NULL, "
      "  status text NOT NULL, amount numeric(12,2) NOT NULL, note text, "
      "  created_at timestamptz NOT NULL DEFAULT now());"
      "CREATE INDEX orders_customer_id_idx ON orders (customer_id);"
      "CREATE TABLE truth (id int PRIMARY KEY, customer_id int NOT NULL, status text NOT NULL, "
      "  amount numeric(12,2) NOT NULL, note text, created_at timestamptz NOT NULL);"
      "INSERT INTO orders (customer_id, status, amount, note, created_at) "
      "SELECT (g * 7919) % 1000, (ARRAY['new','paid','shipped','cancelled'])[1 + g % 4], "
      "  ((g * 37) % 100000) / 100.0, "
      "  CASE WHEN g % {0} = 0 THEN {1} WHEN g % 3 = 0 THEN NULL ELSE 'note ' || g END, "
      "  timestamptz '2024-01-01 00:00:00+00' + g * interval '1 minute' "
      "FROM generate_series(1, {2}) g;"
      "INSERT INTO truth SELECT * FROM orders;"
      "ANALYZE orders; ANALYZE truth;",
      big_note_every, BigNoteSql("'init' || g::text"), rows);
  return conn.Exec(sql).status();
}

absl::Status TransformTruth(PgConn& conn, const std::string& truth,
                            const std::string& alter_subcommands) {
  if (alter_subcommands.empty()) return absl::OkStatus();
  return conn.Exec("ALTER TABLE " + QuoteIdent(truth) + " " + alter_subcommands).status();
}

absl::StatusOr<MirrorDiff> CompareWithTruth(PgConn& conn, const std::string& table,
                                            const std::string& truth) {
  auto cols = conn.Query(
      "SELECT attname FROM pg_attribute WHERE attrelid = $1::regclass AND attnum > 0 "
      "AND NOT attisdropped ORDER BY attnum",
      {QuoteIdent(table)});
  if (!cols.ok()) return cols.status();
  std::string list, shown;
  for (int i = 0; i < cols->Rows(); ++i) {
    std::string name = cols->GetString(i, 0);
    list += (i ? ", " : "") + QuoteIdent(name);
    shown += (i ? ", " : "") + (name == "note"
                                    ? std::string("'md5(note)=' || coalesce(md5(note), 'NULL')")
                                    : "coalesce(" + QuoteIdent(name) + "::text, 'NULL')");
  }
  MirrorDiff diff;
  const std::string sides[2][2] = {{table, truth}, {truth, table}};
  for (int side = 0; side < 2; ++side) {
    std::string except = fmt::format("SELECT {0} FROM {1} EXCEPT ALL SELECT {0} FROM {2}", list,
                                     QuoteIdent(sides[side][0]), QuoteIdent(sides[side][1]));
    auto count = conn.Exec("SELECT count(*) FROM (" + except + ") d");
    if (!count.ok()) return count.status();
    (side == 0 ? diff.only_in_table : diff.only_in_truth) = count->GetInt(0, 0);
    auto rows = conn.Exec(fmt::format(
        "SELECT concat_ws(' | ', {0}) FROM ({1}) d ORDER BY 1 LIMIT 10", shown, except));
    if (!rows.ok()) return rows.status();
    for (int i = 0; i < rows->Rows(); ++i)
      diff.sample += fmt::format("  only in {}: {}\n", sides[side][0], rows->GetString(i, 0));
  }
  return diff;
}

// One writer thread: its own connection, its own keys.
class MirrorWorkload::Writer {
 public:
  Writer(MirrorWorkload* owner, int index, bool prepared)
      : owner_(owner), index_(index), prepared_(prepared), rng_(1000 + index) {}

  absl::Status Connect();
  void Run();

 private:
  absl::Status Execute(Stmt stmt, int table, const PgParams& params);
  absl::Status Mirror(Stmt stmt, const PgParams& params);
  absl::StatusOr<int64_t> NextId();
  absl::Status DoOne(EventType op, std::vector<EventType>* done);
  absl::Status RunTransaction(EventType kind, std::vector<EventType>* done);
  EventType PickKind();
  EventType PickSingleOp();
  size_t PickTarget(EventType op);
  void ForgetKey(size_t index);
  void MoveKey(size_t index, int64_t new_key);
  int Random(int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng_); }
  std::string Label() const {
    return fmt::format("writer {} ({})", index_, prepared_ ? "prepared" : "simple");
  }

  MirrorWorkload* const owner_;
  const int index_;
  const bool prepared_;
  std::mt19937_64 rng_;
  std::unique_ptr<PgConn> conn_;
  // The live keys this writer owns, and those of them with a large note.
  struct OwnedKeys {
    std::vector<int64_t> all;
    std::set<int64_t> big_note;
  };
  OwnedKeys keys_;
  int64_t serial_ = 0;  // distinguishes the notes this writer writes
};

absl::Status MirrorWorkload::Writer::Connect() {
  ConnectOptions options;
  options.dsn = "dbname=" + owner_->dbname_;
  options.application_name = "sc_it_writer";
  auto conn = PgConn::Connect(options);
  if (!conn.ok()) return conn.status();
  conn_ = std::move(*conn);
  if (prepared_) {
    for (int s = 0; s < kStmtCount; ++s) {
      for (int t = 0; t < 2; ++t) {
        std::string name = fmt::format("s{}_{}", s, t);
        PgResult res(PQprepare(conn_->raw(), name.c_str(),
                               StmtText(static_cast<Stmt>(s), kMirrorTables[t]).c_str(), 0,
                               nullptr));
        if (PQresultStatus(res.raw()) != PGRES_COMMAND_OK)
          return StatusFromResult(conn_->raw(), res.raw(), "prepare " + name);
      }
    }
  }
  if (!keys_.all.empty()) return absl::OkStatus();  // a reconnect keeps the keys
  auto ids = conn_->Exec(fmt::format(
      "SELECT id, coalesce(length(note), 0) > 10000 FROM orders WHERE id % {} = {} ORDER BY id",
      owner_->options_.writers, index_));
  if (!ids.ok()) return ids.status();
  for (int i = 0; i < ids->Rows(); ++i) {
    keys_.all.push_back(ids->GetInt(i, 0));
    if (ids->GetBool(i, 1)) keys_.big_note.insert(ids->GetInt(i, 0));
  }
  return absl::OkStatus();
}

absl::Status MirrorWorkload::Writer::Execute(Stmt stmt, int table, const PgParams& params) {
  PgResult res;
  if (prepared_) {
    std::vector<const char*> values;
    for (const auto& p : params) values.push_back(p ? p->c_str() : nullptr);
    std::string name = fmt::format("s{}_{}", static_cast<int>(stmt), table);
    res = PgResult(PQexecPrepared(conn_->raw(), name.c_str(), static_cast<int>(values.size()),
                                  values.data(), nullptr, nullptr, 0));
    if (PQresultStatus(res.raw()) != PGRES_COMMAND_OK)
      return StatusFromResult(conn_->raw(), res.raw(), "");
  } else {
    auto r = conn_->Exec(InlineParams(StmtText(stmt, kMirrorTables[table]), params));
    if (!r.ok()) return r.status();
    res = *std::move(r);
  }
  if (res.Affected() != 1)
    return absl::InternalError(fmt::format("{} on {} affected {} rows, expected 1", kStmtSql[stmt],
                                           kMirrorTables[table], res.Affected()));
  return absl::OkStatus();
}

absl::Status MirrorWorkload::Writer::Mirror(Stmt stmt, const PgParams& params) {
  for (int t = 0; t < 2; ++t) {
    absl::Status st = Execute(stmt, t, params);
    if (!st.ok()) return st;
  }
  return absl::OkStatus();
}

absl::StatusOr<int64_t> MirrorWorkload::Writer::NextId() {
  auto r = conn_->Exec("SELECT nextval('orders_id_seq')");
  if (!r.ok()) return r.status();
  return r->GetInt(0, 0);
}

// The index in keys_.all of the row `op` changes. Updates that must leave
// the TOASTed note unchanged always pick a row with a large note; key
// updates and deletes sometimes do.
size_t MirrorWorkload::Writer::PickTarget(EventType op) {
  int big_share = op == EventType::kUpdateToastUnchanged ? 100
                  : op == EventType::kKeyUpdate          ? 30
                  : op == EventType::kDelete             ? 15
                                                         : 0;
  if (!keys_.big_note.empty() && Random(0, 99) < big_share) {
    auto it = keys_.big_note.begin();
    std::advance(it, Random(0, static_cast<int>(keys_.big_note.size()) - 1));
    return std::find(keys_.all.begin(), keys_.all.end(), *it) - keys_.all.begin();
  }
  return std::uniform_int_distribution<size_t>(0, keys_.all.size() - 1)(rng_);
}

void MirrorWorkload::Writer::ForgetKey(size_t index) {
  keys_.big_note.erase(keys_.all[index]);
  keys_.all[index] = keys_.all.back();
  keys_.all.pop_back();
}

void MirrorWorkload::Writer::MoveKey(size_t index, int64_t new_key) {
  if (keys_.big_note.erase(keys_.all[index]) > 0) keys_.big_note.insert(new_key);
  keys_.all[index] = new_key;
}

// Runs one mirrored change of kind `op`, updating keys_ as if it commits.
absl::Status MirrorWorkload::Writer::DoOne(EventType op, std::vector<EventType>* done) {
  if (keys_.all.empty()) op = EventType::kInsert;
  // Without a row holding a large note, make one first.
  if (op == EventType::kUpdateToastUnchanged && keys_.big_note.empty())
    op = EventType::kUpdateToastChanged;
  absl::Status st;
  if (op == EventType::kInsert) {
    auto id = NextId();
    if (!id.ok()) return id.status();
    std::optional<std::string> note;
    if (Random(0, 2) != 0) note = fmt::format("w{} note {}", index_, *id);
    st = Mirror(kInsertRow,
                {std::to_string(*id), std::to_string(Random(0, 999)), kStatuses[Random(0, 4)],
                 fmt::format("{}.{:02}", Random(0, 9999), Random(0, 99)), note});
    if (st.ok()) keys_.all.push_back(*id);
    if (st.ok()) done->push_back(op);
    return st;
  }
  size_t k = PickTarget(op);
  std::string key = std::to_string(keys_.all[k]);
  switch (op) {
    case EventType::kKeyUpdate: {
      auto id = NextId();
      if (!id.ok()) return id.status();
      st = Mirror(kUpdateKey, {key, std::to_string(*id)});
      if (st.ok()) MoveKey(k, *id);
      break;
    }
    case EventType::kUpdateToastUnchanged:
      st = Mirror(kUpdateStatus, {key, kStatuses[Random(0, 4)],
                                  fmt::format("{}.{:02}", Random(0, 9999), Random(0, 99))});
      break;
    case EventType::kUpdateToastChanged:
      st = Mirror(kUpdateBigNote, {key, fmt::format("w{}-{}", index_, ++serial_)});
      if (st.ok()) keys_.big_note.insert(keys_.all[k]);
      break;
    case EventType::kUpdateNoteNull:
      st = Mirror(kUpdateNoteNull, {key});
      if (st.ok()) keys_.big_note.erase(keys_.all[k]);
      break;
    default:  // kDelete
      st = Mirror(kDeleteRow, {key});
      if (st.ok()) ForgetKey(k);
  }
  if (st.ok()) done->push_back(op);
  return st;
}

EventType MirrorWorkload::Writer::PickSingleOp() {
  int big = owner_->options_.big_note_percent;
  int r = Random(0, 99);
  if (r < big) return EventType::kUpdateToastChanged;
  r = Random(0, 99);
  if (r < 28) return EventType::kInsert;
  if (r < 58) return EventType::kUpdateToastUnchanged;
  if (r < 68) return EventType::kUpdateNoteNull;
  if (r < 82) return owner_->options_.key_updates ? EventType::kKeyUpdate : EventType::kUpdateToastUnchanged;
  return EventType::kDelete;
}

EventType MirrorWorkload::Writer::PickKind() {
  int r = Random(0, 99);
  if (r < 12) return EventType::kMultiStatement;
  if (r < 20) return EventType::kRollback;
  return PickSingleOp();
}

absl::Status MirrorWorkload::Writer::RunTransaction(EventType kind, std::vector<EventType>* done) {
  auto begin = conn_->Exec("BEGIN");
  if (!begin.ok()) return begin.status();
  int ops = kind == EventType::kMultiStatement ? Random(2, 4)
            : kind == EventType::kRollback     ? Random(1, 2)
                                               : 1;
  for (int i = 0; i < ops; ++i) {
    absl::Status st = DoOne(ops == 1 && kind != EventType::kRollback ? kind : PickSingleOp(), done);
    if (!st.ok()) return st;
  }
  auto end = conn_->Exec(kind == EventType::kRollback ? "ROLLBACK" : "COMMIT");
  if (!end.ok()) return end.status();
  if (kind != EventType::kRollback && std::string_view(PQcmdStatus(end->raw())) != "COMMIT")
    return absl::InternalError("COMMIT did not commit");
  return absl::OkStatus();
}

void MirrorWorkload::Writer::Run() {
  while (!owner_->stop_.load()) {
    if (!conn_->Healthy()) {
      absl::Status st = Connect();
      if (!st.ok()) owner_->RecordError(Label() + ": reconnect: " + std::string(st.message()));
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
      continue;
    }
    EventType kind = PickKind();
    OwnedKeys saved = keys_;
    std::vector<EventType> done;
    auto started = std::chrono::steady_clock::now();
    absl::Status st = RunTransaction(kind, &done);
    owner_->RecordTransactionTime(std::chrono::steady_clock::now() - started);
    if (!st.ok()) {
      owner_->RecordError(fmt::format("{}: {}: {}", Label(), EventTypeName(kind), st.ToString()));
      conn_->RollbackQuietly();
      keys_ = std::move(saved);
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
      continue;
    }
    if (kind == EventType::kRollback) {
      keys_ = std::move(saved);
      owner_->RecordCommit(EventType::kRollback);
    } else {
      if (kind == EventType::kMultiStatement) owner_->RecordCommit(kind);
      for (EventType op : done) owner_->RecordCommit(op);
    }
    auto pause = std::uniform_int_distribution<int>(owner_->options_.min_pause.count(),
                                                    owner_->options_.max_pause.count())(rng_);
    std::this_thread::sleep_for(std::chrono::milliseconds(pause));
  }
}

MirrorWorkload::MirrorWorkload(std::string dbname, WorkloadOptions options)
    : dbname_(std::move(dbname)), options_(options) {}

MirrorWorkload::~MirrorWorkload() { Stop(); }

absl::Status MirrorWorkload::Start() {
  for (int i = 0; i < options_.writers; ++i) {
    writers_.push_back(std::make_unique<Writer>(this, i, /*prepared=*/i % 2 == 1));
    absl::Status st = writers_.back()->Connect();
    if (!st.ok()) return st;
  }
  for (auto& w : writers_) threads_.emplace_back([&w] { w->Run(); });
  return absl::OkStatus();
}

void MirrorWorkload::Stop() {
  stop_.store(true);
  for (auto& t : threads_)
    if (t.joinable()) t.join();
  threads_.clear();
}

void MirrorWorkload::RecordCommit(EventType type) {
  int i = static_cast<int>(type);
  committed_[i].fetch_add(1);
  if (copy_active_.load()) during_copy_[i].fetch_add(1);
}

void MirrorWorkload::RecordTransactionTime(std::chrono::steady_clock::duration d) {
  int64_t ms = std::chrono::duration_cast<std::chrono::milliseconds>(d).count();
  int64_t seen = max_txn_ms_.load();
  while (ms > seen && !max_txn_ms_.compare_exchange_weak(seen, ms)) {
  }
}

void MirrorWorkload::RecordError(std::string error) {
  std::lock_guard<std::mutex> lock(mu_);
  if (errors_.size() < 100) errors_.push_back(std::move(error));
}

int64_t MirrorWorkload::Committed(EventType type) const {
  return committed_[static_cast<int>(type)].load();
}

int64_t MirrorWorkload::CommittedDuringCopy(EventType type) const {
  return during_copy_[static_cast<int>(type)].load();
}

int64_t MirrorWorkload::TotalCommitted() const {
  int64_t total = 0;
  for (const auto& c : committed_) total += c.load();
  return total;
}

std::vector<std::string> MirrorWorkload::Errors() const {
  std::lock_guard<std::mutex> lock(mu_);
  return errors_;
}

std::string MirrorWorkload::CountsReport() const {
  std::string out = fmt::format("  longest transaction: {} ms\n", max_txn_ms_.load());
  for (int i = 0; i < static_cast<int>(EventType::kCount); ++i)
    out += fmt::format("  {:<24} committed {:>6}  during copy {:>6}\n",
                       EventTypeName(static_cast<EventType>(i)), committed_[i].load(),
                       during_copy_[i].load());
  return out;
}

std::function<void(const std::string&)> TrackCopyPhase(MirrorWorkload* workload) {
  return [workload](const std::string& line) {
    auto at = line.find("phase=");
    if (at == std::string::npos) return;
    workload->SetCopyPhaseActive(line.compare(at, 10, "phase=copy") == 0 &&
                                 (line.size() == at + 10 || !isalnum(line[at + 10])));
  };
}

void ExpectNoWorkloadErrors(const MirrorWorkload& workload) {
  auto errors = workload.Errors();
  std::string all;
  for (size_t i = 0; i < errors.size() && i < 10; ++i) all += "  " + errors[i] + "\n";
  EXPECT_TRUE(errors.empty()) << errors.size() << " workload errors, first ones:\n" << all;
}

void ExpectMirrorEqual(PgConn& conn, const std::string& table, const std::string& truth) {
  auto diff = CompareWithTruth(conn, table, truth);
  ASSERT_TRUE(diff.ok()) << "comparison failed: " << diff.status();
  EXPECT_TRUE(diff->Equal()) << table << " differs from " << truth << ": " << diff->only_in_table
                             << " rows only in " << table << ", " << diff->only_in_truth
                             << " only in " << truth << "\n"
                             << diff->sample;
}

}  // namespace shadowcopy::it
