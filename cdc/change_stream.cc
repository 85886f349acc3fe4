#include "cdc/change_stream.h"

#include <poll.h>

#include <algorithm>
#include <type_traits>

#include "common/log.h"
#include "common/quote.h"
#include "common/status.h"
#include "fmt/format.h"

namespace shadowcopy::cdc {
namespace {

size_t TupleBytes(const Tuple& t) {
  size_t n = 0;
  // Heap-allocated values cost their allocator chunk too.
  for (const auto& c : t) n += sizeof(ColumnValue) + (c.value.size() > 15 ? c.value.size() + 16 : 0);
  return n;
}

}  // namespace

ChangeStream::ChangeStream(StreamOptions options) : options_(std::move(options)) {}

ChangeStream::~ChangeStream() { Stop(); }

absl::StatusOr<SlotInfo> ChangeStream::CreateSlot() {
  ConnectOptions co = options_.connect;
  co.replication = true;
  co.application_name = "shadowcopy_stream";
  ASSIGN_OR_RETURN(conn_, PgConn::Connect(co));
  // Permanent (not TEMPORARY): a temporary slot dies with this connection and
  // a reconnect or resume would then miss changes.
  ASSIGN_OR_RETURN(auto res, conn_->Exec(fmt::format(
                                 "CREATE_REPLICATION_SLOT {} LOGICAL pgoutput EXPORT_SNAPSHOT",
                                 QuoteIdent(options_.slot))));
  if (res.Rows() != 1 || res.Cols() < 3)
    return absl::InternalError("unexpected reply to CREATE_REPLICATION_SLOT");
  SlotInfo info;
  auto lsn = ParseLsn(res.Get(0, 1));
  if (!lsn) return absl::InternalError("malformed consistent point");
  info.consistent_point = *lsn;
  info.snapshot_name = res.GetString(0, 2);
  return info;
}

absl::Status ChangeStream::Start() {
  if (!conn_) {
    ConnectOptions co = options_.connect;
    co.replication = true;
    co.application_name = "shadowcopy_stream";
    ASSIGN_OR_RETURN(conn_, PgConn::Connect(co));
  }
  // proto_version 1 with messages: only committed transactions arrive, in
  // commit order; large ones are spilled by the server, never streamed.
  std::string sql = fmt::format(
      "START_REPLICATION SLOT {} LOGICAL 0/0 (proto_version '1', publication_names {}, "
      "messages 'true')",
      QuoteIdent(options_.slot), QuoteLiteral(QuoteIdent(options_.publication)));
  PgResult res(PQexec(conn_->raw(), sql.c_str()));
  if (PQresultStatus(res.raw()) != PGRES_COPY_BOTH)
    return StatusFromResult(conn_->raw(), res.raw(), "START_REPLICATION");
  if (PQsetnonblocking(conn_->raw(), 1) != 0)
    return absl::InternalError("cannot make the replication connection non-blocking");
  last_status_ = std::chrono::steady_clock::now();
  thread_ = std::thread([this] { Run(); });
  return absl::OkStatus();
}

void ChangeStream::Stop() {
  stop_ = true;
  if (thread_.joinable()) thread_.join();
  if (conn_) {
    if (PQstatus(conn_->raw()) == CONNECTION_OK) {
      (void)SendStatus(true);
      PQputCopyEnd(conn_->raw(), nullptr);
      PQflush(conn_->raw());
    }
    conn_.reset();
  }
  cv_.notify_all();
}

void ChangeStream::Run() {
  absl::Status st;
  try {
    st = Loop();
  } catch (const std::exception& e) {
    st = absl::InternalError(fmt::format("replication thread: {}", e.what()));
  }
  if (!st.ok()) Fail(st);
}

void ChangeStream::Fail(absl::Status status) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (status_.ok()) status_ = std::move(status);
  }
  cv_.notify_all();
}

