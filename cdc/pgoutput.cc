// Decoding of the streaming replication CopyData frames and of pgoutput
// protocol version 1 messages, plus the standby status update we send back.
// All multi-byte integers on the wire are big-endian (network byte order).
//
// Every read goes through a bounds-checked Reader: a short buffer, an unknown
// message or column kind, a negative length, a missing string terminator or
// bytes left over after a complete message is absl::DataLossError — a decoder
// never returns a made-up zero.
//
// Thread-safety: stateless functions; safe to call from any thread.
#include "cdc/pgoutput.h"

#include <algorithm>
#include <chrono>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "common/status.h"

namespace shadowcopy::cdc {
namespace {

// Seconds between the Unix epoch and the PostgreSQL epoch (2000-01-01 UTC).
constexpr int64_t kPgEpochOffsetSeconds = 946684800;

// Sequential big-endian reader over a byte buffer. Every accessor checks the
// remaining length first and names the field it was reading in its error.
// Field names and messages are absl::string_view (they feed absl::StrCat);
// the buffer and the views returned from it are std::string_view, as in the
// public API.
class Reader {
 public:
  // `context` prefixes error messages, e.g. "pgoutput message".
  Reader(std::string_view buf, std::string context) : buf_(buf), context_(std::move(context)) {}

  // Replaces the error prefix, once the message type is known.
  void set_context(std::string context) { context_ = std::move(context); }

  absl::StatusOr<uint8_t> U8(absl::string_view what) {
    ASSIGN_OR_RETURN(std::string_view b, Bytes(1, what));
    return static_cast<uint8_t>(b[0]);
  }
  absl::StatusOr<int16_t> I16(absl::string_view what) {
    ASSIGN_OR_RETURN(uint64_t v, BigEndian(2, what));
    return static_cast<int16_t>(static_cast<uint16_t>(v));
  }
  absl::StatusOr<uint32_t> U32(absl::string_view what) {
    ASSIGN_OR_RETURN(uint64_t v, BigEndian(4, what));
    return static_cast<uint32_t>(v);
  }
  absl::StatusOr<int32_t> I32(absl::string_view what) {
    ASSIGN_OR_RETURN(uint32_t v, U32(what));
    return static_cast<int32_t>(v);
  }
  absl::StatusOr<uint64_t> U64(absl::string_view what) { return BigEndian(8, what); }
  absl::StatusOr<int64_t> I64(absl::string_view what) {
    ASSIGN_OR_RETURN(uint64_t v, U64(what));
    return static_cast<int64_t>(v);
  }

  // A length-prefixed field: int32 length (must not be negative), then bytes.
  absl::StatusOr<std::string_view> LengthPrefixed(absl::string_view what) {
    ASSIGN_OR_RETURN(int32_t len, I32(what));
    if (len < 0) return Error(absl::StrCat("negative length ", len, " for ", what));
    return Bytes(static_cast<size_t>(len), what);
  }

  // A NUL-terminated string; the terminator is consumed, not returned.
  absl::StatusOr<std::string> CString(absl::string_view what) {
    size_t nul = buf_.find('\0', pos_);
    if (nul == std::string_view::npos) return Error(absl::StrCat("missing NUL after ", what));
    std::string out(buf_.substr(pos_, nul - pos_));
    pos_ = nul + 1;
    return out;
  }

  absl::StatusOr<std::string_view> Bytes(size_t n, absl::string_view what) {
    if (n > remaining()) {
      return Error(
          absl::StrCat("truncated reading ", what, ": need ", n, " bytes, ", remaining(), " left"));
    }
    std::string_view out = buf_.substr(pos_, n);
    pos_ += n;
    return out;
  }

  // The rest of the buffer (possibly empty).
  std::string_view Rest() {
    std::string_view out = buf_.substr(pos_);
    pos_ = buf_.size();
    return out;
  }

  // A complete message must use the whole buffer.
  absl::Status ExpectEnd() {
    if (remaining() == 0) return absl::OkStatus();
    return Error(absl::StrCat(remaining(), " trailing bytes after a complete message"));
  }

  size_t remaining() const { return buf_.size() - pos_; }

  absl::Status Error(absl::string_view detail) const {
    return absl::DataLossError(absl::StrCat(context_, " at offset ", pos_, ": ", detail));
  }

