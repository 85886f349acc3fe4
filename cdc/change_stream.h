// ChangeStream owns the replication connection: it creates the slot, streams
// pgoutput changes of one table with START_REPLICATION, assembles them into
// whole committed transactions and hands them, in commit order, to the single
// consumer (the applier) through a queue.
//
// Slot acknowledgement (DESIGN.md §3): the flush position reported to the
// server only advances to what the consumer reports through MarkApplied(), i.e.
// the end LSN of transactions already committed into the shadow. When every
// received transaction is applied and no transaction is half-received, the
// keepalive's WAL end is acknowledged instead, so a slot on a busy database
// with a quiet table still advances.
//
// Thread-safety: Start/Stop from the owning thread; Pop/MarkApplied from one
// consumer thread; stats readable from any thread.
#ifndef SHADOWCOPY_CDC_CHANGE_STREAM_H_
#define SHADOWCOPY_CDC_CHANGE_STREAM_H_

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "cdc/pgoutput.h"
#include "common/lsn.h"
#include "common/pg.h"

namespace shadowcopy::cdc {

struct Change {
  enum class Kind { kInsert, kUpdate, kDelete, kTruncate, kMessage };
  Kind kind = Kind::kInsert;
  char old_kind = 0;   // 'K', 'O' or 0 (updates without an old tuple)
  Tuple old_tuple;     // deletes, and updates with old_kind != 0
  Tuple new_tuple;     // inserts and updates
  std::string message; // kMessage: content of a transactional 'shadowcopy' message
};

struct Transaction {
  uint32_t xid = 0;
  Lsn commit_lsn = 0;
  Lsn end_lsn = 0;
  int64_t commit_time = 0;  // microseconds since 2000-01-01
  std::vector<Change> changes;
  size_t bytes = 0;  // approximate memory footprint
};

// The columns the stream must see in every Relation message for the table.
struct ExpectedColumn {
  std::string name;
  uint32_t type_oid = 0;
};

struct StreamOptions {
  ConnectOptions connect;  // replication is forced on
  std::string slot;
  std::string publication;
  uint32_t relation_oid = 0;
  std::vector<ExpectedColumn> expected_columns;
  std::string message_prefix = "shadowcopy";
  // Back-pressure: stop reading beyond this many bytes of received, unapplied
  // changes (the rest waits in the server's WAL). Bounds the client's memory
  // whatever the backlog; a replay group needs far less.
  size_t max_queued_bytes = 64u << 20;
  std::chrono::milliseconds status_interval{1000};
};

struct SlotInfo {
  Lsn consistent_point = 0;
  std::string snapshot_name;  // importable until the next command on the stream
};

struct StreamStats {
  uint64_t transactions_received = 0;
  uint64_t changes_received = 0;
  Lsn received_lsn = 0;   // end LSN of the last complete transaction received
  Lsn server_wal_end = 0; // from the last keepalive / XLogData header
  Lsn acked_lsn = 0;      // last flush position sent
  size_t queued_transactions = 0;
  size_t queued_bytes = 0;
};

class ChangeStream {
 public:
  explicit ChangeStream(StreamOptions options);
  ~ChangeStream();  // stops the thread and closes the connection

  // Connects and creates the permanent logical slot, exporting its snapshot.
  // The caller must import the snapshot before calling Start().
  absl::StatusOr<SlotInfo> CreateSlot();

  // Connects (if needed) and starts streaming from the slot on a thread.
  absl::Status Start();

  // Stops the thread and closes the replication connection (the slot becomes
  // inactive and can be dropped). Idempotent.
  void Stop();

  // Takes the next committed transaction, waiting up to `timeout`. Returns
  // false on timeout or when the stream failed (see status()).
  bool Pop(Transaction* out, std::chrono::milliseconds timeout);
  // Waits up to `timeout` until a transaction is queued (or the stream
  // failed or stops) without taking it; returns whether one is queued.
  bool WaitQueued(std::chrono::milliseconds timeout);
  // Number of complete transactions waiting in the queue.
  size_t Queued() const;
  // Row changes received and not taken yet: those of the queued
  // transactions and of the one being received (not committed yet).
  size_t PendingChanges() const;

  // The consumer has committed everything up to `end_lsn` into the shadow.
  void MarkApplied(Lsn end_lsn);

  // The first fatal error of the stream thread; OK while healthy.
  absl::Status status() const;
  StreamStats stats() const;

 private:
  void Run();
  absl::Status Loop();
  absl::Status HandleCopyData(std::string_view data);
  absl::Status HandlePgOutput(std::string_view payload);
  absl::Status CheckRelation(const RelationMessage& rel) const;
  absl::Status SendStatus(bool force);
  Lsn AckPosition() const;
  void Fail(absl::Status status);

  const StreamOptions options_;
  std::unique_ptr<PgConn> conn_;
  std::thread thread_;
  std::atomic<bool> stop_{false};
  std::atomic<Lsn> applied_lsn_{0};

  // Stream-thread-only state.
  bool in_transaction_ = false;
  Transaction current_;
  std::chrono::steady_clock::time_point last_status_{};
  Lsn last_sent_flush_ = 0;

  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Transaction> queue_;  // guarded by mu_
  size_t queued_changes_ = 0;      // guarded by mu_: of queue_
  std::atomic<size_t> receiving_changes_{0};  // of current_, written by the stream thread
  StreamStats stats_;              // guarded by mu_
  absl::Status status_;            // guarded by mu_
};

}  // namespace shadowcopy::cdc

#endif  // SHADOWCOPY_CDC_CHANGE_STREAM_H_
