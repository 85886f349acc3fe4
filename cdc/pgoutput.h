// Pure decoding of the logical replication wire format: the CopyData frames of
// the streaming replication protocol (XLogData, primary keepalive), the
// standby status update we send back, and the pgoutput plugin's messages
// (protocol version 1, with `messages 'true'`).
//
// Every decoder checks lengths before reading: a short or corrupt buffer is a
// DataLoss status, never a silent zero.
//
// Thread-safety: stateless functions.
#ifndef SHADOWCOPY_CDC_PGOUTPUT_H_
#define SHADOWCOPY_CDC_PGOUTPUT_H_

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "absl/status/statusor.h"
#include "common/lsn.h"

namespace shadowcopy::cdc {

// ---- Streaming replication framing (inside CopyData) ----

// 'w': a chunk of WAL data; `payload` points into the decoded buffer.
struct XLogData {
  Lsn wal_start = 0;
  Lsn wal_end = 0;
  int64_t send_time = 0;  // microseconds since 2000-01-01
  std::string_view payload;
};

// 'k': primary keepalive.
struct Keepalive {
  Lsn wal_end = 0;
  int64_t send_time = 0;
  bool reply_requested = false;
};

using CopyDataMessage = std::variant<XLogData, Keepalive>;

// Decodes one CopyData payload sent by the server.
absl::StatusOr<CopyDataMessage> DecodeCopyData(std::string_view bytes);

// 'r': standby status update (34 bytes).
std::string EncodeStandbyStatus(Lsn write, Lsn flush, Lsn apply, int64_t now_pg_micros,
                                bool reply_requested);

// Microseconds since the PostgreSQL epoch (2000-01-01 UTC) for the current time.
int64_t NowPgMicros();

// ---- pgoutput messages ----

enum class ColumnKind : char {
  kNull = 'n',
  kUnchanged = 'u',  // unchanged TOASTed value, not sent
  kText = 't',
  kBinary = 'b',
};

struct ColumnValue {
  ColumnKind kind = ColumnKind::kNull;
  std::string value;  // for kText / kBinary
};

using Tuple = std::vector<ColumnValue>;

struct BeginMessage {
  Lsn final_lsn = 0;
  int64_t commit_time = 0;
  uint32_t xid = 0;
};

struct CommitMessage {
  uint8_t flags = 0;
  Lsn commit_lsn = 0;
  Lsn end_lsn = 0;
  int64_t commit_time = 0;
};

struct OriginMessage {
  Lsn commit_lsn = 0;
  std::string name;
};

struct RelationColumn {
  bool part_of_key = false;  // flags & 1
  std::string name;
  uint32_t type_oid = 0;
  int32_t type_modifier = -1;
};

struct RelationMessage {
  uint32_t relation_oid = 0;
  std::string schema;  // "" means pg_catalog, as pgoutput sends it
  std::string name;
  char replica_identity = 'd';  // d, n, f, i
  std::vector<RelationColumn> columns;
};

struct TypeMessage {
  uint32_t type_oid = 0;
  std::string schema;
  std::string name;
};

struct InsertMessage {
  uint32_t relation_oid = 0;
  Tuple new_tuple;
};

struct UpdateMessage {
  uint32_t relation_oid = 0;
  // 'K' (old key columns), 'O' (whole old row, REPLICA IDENTITY FULL) or 0.
  char old_kind = 0;
  Tuple old_tuple;  // empty when old_kind == 0
  Tuple new_tuple;
};

struct DeleteMessage {
  uint32_t relation_oid = 0;
  char old_kind = 'K';  // 'K' or 'O'
  Tuple old_tuple;
};

struct TruncateMessage {
  uint8_t options = 0;  // 1 = CASCADE, 2 = RESTART IDENTITY
  std::vector<uint32_t> relation_oids;
};

struct LogicalMessage {
  bool transactional = false;
  Lsn lsn = 0;
  std::string prefix;
  std::string content;
};

using PgOutputMessage =
    std::variant<BeginMessage, CommitMessage, OriginMessage, RelationMessage, TypeMessage,
                 InsertMessage, UpdateMessage, DeleteMessage, TruncateMessage, LogicalMessage>;

// Decodes one pgoutput message (the payload of an XLogData frame).
absl::StatusOr<PgOutputMessage> DecodePgOutput(std::string_view bytes);

}  // namespace shadowcopy::cdc

#endif  // SHADOWCOPY_CDC_PGOUTPUT_H_
