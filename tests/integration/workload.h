// Mirror-table workload: the table under migration (`orders`) and a plain
// `truth` table with the original definition receive every change in the
// same transaction. After a migration, `orders` must equal `truth` with the
// same ALTER applied offline (EXCEPT ALL both ways is empty).
//
// Writers own disjoint keys (initial rows by id % writers, plus the rows they
// insert), so they never conflict with each other and every statement must
// affect exactly one row; half use the simple protocol, half named prepared
// statements. Every error a writer sees is recorded: the application must
// see none, through the cutover too.
//
// Thread-safety: MirrorWorkload's public methods may be called from any
// thread; each writer thread owns its connection and its keys.
#ifndef SHADOWCOPY_TESTS_INTEGRATION_WORKLOAD_H_
#define SHADOWCOPY_TESTS_INTEGRATION_WORKLOAD_H_

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "common/pg.h"

namespace shadowcopy::it {

// The kinds of committed events the workload counts.
enum class EventType {
  kInsert,
  kUpdateToastUnchanged,  // status/amount changed, large note left alone
  kUpdateToastChanged,    // a new ~100 kB note
  kUpdateNoteNull,
  kKeyUpdate,  // id := nextval('orders_id_seq')
  kDelete,
  kMultiStatement,  // a transaction of 2-4 of the above
  kRollback,        // a rolled-back transaction (changes nothing)
  kCount,
};
const char* EventTypeName(EventType type);

// Creates `orders` (serial key, index on customer_id) and `truth` and loads
// `rows` identical rows into both: note NULL for every third row, a ~100 kB
// incompressible (md5-chained) note for every `big_note_every`-th row.
absl::Status CreateAndLoadOrders(PgConn& conn, int rows, int big_note_every = 200);

// SQL of a ~100 kB note that is the same whenever `seed_sql` is.
std::string BigNoteSql(const std::string& seed_sql);

struct WorkloadOptions {
  int writers = 4;  // half simple protocol, half prepared
  std::chrono::milliseconds min_pause{3};
  std::chrono::milliseconds max_pause{12};
  int big_note_percent = 4;  // share of TOAST-changing updates
  // Key updates move a row above a backfill's fixed key span; off for a
  // test whose backfill must reach every row.
  bool key_updates = true;
};

class MirrorWorkload {
 public:
  MirrorWorkload(std::string dbname, WorkloadOptions options);
  ~MirrorWorkload();  // stops and joins

  // Connects the writers, reads the keys each owns, starts the threads.
  absl::Status Start();
  // Stops the writers and joins them. Idempotent.
  void Stop();
  // Events committed while the flag is set are also counted apart.
  void SetCopyPhaseActive(bool active) { copy_active_.store(active); }

  int64_t Committed(EventType type) const;
  int64_t CommittedDuringCopy(EventType type) const;
  int64_t TotalCommitted() const;
  // The longest time a transaction took (BEGIN to COMMIT done), any outcome.
  std::chrono::milliseconds MaxTransactionTime() const {
    return std::chrono::milliseconds(max_txn_ms_.load());
  }
  std::vector<std::string> Errors() const;
  // One line per event type: committed / during copy.
  std::string CountsReport() const;

 private:
  class Writer;
  friend class Writer;
  void RecordCommit(EventType type);
  void RecordError(std::string error);
  void RecordTransactionTime(std::chrono::steady_clock::duration d);

  const std::string dbname_;
  const WorkloadOptions options_;
  std::vector<std::unique_ptr<Writer>> writers_;
  std::vector<std::thread> threads_;
  std::atomic<bool> stop_{false};
  std::atomic<bool> copy_active_{false};
  std::atomic<int64_t> max_txn_ms_{0};
  std::array<std::atomic<int64_t>, static_cast<int>(EventType::kCount)> committed_{};
  std::array<std::atomic<int64_t>, static_cast<int>(EventType::kCount)> during_copy_{};
  mutable std::mutex mu_;
  std::vector<std::string> errors_;  // guarded by mu_
};

// Result of comparing a table with its truth.
struct MirrorDiff {
  int64_t only_in_table = 0;  // rows of the table missing from the truth
  int64_t only_in_truth = 0;  // rows of the truth missing from the table
  std::string sample;         // up to 10 differing rows of each side
  bool Equal() const { return only_in_table == 0 && only_in_truth == 0; }
};

// Compares `table` with `truth` by the table's column names (EXCEPT ALL both
// ways); a column named note is shown as md5(note) in the sample.
absl::StatusOr<MirrorDiff> CompareWithTruth(PgConn& conn, const std::string& table,
                                            const std::string& truth);

// Applies `alter_subcommands` (as given to --alter) to `truth` offline.
absl::Status TransformTruth(PgConn& conn, const std::string& truth,
                            const std::string& alter_subcommands);

// A stderr-line callback for the tool that sets the workload's copy-phase
// flag when `phase=copy` appears and clears it at the next phase.
std::function<void(const std::string&)> TrackCopyPhase(MirrorWorkload* workload);

// gtest checks: no writer saw an error; `table` equals `truth`.
void ExpectNoWorkloadErrors(const MirrorWorkload& workload);
void ExpectMirrorEqual(PgConn& conn, const std::string& table, const std::string& truth);

}  // namespace shadowcopy::it

#endif  // SHADOWCOPY_TESTS_INTEGRATION_WORKLOAD_H_
