#include "engine/workflow/migrate_files.h"

#include <openssl/sha.h>

#include <algorithm>
#include <cctype>
#include <map>

#include "common/sql_lexer.h"
#include "common/status.h"
#include "fmt/format.h"

namespace shadowcopy::workflow {
namespace {

bool IsDigits(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

bool EndsWith(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

std::string Description(std::string_view raw) {
  std::string d(raw);
  std::replace(d.begin(), d.end(), '_', ' ');
  return d;
}

absl::Status BadName(std::string_view file_name, std::string_view why) {
  return absl::InvalidArgumentError(fmt::format(
      "{}: {} (expected V<version>__<description>.sql, U<version>__<description>.sql, "
      "<version>_<description>.up.sql or <version>_<description>.down.sql)",
      file_name, why));
}

std::string Hex(const unsigned char* bytes, size_t n) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  out.reserve(2 * n);
  for (size_t i = 0; i < n; ++i) {
    out.push_back(kDigits[bytes[i] >> 4]);
    out.push_back(kDigits[bytes[i] & 15]);
  }
  return out;
}

std::string Sha256Hex(std::string_view text) {
  unsigned char md[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(text.data()), text.size(), md);
  return Hex(md, sizeof md);
}

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

std::string Trim(std::string_view s) {
  size_t b = 0, e = s.size();
  while (b < e && std::isspace(static_cast<unsigned char>(s[b]))) ++b;
  while (e > b && std::isspace(static_cast<unsigned char>(s[e - 1]))) --e;
  return std::string(s.substr(b, e - b));
}

// "5s", "500ms", "1m", "2" (seconds).
std::optional<std::chrono::milliseconds> ParseTimeout(std::string_view text) {
  size_t i = 0;
  while (i < text.size() && text[i] >= '0' && text[i] <= '9') ++i;
  if (i == 0 || i > 9) return std::nullopt;
  int64_t n = std::stoll(std::string(text.substr(0, i)));
  std::string_view unit = text.substr(i);
  if (unit == "ms") return std::chrono::milliseconds(n);
  if (unit == "s" || unit.empty()) return std::chrono::milliseconds(n * 1000);
  if (unit == "min" || unit == "m") return std::chrono::milliseconds(n * 60000);
  return std::nullopt;
}

// The option word of a `-- shadowcopy: WORD` comment; nullopt for another comment.
std::optional<std::string> ShadowcopyComment(std::string_view comment) {
  if (comment.substr(0, 2) != "--") return std::nullopt;
  std::string body = Trim(comment.substr(2));
  constexpr std::string_view kPrefix = "shadowcopy:";
  if (Lower(body).rfind(kPrefix, 0) != 0) return std::nullopt;
  return Trim(std::string_view(body).substr(kPrefix.size()));
}

absl::Status ApplyOption(std::string_view file, int line, const std::string& word, FileOptions* o) {
  std::string w = Lower(word);
  if (w == "transaction=file") {
    o->transaction_file = true;
  } else if (w == "transaction=statement") {
    o->transaction_file = false;
  } else if (w == "literal") {
    o->literal = true;
  } else if (w.rfind("lock_timeout=", 0) == 0) {
    auto d = ParseTimeout(w.substr(std::string_view("lock_timeout=").size()));
    if (!d || d->count() <= 0)
      return absl::InvalidArgumentError(
          fmt::format("{}:{}: lock_timeout needs a positive duration such as 5s or 500ms", file, line));
    o->lock_timeout = *d;
  } else {
    return absl::InvalidArgumentError(fmt::format(
        "{}:{}: unknown option `-- shadowcopy: {}` (known: transaction=file, literal, lock_timeout=D, verify)",
        file, line, word));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<PlannedStatement>> Split(std::string_view file, std::string_view text, int line_offset) {
  auto split = sql::SplitStatements(text);
  if (!split.ok()) return Annotate(split.status(), file);
  std::vector<PlannedStatement> out;
  bool in_block = false;
  for (const sql::Statement& s : *split) {
    auto tokens = sql::Tokenize(s.text);
    std::string first;
    if (tokens.ok())
      for (const sql::Token& t : *tokens)
        if (t.kind != sql::TokenKind::kComment) {
          first = Lower(t.text);
          break;
        }
    bool begins = first == "begin" || first == "start";
    bool ends = first == "commit" || first == "end" || first == "rollback";
    if (begins) in_block = true;
    out.push_back({std::string(file), s.line + line_offset, s.text, in_block});
    if (ends) in_block = false;
  }
  if (in_block)
    return absl::InvalidArgumentError(
        fmt::format("{}: a BEGIN block is not closed by COMMIT before the end of the migration", file));
  return out;
}

}  // namespace

std::string MigrationVersion::ToString() const {
  std::string out;
  for (const auto& p : parts) out += (out.empty() ? "" : ".") + p;
  return out;
}

std::string MigrationVersion::Key() const {
  std::string key = ToString();
  while (key.size() > 2 && EndsWith(key, ".0")) key.resize(key.size() - 2);
  return key;
}

int CompareVersions(const MigrationVersion& a, const MigrationVersion& b) {
  size_t n = std::max(a.parts.size(), b.parts.size());
  for (size_t i = 0; i < n; ++i) {
    std::string_view x = i < a.parts.size() ? std::string_view(a.parts[i]) : "0";
    std::string_view y = i < b.parts.size() ? std::string_view(b.parts[i]) : "0";
    if (x.size() != y.size()) return x.size() < y.size() ? -1 : 1;
    if (int c = x.compare(y); c != 0) return c < 0 ? -1 : 1;
  }
  return 0;
}

absl::StatusOr<MigrationVersion> ParseVersion(std::string_view text) {
  MigrationVersion v;
  size_t start = 0;
  while (true) {
    size_t end = text.find_first_of("._", start);
    std::string_view part = text.substr(start, end == std::string_view::npos ? end : end - start);
    if (!IsDigits(part))
      return absl::InvalidArgumentError(fmt::format("`{}` is not a version (digits separated by . or _)", text));
    size_t nz = part.find_first_not_of('0');
    v.parts.emplace_back(nz == std::string_view::npos ? "0" : part.substr(nz));
    if (end == std::string_view::npos) break;
    start = end + 1;
  }
  return v;
}

absl::StatusOr<std::optional<MigrationName>> ParseMigrationFileName(std::string_view name) {
  if (!EndsWith(name, ".sql")) return std::optional<MigrationName>();
  MigrationName out;
  if (!name.empty() && (name[0] == 'V' || name[0] == 'U')) {
    std::string_view stem = name.substr(1, name.size() - 5);
    size_t sep = stem.find("__");
    if (sep == std::string_view::npos) return BadName(name, "no `__` between version and description");
    auto v = ParseVersion(stem.substr(0, sep));
    if (!v.ok()) return BadName(name, std::string(v.status().message()));
    out.version = *v;
    out.description = Description(stem.substr(sep + 2));
    out.kind = name[0] == 'V' ? FileKind::kMigration : FileKind::kUndo;
    return std::optional<MigrationName>(out);
  }
  if (!name.empty() && name[0] == 'R')
    return BadName(name, "repeatable migrations (R__) are not supported");
  bool up = EndsWith(name, ".up.sql"), down = EndsWith(name, ".down.sql");
  if (!up && !down) return BadName(name, "neither convention");
  std::string_view stem = name.substr(0, name.size() - (up ? 7 : 9));
  size_t sep = stem.find('_');
  auto v = ParseVersion(stem.substr(0, sep));
  if (!v.ok()) return BadName(name, std::string(v.status().message()));
  out.version = *v;
  out.description = sep == std::string_view::npos ? "" : Description(stem.substr(sep + 1));
  out.kind = up ? FileKind::kMigration : FileKind::kUndo;
  return std::optional<MigrationName>(out);
}

absl::StatusOr<MigrationScript> ParseMigrationScript(std::string_view file, std::string_view text) {
  MigrationScript script;
  auto tokens = sql::Tokenize(text);
  if (!tokens.ok()) return Annotate(tokens.status(), file);
  bool header = true;
  size_t verify_at = text.size();
  int verify_line = 0;
  for (const sql::Token& t : *tokens) {
    if (t.kind != sql::TokenKind::kComment) {
      header = false;
      continue;
    }
    auto word = ShadowcopyComment(t.text);
    if (!word) continue;
    if (Lower(*word) == "verify") {
      verify_at = t.offset;
      verify_line = t.line - 1;
      break;
    }
    if (!header)
      return absl::InvalidArgumentError(fmt::format(
          "{}:{}: `-- shadowcopy: {}` comes after the first statement; options belong in the file's header",
          file, t.line, *word));
    RETURN_IF_ERROR(ApplyOption(file, t.line, *word, &script.options));
  }
  script.body = std::string(text.substr(0, verify_at));
  ASSIGN_OR_RETURN(script.statements, Split(file, script.body, 0));
  if (verify_at < text.size()) {
    ASSIGN_OR_RETURN(script.verify, Split(file, text.substr(verify_at), verify_line));
  }
  if (script.statements.empty())
    return absl::InvalidArgumentError(fmt::format("{}: no statement to run", file));
  if (script.options.transaction_file && !script.options.literal)
    for (const auto& s : script.statements) {
      if (RunsOutsideTransaction(s.sql))
        return absl::InvalidArgumentError(fmt::format(
            "{}:{}: this statement cannot run inside a transaction, and the file says transaction=file",
            file, s.line));
      if (s.in_transaction_block)
        return absl::InvalidArgumentError(fmt::format(
            "{}:{}: a file with transaction=file runs in one transaction already; remove its BEGIN/COMMIT",
            file, s.line));
    }
  return script;
}

std::string NormalizeForChecksum(std::string_view text) {
  if (text.substr(0, 3) == "\xEF\xBB\xBF") text.remove_prefix(3);
  std::string out;
  out.reserve(text.size());
  size_t i = 0;
  while (i <= text.size()) {
    size_t end = text.find_first_of("\r\n", i);
    std::string_view line = text.substr(i, end == std::string_view::npos ? std::string_view::npos : end - i);
    while (!line.empty() && (line.back() == ' ' || line.back() == '\t')) line.remove_suffix(1);
    out.append(line);
    if (end == std::string_view::npos) break;
    out.push_back('\n');
    i = end + ((text[end] == '\r' && end + 1 < text.size() && text[end + 1] == '\n') ? 2 : 1);
  }
  while (!out.empty() && out.back() == '\n') out.pop_back();
  return out;
}

std::string FileChecksum(std::string_view text) { return Sha256Hex(NormalizeForChecksum(text)); }

std::string StatementHash(std::string_view sql) { return Sha256Hex(NormalizeForChecksum(sql)).substr(0, 16); }

bool RunsOutsideTransaction(std::string_view sql_text) {
  auto tokens = sql::Tokenize(sql_text);
  if (!tokens.ok()) return false;
  std::vector<std::string> words;
  for (const sql::Token& t : *tokens)
    if (t.kind == sql::TokenKind::kIdentifier) words.push_back(Lower(t.text));
    else if (t.kind != sql::TokenKind::kComment) words.push_back("");
  if (words.empty()) return false;
  auto at = [&](size_t i) { return i < words.size() ? words[i] : std::string(); };
  const std::string& w0 = words[0];
  if (w0 == "vacuum") return true;
  if (w0 == "alter" && at(1) == "system") return true;
  if ((w0 == "create" || w0 == "drop") && (at(1) == "database" || at(1) == "tablespace")) return true;
  bool concurrently = std::find(words.begin(), words.end(), "concurrently") != words.end();
  if (!concurrently) return false;
  if (w0 == "reindex") return true;
  if (w0 == "create" && (at(1) == "index" || (at(1) == "unique" && at(2) == "index"))) return true;
  if (w0 == "drop" && at(1) == "index") return true;
  if (w0 == "alter" && at(1) == "table") return std::find(words.begin(), words.end(), "detach") != words.end();
  return false;
}

absl::StatusOr<std::vector<MigrationFile>> BuildMigrationSet(std::string_view dir,
                                                            const std::vector<DirectoryEntry>& entries) {
  std::vector<std::string> problems;
  std::map<std::string, MigrationFile> by_version;  // keyed by the version's ToString
  std::vector<std::pair<MigrationName, const DirectoryEntry*>> undos;
  for (const auto& e : entries) {
    auto name = ParseMigrationFileName(e.file);
    if (!name.ok()) {
      problems.emplace_back(name.status().message());
      continue;
    }
    if (!name->has_value()) continue;
    if ((*name)->kind == FileKind::kUndo) {
      undos.emplace_back(**name, &e);
      continue;
    }
    std::string key = (*name)->version.Key();
    auto [it, fresh] = by_version.try_emplace(key);
    if (!fresh) {
      problems.push_back(fmt::format("{} and {} have the same version {}", it->second.file, e.file, key));
      continue;
    }
    MigrationFile& f = it->second;
    f.name = **name;
    f.file = e.file;
    f.path = fmt::format("{}/{}", dir, e.file);
    f.text = e.text;
    f.checksum = FileChecksum(e.text);
  }
  for (const auto& [name, entry] : undos) {
    const std::string& file = entry->file;
    std::string key = name.version.Key();
    auto it = by_version.find(key);
    if (it == by_version.end())
      problems.push_back(fmt::format("{} undoes version {}, which has no migration file", file, name.version.ToString()));
    else if (it->second.undo_file)
      problems.push_back(fmt::format("{} and {} both undo version {}", *it->second.undo_file, file, key));
    else {
      it->second.undo_file = file;
      it->second.undo_text = entry->text;
      it->second.undo_checksum = FileChecksum(entry->text);
    }
  }
  if (!problems.empty()) {
    std::sort(problems.begin(), problems.end());
    std::string msg = fmt::format("{}: {} problem{}: ", dir, problems.size(), problems.size() == 1 ? "" : "s");
    for (size_t i = 0; i < problems.size(); ++i) msg += (i ? "; " : "") + problems[i];
    return absl::InvalidArgumentError(msg);
  }
  std::vector<MigrationFile> out;
  for (auto& [k, f] : by_version) out.push_back(std::move(f));
  std::sort(out.begin(), out.end(),
            [](const MigrationFile& a, const MigrationFile& b) { return a.name.version < b.name.version; });
  return out;
}

}  // namespace shadowcopy::workflow