absl::Status ChangeStream::Loop() {
  PGconn* pg = conn_->raw();
  while (!stop_) {
    size_t queued_bytes;
    {
      std::lock_guard<std::mutex> lock(mu_);
      queued_bytes = stats_.queued_bytes;
    }
    // Back-pressure: while the applier is behind, leave the data in the
    // socket (the server waits) but keep sending status updates, or the
    // server drops us after wal_sender_timeout.
    bool can_read = queued_bytes < options_.max_queued_bytes;
    while (can_read && !stop_) {
      char* buf = nullptr;
      int n = PQgetCopyData(pg, &buf, /*async=*/1);
      if (n == 0) break;
      if (n == -1) {
        PgResult res(PQgetResult(pg));
        return Annotate(StatusFromResult(pg, res.raw(), ""), "replication stream ended");
      }
      if (n < 0) return absl::UnavailableError(fmt::format("replication stream: {}", PQerrorMessage(pg)));
      absl::Status st = HandleCopyData(std::string_view(buf, n));
      PQfreemem(buf);
      RETURN_IF_ERROR(st);
      std::lock_guard<std::mutex> lock(mu_);
      can_read = stats_.queued_bytes < options_.max_queued_bytes;
    }
    RETURN_IF_ERROR(SendStatus(false));
    pollfd pfd{PQsocket(pg), static_cast<short>(can_read ? POLLIN : 0), 0};
    if (poll(&pfd, 1, can_read ? 100 : 20) < 0 && errno != EINTR)
      return absl::UnavailableError("poll on the replication connection failed");
    if (PQconsumeInput(pg) == 0)
      return absl::UnavailableError(fmt::format("replication connection lost: {}", PQerrorMessage(pg)));
  }
  return absl::OkStatus();
}

absl::Status ChangeStream::HandleCopyData(std::string_view data) {
  ASSIGN_OR_RETURN(auto msg, DecodeCopyData(data));
  if (auto* ka = std::get_if<Keepalive>(&msg)) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      stats_.server_wal_end = std::max(stats_.server_wal_end, ka->wal_end);
    }
    if (ka->reply_requested) return SendStatus(true);
    return absl::OkStatus();
  }
  return HandlePgOutput(std::get<XLogData>(msg).payload);
}

absl::Status ChangeStream::HandlePgOutput(std::string_view payload) {
  ASSIGN_OR_RETURN(auto msg, DecodePgOutput(payload));
  const uint32_t oid = options_.relation_oid;
  auto add = [this](Change c) {
    current_.bytes += TupleBytes(c.old_tuple) + TupleBytes(c.new_tuple) + c.message.size() + sizeof(Change) + 32;
    current_.changes.push_back(std::move(c));
    receiving_changes_.store(current_.changes.size(), std::memory_order_relaxed);
  };
  return std::visit(
      [&](auto& m) -> absl::Status {
        using T = std::decay_t<decltype(m)>;
        if constexpr (std::is_same_v<T, BeginMessage>) {
          in_transaction_ = true;
          current_ = Transaction{};
          current_.xid = m.xid;
          receiving_changes_.store(0, std::memory_order_relaxed);
        } else if constexpr (std::is_same_v<T, CommitMessage>) {
          if (!in_transaction_) return absl::DataLossError("Commit without Begin in the stream");
          current_.commit_lsn = m.commit_lsn;
          current_.end_lsn = m.end_lsn;
          current_.commit_time = m.commit_time;
          current_.bytes += sizeof(Transaction) + 32;
          in_transaction_ = false;
          {
            std::lock_guard<std::mutex> lock(mu_);
            stats_.transactions_received++;
            stats_.changes_received += current_.changes.size();
            stats_.received_lsn = std::max(stats_.received_lsn, m.end_lsn);
            stats_.queued_bytes += current_.bytes;
            queued_changes_ += current_.changes.size();
            receiving_changes_.store(0, std::memory_order_relaxed);
            queue_.push_back(std::move(current_));
            stats_.queued_transactions = queue_.size();
          }
          cv_.notify_one();
          current_ = Transaction{};
        } else if constexpr (std::is_same_v<T, RelationMessage>) {
          if (m.relation_oid == oid) return CheckRelation(m);
        } else if constexpr (std::is_same_v<T, InsertMessage>) {
          if (m.relation_oid == oid) add(Change{Change::Kind::kInsert, 0, {}, std::move(m.new_tuple), {}});
        } else if constexpr (std::is_same_v<T, UpdateMessage>) {
          if (m.relation_oid == oid)
            add(Change{Change::Kind::kUpdate, m.old_kind, std::move(m.old_tuple), std::move(m.new_tuple), {}});
        } else if constexpr (std::is_same_v<T, DeleteMessage>) {
          if (m.relation_oid == oid)
            add(Change{Change::Kind::kDelete, m.old_kind, std::move(m.old_tuple), {}, {}});
        } else if constexpr (std::is_same_v<T, TruncateMessage>) {
          if (std::find(m.relation_oids.begin(), m.relation_oids.end(), oid) != m.relation_oids.end())
            add(Change{Change::Kind::kTruncate, 0, {}, {}, {}});
        } else if constexpr (std::is_same_v<T, LogicalMessage>) {
          if (m.transactional && in_transaction_ && m.prefix == options_.message_prefix)
            add(Change{Change::Kind::kMessage, 0, {}, {}, std::move(m.content)});
        }
        return absl::OkStatus();
      },
      msg);
}

