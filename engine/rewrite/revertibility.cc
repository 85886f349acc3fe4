#include "engine/rewrite/revertibility.h"

#include <algorithm>
#include <cctype>
#include <optional>

#include "common/quote.h"
#include "fmt/format.h"

namespace shadowcopy::engine {
namespace {

// The families of types the reverse cast is judged by.
enum class RevFamily { kInteger, kFloat, kNumeric, kString, kOther };

struct RevType {
  RevFamily family = RevFamily::kOther;
  int rank = 0;        // integers: 1 smallint, 2 integer, 3 bigint; floats: 1 real, 2 double
  int precision = -1;  // numeric(p,s) or the string's length; -1 unconstrained
  int scale = 0;
};

std::optional<std::pair<int, int>> RevTypmod(std::string_view t) {
  auto open = t.find('(');
  if (open == std::string_view::npos) return std::nullopt;
  int a = 0, b = 0;
  bool second = false;
  for (size_t i = open + 1; i < t.size() && t[i] != ')'; ++i) {
    char c = t[i];
    if (c == ',') second = true;
    else if (std::isdigit(static_cast<unsigned char>(c))) (second ? b : a) = (second ? b : a) * 10 + (c - '0');
  }
  return std::make_pair(a, b);
}

RevType ClassifyRevType(std::string_view t) {
  RevType r;
  auto base = t.substr(0, t.find('('));
  while (!base.empty() && base.back() == ' ') base.remove_suffix(1);
  auto mod = RevTypmod(t);
  if (base == "smallint") r = {RevFamily::kInteger, 1};
  else if (base == "integer") r = {RevFamily::kInteger, 2};
  else if (base == "bigint") r = {RevFamily::kInteger, 3};
  else if (base == "real") r = {RevFamily::kFloat, 1};
  else if (base == "double precision") r = {RevFamily::kFloat, 2};
  else if (base == "numeric") {
    r.family = RevFamily::kNumeric;
    if (mod) r.precision = mod->first, r.scale = mod->second;
  } else if (base == "text" || base == "character varying" || base == "character") {
    r.family = RevFamily::kString;
    if (mod) r.precision = mod->first;
    else if (base == "character") r.precision = 1;  // bare char is char(1)
  }
  return r;
}

int IntegerDigits(int rank) { return rank == 1 ? 5 : rank == 2 ? 10 : 19; }

std::string RevQuoted(const std::string& name) { return QuoteIdent(name); }

}  // namespace

CastRisk ReverseCastRisk(std::string_view new_type, std::string_view old_type) {
  if (new_type == old_type) return {};
  RevType n = ClassifyRevType(new_type), o = ClassifyRevType(old_type);
  const std::string from(new_type), to(old_type);
  auto out_of_range = [&] {
    return CastRisk{"out-of-range", fmt::format("{} values beyond {}'s range stop the reverse stream", from, to)};
  };
  auto narrowing = [&] {
    return CastRisk{"narrowing", fmt::format("{} back to {} rounds values (or stops the reverse stream on one "
                                             "too large)", from, to)};
  };
  switch (o.family) {
    case RevFamily::kInteger:
      if (n.family == RevFamily::kInteger) return n.rank > o.rank ? out_of_range() : CastRisk{};
      if (n.family == RevFamily::kFloat || n.family == RevFamily::kNumeric) return narrowing();
      break;
    case RevFamily::kFloat:
      if (n.family == RevFamily::kFloat) return n.rank > o.rank ? narrowing() : CastRisk{};
      if (n.family == RevFamily::kInteger) return n.rank <= o.rank ? CastRisk{} : narrowing();
      if (n.family == RevFamily::kNumeric) return narrowing();
      break;
    case RevFamily::kNumeric:
      if (o.precision < 0) {
        if (n.family == RevFamily::kInteger || n.family == RevFamily::kNumeric) return {};
        break;
      }
      if (n.family == RevFamily::kInteger)
        return o.precision - o.scale >= IntegerDigits(n.rank) ? CastRisk{} : out_of_range();
      if (n.family == RevFamily::kNumeric) {
        if (n.precision < 0 || n.scale > o.scale) return narrowing();
        return n.precision - n.scale > o.precision - o.scale ? out_of_range() : CastRisk{};
      }
      if (n.family == RevFamily::kFloat) return narrowing();
      break;
    case RevFamily::kString:
      if (o.precision < 0) return {};  // text and varchar take any value's text
      if (n.family == RevFamily::kString && n.precision >= 0 && n.precision <= o.precision) return {};
      return {"too-long", fmt::format("{} values longer than {} characters stop the reverse stream", from,
                                      o.precision)};
    case RevFamily::kOther:
      break;
  }
  return {"type-change", fmt::format("the reverse cast from {} to {} may fail or lose information", from, to)};
}

std::vector<RevertRisk> AnalyzeRevert(const RevertFacts& facts) {
  std::vector<RevertRisk> out;
  if (facts.reverse_cast_missing)
    out.push_back({"no-reverse-cast", "", fmt::format("no way back: {}", facts.reverse_cast_error), true});
  for (const auto& p : facts.columns) {
    const std::string col = RevQuoted(p.old_col.name);
    if (!p.kept) {
      if (p.old_col.not_null && !p.old_col.has_default)
        out.push_back({"dropped-not-null", p.old_col.name,
                       fmt::format("{}: dropped by the ALTER, NOT NULL without a default in the old table: a row "
                                   "inserted during the window stops the reverse stream", col), true});
      else
        out.push_back({"dropped-column", p.old_col.name,
                       fmt::format("{}: dropped by the ALTER; on the way back rows keep their old value, rows "
                                   "inserted since get its default", col), false});
      continue;
    }
    CastRisk cast = ReverseCastRisk(p.new_col.type, p.old_col.type);
    if (!cast.kind.empty()) out.push_back({cast.kind, p.old_col.name, fmt::format("{}: {}", col, cast.why), true});
    if (p.has_using && p.new_col.type != p.old_col.type)
      out.push_back({"using", p.old_col.name,
                     fmt::format("{}: the ALTER's USING expression is not inverted; values go back by a plain cast",
                                 col), true});
    if (p.old_col.not_null && !p.new_col.not_null)
      out.push_back({"nullable", p.old_col.name,
                     fmt::format("{}: NOT NULL in the old table only; a NULL written during the window stops the "
                                 "reverse stream", col), true});
  }
  for (const auto& a : facts.added)
    out.push_back({"added-column", a.name,
                   fmt::format("{}: added by the ALTER{}; left out on the way back (its values are not kept)",
                               RevQuoted(a.name), a.not_null && !a.has_default ? " (NOT NULL without a default)" : ""),
                   false});
  for (const auto& u : facts.lost_unique)
    out.push_back({"unique", u,
                   fmt::format("the new table lacks the unique index {}: rows written during the window may "
                               "violate it on the way back", RevQuoted(u)), true});
  return out;
}

std::string FormatRevertibility(const std::vector<RevertRisk>& risks, bool window_requested) {
  std::vector<const RevertRisk*> blocking, notes;
  for (const auto& r : risks) (r.blocking ? blocking : notes).push_back(&r);
  std::string out;
  if (blocking.empty())
    out += "  revertible:  yes (the reverse mapping casts every value back without loss)\n";
  else
    out += fmt::format("  revertible:  no{}\n", window_requested
                                                   ? ": --revert-window needs --revert-accept for each risk"
                                                   : " (--revert-window would need --revert-accept for each risk)");
  for (const auto* r : blocking) out += fmt::format("    [{}] {}\n", r->kind, r->message);
  for (const auto* r : notes) out += fmt::format("    way back: {}\n", r->message);
  return out;
}

absl::Status CheckRevertAccepted(const std::vector<RevertRisk>& risks, const std::vector<std::string>& accepted) {
  bool all = std::find(accepted.begin(), accepted.end(), "all") != accepted.end();
  for (const auto& r : risks) {
    if (!r.blocking) continue;
    if (r.kind == "no-reverse-cast")
      return absl::FailedPreconditionError(fmt::format("--revert-window: not revertible: {}", r.message));
    if (all || std::find(accepted.begin(), accepted.end(), r.kind) != accepted.end()) continue;
    return absl::FailedPreconditionError(fmt::format(
        "--revert-window: not revertible: {}; accept the risk with --revert-accept {} or leave out --revert-window",
        r.message, r.kind));
  }
  return absl::OkStatus();
}

absl::Status ParseRevertAccept(std::string_view text, std::vector<std::string>* out) {
  size_t start = 0;
  while (start <= text.size()) {
    size_t comma = text.find(',', start);
    std::string_view item = text.substr(start, comma == std::string_view::npos ? std::string_view::npos : comma - start);
    while (!item.empty() && item.front() == ' ') item.remove_prefix(1);
    while (!item.empty() && item.back() == ' ') item.remove_suffix(1);
    bool known = item == "all";
    for (auto k : kRevertRiskKinds) known = known || item == k;
    if (!known) {
      std::string kinds = "all";
      for (auto k : kRevertRiskKinds) kinds += fmt::format(", {}", k);
      return absl::InvalidArgumentError(
          fmt::format("--revert-accept: unknown risk '{}' (one of: {})", item, kinds));
    }
    out->emplace_back(item);
    if (comma == std::string_view::npos) break;
    start = comma + 1;
  }
  return absl::OkStatus();
}

}  // namespace shadowcopy::engine
