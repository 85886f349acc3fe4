// A WAL position (XLogRecPtr) with PostgreSQL's "X/Y" text form.
//
// Thread-safety: a value type.
#ifndef SHADOWCOPY_COMMON_LSN_H_
#define SHADOWCOPY_COMMON_LSN_H_

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace shadowcopy {

using Lsn = uint64_t;

// Formats as PostgreSQL does: upper and lower 32 bits in hex, e.g. "0/16B3748".
std::string FormatLsn(Lsn lsn);

// Parses "X/Y"; nullopt on malformed input.
std::optional<Lsn> ParseLsn(std::string_view text);

}  // namespace shadowcopy

#endif  // SHADOWCOPY_COMMON_LSN_H_