absl::Status ChangeStream::CheckRelation(const RelationMessage& rel) const {
  // A Relation message arrives before the table's first change and after every
  // invalidation. Different columns mean someone altered the original during
  // the run: replaying onto the shadow would then be wrong, so stop.
  const auto& want = options_.expected_columns;
  bool same = rel.columns.size() == want.size();
  for (size_t i = 0; same && i < want.size(); ++i)
    same = rel.columns[i].name == want[i].name && rel.columns[i].type_oid == want[i].type_oid;
  if (same) return absl::OkStatus();
  return absl::FailedPreconditionError(fmt::format(
      "table {}.{} was altered while the migration ran (its columns changed); stopping",
      rel.schema, rel.name));
}

Lsn ChangeStream::AckPosition() const {
  Lsn applied = applied_lsn_.load();
  std::lock_guard<std::mutex> lock(mu_);
  bool idle = !in_transaction_ && queue_.empty() && applied >= stats_.received_lsn;
  return idle ? std::max(applied, stats_.server_wal_end) : applied;
}

absl::Status ChangeStream::SendStatus(bool force) {
  auto now = std::chrono::steady_clock::now();
  if (!force && now - last_status_ < options_.status_interval) return absl::OkStatus();
  Lsn flush = std::max(AckPosition(), last_sent_flush_);
  Lsn received;
  {
    std::lock_guard<std::mutex> lock(mu_);
    received = std::max(stats_.received_lsn, flush);
  }
  std::string msg = EncodeStandbyStatus(received, flush, flush, NowPgMicros(), false);
  if (PQputCopyData(conn_->raw(), msg.data(), static_cast<int>(msg.size())) != 1 ||
      PQflush(conn_->raw()) < 0)
    return absl::UnavailableError(
        fmt::format("cannot send status to the server: {}", PQerrorMessage(conn_->raw())));
  last_status_ = now;
  last_sent_flush_ = flush;
  std::lock_guard<std::mutex> lock(mu_);
  stats_.acked_lsn = flush;
  return absl::OkStatus();
}

bool ChangeStream::Pop(Transaction* out, std::chrono::milliseconds timeout) {
  std::unique_lock<std::mutex> lock(mu_);
  cv_.wait_for(lock, timeout, [this] { return !queue_.empty() || !status_.ok() || stop_; });
  if (queue_.empty()) return false;
  *out = std::move(queue_.front());
  queue_.pop_front();
  stats_.queued_bytes -= std::min(stats_.queued_bytes, out->bytes);
  queued_changes_ -= std::min(queued_changes_, out->changes.size());
  stats_.queued_transactions = queue_.size();
  return true;
}

bool ChangeStream::WaitQueued(std::chrono::milliseconds timeout) {
  std::unique_lock<std::mutex> lock(mu_);
  cv_.wait_for(lock, timeout, [this] { return !queue_.empty() || !status_.ok() || stop_; });
  return !queue_.empty();
}

size_t ChangeStream::Queued() const {
  std::lock_guard<std::mutex> lock(mu_);
  return queue_.size();
}

size_t ChangeStream::PendingChanges() const {
  std::lock_guard<std::mutex> lock(mu_);
  return queued_changes_ + receiving_changes_.load(std::memory_order_relaxed);
}

void ChangeStream::MarkApplied(Lsn end_lsn) {
  Lsn cur = applied_lsn_.load();
  while (end_lsn > cur && !applied_lsn_.compare_exchange_weak(cur, end_lsn)) {
  }
}

absl::Status ChangeStream::status() const {
  std::lock_guard<std::mutex> lock(mu_);
  return status_;
}

StreamStats ChangeStream::stats() const {
  std::lock_guard<std::mutex> lock(mu_);
  return stats_;
}

}  // namespace shadowcopy::cdc
