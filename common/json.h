// JSON output: the one way the tool turns a value into a line of JSON
// (status, progress and summary lines). Objects keep their fields in
// insertion order, so a line reads in the order it was built.
//
// Strings may hold anything a table name, a key value or an error text can
// hold: quotes, backslashes and control characters are escaped, and bytes
// that are not valid UTF-8 become U+FFFD, so every line parses and DumpJson
// never throws.
//
// Thread-safety: stateless.
#ifndef SHADOWCOPY_COMMON_JSON_H_
#define SHADOWCOPY_COMMON_JSON_H_

#include <string>

#include "nlohmann/json.hpp"

namespace shadowcopy {

// A JSON value whose objects keep insertion order.
using Json = nlohmann::ordered_json;

// `value` as compact JSON on one line (no newline): invalid UTF-8 replaced
// by U+FFFD instead of throwing.
std::string DumpJson(const Json& value);

// The number printf's "%.<decimals>f" shows for `value`, as a JSON number of
// the same value: an integer when `decimals` is 0, else a float (printed
// without trailing zeros). NaN and infinities become 0, so the line stays
// valid JSON. REQUIRES: 0 <= decimals <= 17.
Json FixedDecimals(double value, int decimals);

// The number printf's "%g" shows for `value` (six significant digits), as a
// JSON number: an integer when that is whole, else a float. NaN and
// infinities become 0.
Json ShortNumber(double value);

}  // namespace shadowcopy

#endif  // SHADOWCOPY_COMMON_JSON_H_