 private:
  absl::StatusOr<uint64_t> BigEndian(size_t n, absl::string_view what) {
    ASSIGN_OR_RETURN(std::string_view b, Bytes(n, what));
    uint64_t v = 0;
    for (char c : b) v = (v << 8) | static_cast<unsigned char>(c);
    return v;
  }

  std::string_view buf_;
  size_t pos_ = 0;
  std::string context_;
};

void PutBigEndian64(std::string& out, uint64_t v) {
  for (int shift = 56; shift >= 0; shift -= 8) {
    out.push_back(static_cast<char>((v >> shift) & 0xFF));
  }
}

// ---- CopyData frames ----

absl::StatusOr<CopyDataMessage> DecodeXLogData(Reader& r) {
  XLogData m;
  ASSIGN_OR_RETURN(m.wal_start, r.U64("walStart"));
  ASSIGN_OR_RETURN(m.wal_end, r.U64("walEnd"));
  ASSIGN_OR_RETURN(m.send_time, r.I64("sendTime"));
  m.payload = r.Rest();
  return m;
}

absl::StatusOr<CopyDataMessage> DecodeKeepalive(Reader& r) {
  Keepalive m;
  ASSIGN_OR_RETURN(m.wal_end, r.U64("walEnd"));
  ASSIGN_OR_RETURN(m.send_time, r.I64("sendTime"));
  ASSIGN_OR_RETURN(uint8_t reply, r.U8("replyRequested"));
  m.reply_requested = reply != 0;
  RETURN_IF_ERROR(r.ExpectEnd());
  return m;
}

// ---- pgoutput pieces ----

// TupleData: int16 ncols, then per column a kind byte and, for 't'/'b', an
// int32 length and that many bytes.
absl::StatusOr<Tuple> ReadTuple(Reader& r) {
  ASSIGN_OR_RETURN(int16_t ncols, r.I16("tuple column count"));
  if (ncols < 0) return r.Error(absl::StrCat("negative tuple column count ", ncols));
  Tuple tuple;
  // Each column takes at least one byte: never reserve more than the buffer holds.
  tuple.reserve(std::min<size_t>(static_cast<size_t>(ncols), r.remaining()));
  for (int i = 0; i < ncols; ++i) {
    ASSIGN_OR_RETURN(uint8_t kind, r.U8("tuple column kind"));
    ColumnValue col;
    col.kind = static_cast<ColumnKind>(kind);
    switch (col.kind) {
      case ColumnKind::kNull:
      case ColumnKind::kUnchanged:
        break;
      case ColumnKind::kText:
      case ColumnKind::kBinary: {
        ASSIGN_OR_RETURN(std::string_view v, r.LengthPrefixed("tuple column value"));
        col.value.assign(v);
        break;
      }
      default:
        return r.Error(
            absl::StrCat("unknown tuple column kind 0x", absl::Hex(kind, absl::kZeroPad2)));
    }
    tuple.push_back(std::move(col));
  }
  return tuple;
}

// Reads one submessage tag byte and checks it against `allowed`.
absl::StatusOr<char> ReadTag(Reader& r, absl::string_view allowed, absl::string_view what) {
  ASSIGN_OR_RETURN(uint8_t tag, r.U8(what));
  if (tag == 0 || allowed.find(static_cast<char>(tag)) == absl::string_view::npos) {
    return r.Error(absl::StrCat("unexpected ", what, " 0x", absl::Hex(tag, absl::kZeroPad2),
                                " (expected one of '", allowed, "')"));
  }
  return static_cast<char>(tag);
}

// ---- pgoutput messages (the leading type byte is already consumed) ----

absl::StatusOr<PgOutputMessage> DecodeBegin(Reader& r) {
  BeginMessage m;
  ASSIGN_OR_RETURN(m.final_lsn, r.U64("final_lsn"));
  ASSIGN_OR_RETURN(m.commit_time, r.I64("commit_time"));
  ASSIGN_OR_RETURN(m.xid, r.U32("xid"));
  return m;
}

absl::StatusOr<PgOutputMessage> DecodeCommit(Reader& r) {
  CommitMessage m;
  ASSIGN_OR_RETURN(m.flags, r.U8("flags"));
  ASSIGN_OR_RETURN(m.commit_lsn, r.U64("commit_lsn"));
  ASSIGN_OR_RETURN(m.end_lsn, r.U64("end_lsn"));
  ASSIGN_OR_RETURN(m.commit_time, r.I64("commit_time"));
  return m;
}

absl::StatusOr<PgOutputMessage> DecodeOrigin(Reader& r) {
  OriginMessage m;
  ASSIGN_OR_RETURN(m.commit_lsn, r.U64("commit_lsn"));
  ASSIGN_OR_RETURN(m.name, r.CString("origin name"));
  return m;
}

absl::StatusOr<RelationColumn> ReadRelationColumn(Reader& r) {
  RelationColumn c;
  ASSIGN_OR_RETURN(uint8_t flags, r.U8("column flags"));
  c.part_of_key = (flags & 1) != 0;
  ASSIGN_OR_RETURN(c.name, r.CString("column name"));
  ASSIGN_OR_RETURN(c.type_oid, r.U32("column type oid"));
  ASSIGN_OR_RETURN(c.type_modifier, r.I32("column type modifier"));
  return c;
}

absl::StatusOr<PgOutputMessage> DecodeRelation(Reader& r) {
  RelationMessage m;
  ASSIGN_OR_RETURN(m.relation_oid, r.U32("relation oid"));
  ASSIGN_OR_RETURN(m.schema, r.CString("schema name"));
  ASSIGN_OR_RETURN(m.name, r.CString("relation name"));
  ASSIGN_OR_RETURN(m.replica_identity, ReadTag(r, "dnfi", "replica identity"));
  ASSIGN_OR_RETURN(int16_t ncols, r.I16("column count"));
  if (ncols < 0) return r.Error(absl::StrCat("negative column count ", ncols));
  // A column takes at least 10 bytes: bound the reservation by the buffer.
  m.columns.reserve(std::min<size_t>(static_cast<size_t>(ncols), r.remaining() / 10));
  for (int i = 0; i < ncols; ++i) {
    ASSIGN_OR_RETURN(RelationColumn c, ReadRelationColumn(r));
    m.columns.push_back(std::move(c));
  }
  return m;
}

absl::StatusOr<PgOutputMessage> DecodeType(Reader& r) {
  TypeMessage m;
  ASSIGN_OR_RETURN(m.type_oid, r.U32("type oid"));
  ASSIGN_OR_RETURN(m.schema, r.CString("type schema"));
  ASSIGN_OR_RETURN(m.name, r.CString("type name"));
  return m;
}

absl::StatusOr<PgOutputMessage> DecodeInsert(Reader& r) {
  InsertMessage m;
  ASSIGN_OR_RETURN(m.relation_oid, r.U32("relation oid"));
  RETURN_IF_ERROR(ReadTag(r, "N", "new tuple tag").status());
  ASSIGN_OR_RETURN(m.new_tuple, ReadTuple(r));
  return m;
}

// The old tuple is optional: 'K' or 'O' + tuple, then always 'N' + tuple.
absl::StatusOr<PgOutputMessage> DecodeUpdate(Reader& r) {
  UpdateMessage m;
  ASSIGN_OR_RETURN(m.relation_oid, r.U32("relation oid"));
  ASSIGN_OR_RETURN(char tag, ReadTag(r, "KON", "tuple tag"));
  if (tag != 'N') {
    m.old_kind = tag;
    ASSIGN_OR_RETURN(m.old_tuple, ReadTuple(r));
    RETURN_IF_ERROR(ReadTag(r, "N", "new tuple tag").status());
  }
  ASSIGN_OR_RETURN(m.new_tuple, ReadTuple(r));
  return m;
}

absl::StatusOr<PgOutputMessage> DecodeDelete(Reader& r) {
  DeleteMessage m;
  ASSIGN_OR_RETURN(m.relation_oid, r.U32("relation oid"));
  ASSIGN_OR_RETURN(m.old_kind, ReadTag(r, "KO", "old tuple tag"));
  ASSIGN_OR_RETURN(m.old_tuple, ReadTuple(r));
  return m;
}

absl::StatusOr<PgOutputMessage> DecodeTruncate(Reader& r) {
  TruncateMessage m;
  ASSIGN_OR_RETURN(int32_t nrels, r.I32("relation count"));
  if (nrels < 0) return r.Error(absl::StrCat("negative relation count ", nrels));
  ASSIGN_OR_RETURN(m.options, r.U8("options"));
  // Check the whole oid array fits before allocating for it.
  if (static_cast<size_t>(nrels) > r.remaining() / 4) {
    return r.Error(absl::StrCat("truncated: ", nrels, " relation oids need ",
                                static_cast<uint64_t>(nrels) * 4, " bytes, ", r.remaining(),
                                " left"));
  }
  m.relation_oids.reserve(static_cast<size_t>(nrels));
  for (int32_t i = 0; i < nrels; ++i) {
    ASSIGN_OR_RETURN(uint32_t oid, r.U32("relation oid"));
    m.relation_oids.push_back(oid);
  }
  return m;
}

absl::StatusOr<PgOutputMessage> DecodeMessage(Reader& r) {
  LogicalMessage m;
  ASSIGN_OR_RETURN(uint8_t flags, r.U8("flags"));
  m.transactional = (flags & 1) != 0;
  ASSIGN_OR_RETURN(m.lsn, r.U64("lsn"));
  ASSIGN_OR_RETURN(m.prefix, r.CString("prefix"));
  ASSIGN_OR_RETURN(std::string_view content, r.LengthPrefixed("content"));
  m.content.assign(content);
  return m;
}

// Dispatches on the message type byte. Protocol version 1 has no streaming
// or two-phase messages, so those count as unknown here.
absl::StatusOr<PgOutputMessage> DecodeBody(char type, Reader& r) {
  switch (type) {
    case 'B':
      return DecodeBegin(r);
    case 'C':
      return DecodeCommit(r);
    case 'O':
      return DecodeOrigin(r);
    case 'R':
      return DecodeRelation(r);
    case 'Y':
      return DecodeType(r);
    case 'I':
      return DecodeInsert(r);
    case 'U':
      return DecodeUpdate(r);
    case 'D':
      return DecodeDelete(r);
    case 'T':
      return DecodeTruncate(r);
    case 'M':
      return DecodeMessage(r);
    default:
      return r.Error(absl::StrCat("unknown message type 0x",
                                  absl::Hex(static_cast<unsigned char>(type), absl::kZeroPad2)));
  }
}

}  // namespace

absl::StatusOr<CopyDataMessage> DecodeCopyData(std::string_view bytes) {
  Reader r(bytes, "replication CopyData");
  ASSIGN_OR_RETURN(uint8_t type, r.U8("message type"));
  switch (type) {
    case 'w':
      return DecodeXLogData(r);
    case 'k':
      return DecodeKeepalive(r);
    default:
      return r.Error(
          absl::StrCat("unknown CopyData message type 0x", absl::Hex(type, absl::kZeroPad2)));
  }
}

std::string EncodeStandbyStatus(Lsn write, Lsn flush, Lsn apply, int64_t now_pg_micros,
                                bool reply_requested) {
  std::string out;
  out.reserve(34);
  out.push_back('r');
  PutBigEndian64(out, write);
  PutBigEndian64(out, flush);
  PutBigEndian64(out, apply);
  PutBigEndian64(out, static_cast<uint64_t>(now_pg_micros));
  out.push_back(reply_requested ? 1 : 0);
  return out;
}

int64_t NowPgMicros() {
  auto since_unix = std::chrono::duration_cast<std::chrono::microseconds>(
      std::chrono::system_clock::now().time_since_epoch());
  return since_unix.count() - kPgEpochOffsetSeconds * 1000000;
}

absl::StatusOr<PgOutputMessage> DecodePgOutput(std::string_view bytes) {
  Reader r(bytes, "pgoutput message");
  ASSIGN_OR_RETURN(uint8_t type, r.U8("message type"));
  if (type >= 0x20 && type < 0x7F) {
    r.set_context(absl::StrCat("pgoutput '", std::string(1, static_cast<char>(type)), "' message"));
  }
  ASSIGN_OR_RETURN(PgOutputMessage m, DecodeBody(static_cast<char>(type), r));
  RETURN_IF_ERROR(r.ExpectEnd());
  return m;
}

}  // namespace shadowcopy::cdc
