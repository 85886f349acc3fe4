// Revertibility: what the way back from the new table to the old one (the
// revert window's reverse stream and `shadowcopy revert`) can fail at or
// lose, decided from the two definitions before the forward run starts.
//
// The reverse mapping: each column of the new table that comes from a column
// of the old one is written back into it with assignment coercion (a value
// that does not fit is an error, never silently cut); columns the ALTER added
// are left out on the way back; columns it dropped keep their old values, and
// rows inserted since get the old column's default.
//
// Pure: no I/O (revertibility_catalog.cc reads the facts).
//
// Thread-safety: stateless functions.
#ifndef SHADOWCOPY_ENGINE_REWRITE_REVERTIBILITY_H_
#define SHADOWCOPY_ENGINE_REWRITE_REVERTIBILITY_H_

#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"

namespace shadowcopy::engine {

// One column of either table.
struct RevertColumn {
  std::string name;
  std::string type;  // format_type(), e.g. "character varying(20)"
  bool not_null = false;
  bool has_default = false;  // a default or an identity
};

// One column of the old table and what became of it.
struct RevertPair {
  RevertColumn old_col;
  bool kept = false;      // false: the ALTER dropped it
  RevertColumn new_col;   // when kept
  bool has_using = false; // ALTER ... TYPE ... USING
};

struct RevertFacts {
  std::vector<RevertPair> columns;          // the old table's columns
  std::vector<RevertColumn> added;          // the new table's columns with no old one
  std::vector<std::string> lost_unique;     // the old table's unique indexes the new table lacks
  bool reverse_cast_missing = false;        // PostgreSQL has no assignment cast back (rehearsed)
  std::string reverse_cast_error;           // its message
};

// Kinds a user may accept with --revert-accept (comma-separated, or "all").
inline constexpr std::string_view kRevertRiskKinds[] = {"out-of-range", "too-long", "narrowing", "type-change",
                                                        "using", "nullable", "dropped-not-null", "unique"};

struct RevertRisk {
  std::string kind;     // one of kRevertRiskKinds, "no-reverse-cast", or a note's kind
  std::string column;   // the column or index it is about
  std::string message;  // one line, for the plan and errors
  // true: the reverse stream can fail or lose information — refused with
  // --revert-window unless accepted. false: how the way back behaves, shown.
  bool blocking = true;
};

// The risk of writing a value of `new_type` back into a column of
// `old_type` with assignment coercion: "" (none), or the kind and why.
struct CastRisk {
  std::string kind;
  std::string why;
};
CastRisk ReverseCastRisk(std::string_view new_type, std::string_view old_type);

std::vector<RevertRisk> AnalyzeRevert(const RevertFacts& facts);

// The plan's lines: "revertible: yes" or each risk named, and the notes.
std::string FormatRevertibility(const std::vector<RevertRisk>& risks, bool window_requested);

// --revert-window with the risks: OK when every blocking risk is accepted
// (`accepted` holds kinds or "all"); FailedPrecondition naming the first
// one that is not (a missing reverse cast cannot be accepted).
absl::Status CheckRevertAccepted(const std::vector<RevertRisk>& risks, const std::vector<std::string>& accepted);

// Parses --revert-accept's value. InvalidArgument for an unknown kind.
absl::Status ParseRevertAccept(std::string_view text, std::vector<std::string>* out);

}  // namespace shadowcopy::engine

#endif  // SHADOWCOPY_ENGINE_REWRITE_REVERTIBILITY_H_
