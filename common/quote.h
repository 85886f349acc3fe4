// SQL quoting. Every identifier and literal the tool puts into SQL text goes
// through these functions.
//
// Thread-safety: stateless.
#ifndef SHADOWCOPY_COMMON_QUOTE_H_
#define SHADOWCOPY_COMMON_QUOTE_H_

#include <string>
#include <string_view>
#include <vector>

namespace shadowcopy {

// "name" with embedded double quotes doubled. Always quotes, so case, spaces
// and unicode survive unchanged.
std::string QuoteIdent(std::string_view name);

// "schema"."name".
std::string QualifiedName(std::string_view schema, std::string_view name);

// 'text' with embedded single quotes doubled (standard_conforming_strings on).
std::string QuoteLiteral(std::string_view text);

// Comma-separated QuoteIdent of each name.
std::string QuoteIdentList(const std::vector<std::string>& names);

// Truncates `name` to at most 63 bytes (PostgreSQL's NAMEDATALEN - 1) without
// splitting a UTF-8 sequence.
std::string TruncateIdent(std::string_view name);

}  // namespace shadowcopy

#endif  // SHADOWCOPY_COMMON_QUOTE_H_
