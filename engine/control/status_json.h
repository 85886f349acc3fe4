// The status of a run as one line of JSON: what `ctl status --json` answers
// and what `--progress json` prints. Pure: a snapshot in, a line out.
//
// Field names, their order and value types are part of the interface
// (scripts read them); strings (phase, key position, throttle reason, ...)
// may hold any bytes and still give a line that parses (see common/json.h).
//
// Thread-safety: stateless.
#ifndef SHADOWCOPY_ENGINE_CONTROL_STATUS_JSON_H_
#define SHADOWCOPY_ENGINE_CONTROL_STATUS_JSON_H_

#include <string>

#include "engine/control/control.h"

namespace shadowcopy::engine {

// An online rewrite's status: phase, copy, replay, sizing, throttle, cutover,
// verification. One line, no newline.
std::string RewriteStatusJson(const StatusSnapshot& s);

// A backfill's status: phase, keys, key position and span, rows changed,
// sizing, throttle. One line, no newline.
std::string BackfillStatusJson(const StatusSnapshot& s);

}  // namespace shadowcopy::engine

#endif  // SHADOWCOPY_ENGINE_CONTROL_STATUS_JSON_H_
