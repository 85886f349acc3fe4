#include "engine/rewrite/swap.h"

#include "common/quote.h"
#include "engine/table/inspector.h"
#include "engine/table/sql_builder.h"
#include "fmt/format.h"

namespace shadowcopy::engine {
namespace {

const MappedColumn* FindBySource(const TableModel& m, const std::string& name) {
  for (const auto& c : m.columns)
    if (c.source_name == name) return &c;
  return nullptr;
}

std::string GrantSql(const Grant& g, const std::string& object, const std::string& columns = "") {
  return fmt::format("GRANT {}{} ON {} TO {}{}", g.privilege, columns, object,
                     g.grantee.empty() ? "PUBLIC" : QuoteIdent(g.grantee),
                     g.grantable ? " WITH GRANT OPTION" : "");
}

std::string WithoutSemicolon(std::string s) {
  while (!s.empty() && (s.back() == ';' || s.back() == ' ' || s.back() == '\n')) s.pop_back();
  return s;
}

std::string AddForeignKeySql(const ForeignKey& fk) {
  // NOT VALID: adding it takes no long scan under the lock; validated after.
  bool already = fk.definition.find(" NOT VALID") != std::string::npos;
  return fmt::format("ALTER TABLE {} ADD CONSTRAINT {} {}{}", fk.table, QuoteIdent(fk.name),
                     fk.definition, already ? "" : " NOT VALID");
}

// Everything that is dropped before the renames: objects bound to the
// original by oid that must follow the name instead.
void DropDependents(const SwapCatalog& cat, const std::string& orig, std::vector<std::string>* out) {
  for (auto it = cat.views.rbegin(); it != cat.views.rend(); ++it)
    out->push_back(fmt::format("DROP VIEW {}", it->name));
  for (const auto& fk : cat.incoming_fks)
    out->push_back(fmt::format("ALTER TABLE {} DROP CONSTRAINT {}", fk.table, QuoteIdent(fk.name)));
  // The old table's own foreign keys would keep checking the rows it no longer
  // serves (a parent row could not be deleted because of an old order).
  for (const auto& fk : cat.outgoing_fks)
    out->push_back(fmt::format("ALTER TABLE {} DROP CONSTRAINT {}", orig, QuoteIdent(fk.name)));
  for (const auto& p : cat.publications)
    out->push_back(fmt::format("ALTER PUBLICATION {} DROP TABLE ONLY {}", QuoteIdent(p.publication), orig));
}

void RenameObjects(const ShadowPlan& plan, std::vector<std::string>* out) {
  const auto& n = plan.model.names;
  out->push_back(fmt::format("ALTER TABLE {} RENAME TO {}", QualifiedName(n.schema, n.table),
                             QuoteIdent(n.old_table)));
  // Indexes (and the constraints they back) take the original's names:
  // application code names them (ON CONFLICT ON CONSTRAINT orders_pkey).
  for (const auto& [orig_index, shadow_index] : plan.index_names) {
    out->push_back(fmt::format("ALTER INDEX {} RENAME TO {}", QualifiedName(n.schema, orig_index),
                               QuoteIdent(OldObjectName(orig_index, n.old_suffix))));
    if (shadow_index.empty()) continue;  // dropped by the ALTER, or INVALID and left out
    out->push_back(fmt::format("ALTER INDEX {} RENAME TO {}", QualifiedName(n.schema, shadow_index),
                               QuoteIdent(orig_index)));
  }
  for (const auto& s : plan.statistics_names) {
    out->push_back(fmt::format("ALTER STATISTICS {} RENAME TO {}", QualifiedName(s.orig_schema, s.orig_name),
                               QuoteIdent(OldObjectName(s.orig_name, n.old_suffix))));
    if (s.shadow_name.empty()) continue;  // the ALTER dropped it
    out->push_back(fmt::format("ALTER STATISTICS {} RENAME TO {}", QualifiedName(s.shadow_schema, s.shadow_name),
                               QuoteIdent(s.orig_name)));
  }
  out->push_back(fmt::format("ALTER TABLE {} RENAME TO {}", QualifiedName(n.schema, n.shadow),
                             QuoteIdent(n.table)));
}

void TableSettings(const ShadowPlan& plan, const SwapCatalog& cat, const std::string& orig,
                   std::vector<std::string>* out) {
  for (const auto& g : cat.grants) out->push_back(GrantSql(g, orig));
  for (const auto& cg : cat.column_grants) {
    const MappedColumn* c = FindBySource(plan.model, cg.column);
    if (c == nullptr || !c->kept) continue;
    out->push_back(GrantSql(cg.grant, orig, fmt::format(" ({})", QuoteIdent(c->target_name))));
  }
  if (cat.comment) out->push_back(fmt::format("COMMENT ON TABLE {} IS {}", orig, QuoteLiteral(*cat.comment)));
  // Autovacuum was off on the shadow while it was ours; restore the original's.
  std::string reset, set;
  if (cat.autovacuum_enabled.empty()) reset = "autovacuum_enabled";
  else set = "autovacuum_enabled = " + QuoteLiteral(cat.autovacuum_enabled);
  if (cat.toast_autovacuum_enabled.empty()) {
    reset += std::string(reset.empty() ? "" : ", ") + "toast.autovacuum_enabled";
  } else {
    set += std::string(set.empty() ? "" : ", ") + "toast.autovacuum_enabled = " +
           QuoteLiteral(cat.toast_autovacuum_enabled);
  }
  if (!reset.empty()) out->push_back(fmt::format("ALTER TABLE {} RESET ({})", orig, reset));
  if (!set.empty()) out->push_back(fmt::format("ALTER TABLE {} SET ({})", orig, set));
  if (cat.replica_identity == 'f')
    out->push_back(fmt::format("ALTER TABLE {} REPLICA IDENTITY FULL", orig));
  if (cat.replica_identity == 'i' && !cat.replica_identity_index.empty())
    out->push_back(fmt::format("ALTER TABLE {} REPLICA IDENTITY USING INDEX {}", orig,
                               QuoteIdent(cat.replica_identity_index)));
  // The CLUSTER ON mark, when the ALTER kept that index (it has the
  // original's name on the new table by now).
  for (const auto& [orig_index, shadow_index] : plan.index_names)
    if (!cat.clustered_index.empty() && orig_index == cat.clustered_index && !shadow_index.empty())
      out->push_back(fmt::format("ALTER TABLE {} CLUSTER ON {}", orig, QuoteIdent(orig_index)));
}

void Triggers(const SwapCatalog& cat, const std::string& orig, std::vector<std::string>* out) {
  for (const auto& t : cat.triggers) {
    out->push_back(t.definition);
    const char* state = t.enabled == 'D' ? "DISABLE" : t.enabled == 'R' ? "ENABLE REPLICA"
                        : t.enabled == 'A' ? "ENABLE ALWAYS" : nullptr;
    if (state) out->push_back(fmt::format("ALTER TABLE {} {} TRIGGER {}", orig, state, QuoteIdent(t.name)));
    if (t.comment)
      out->push_back(fmt::format("COMMENT ON TRIGGER {} ON {} IS {}", QuoteIdent(t.name), orig,
                                 QuoteLiteral(*t.comment)));
  }
}

void Security(const SwapCatalog& cat, const std::string& orig, std::vector<std::string>* out) {
  if (cat.row_security) out->push_back(fmt::format("ALTER TABLE {} ENABLE ROW LEVEL SECURITY", orig));
  if (cat.force_row_security) out->push_back(fmt::format("ALTER TABLE {} FORCE ROW LEVEL SECURITY", orig));
  for (const auto& p : cat.policies) {
    out->push_back(fmt::format("CREATE POLICY {} ON {} {}", QuoteIdent(p.name), orig, p.clauses));
    if (p.comment)
      out->push_back(fmt::format("COMMENT ON POLICY {} ON {} IS {}", QuoteIdent(p.name), orig,
                                 QuoteLiteral(*p.comment)));
  }
}

void Views(const SwapCatalog& cat, std::vector<std::string>* out) {
  for (const auto& v : cat.views) {
    std::string with = v.options.empty() ? "" : fmt::format(" WITH ({})", v.options);
    out->push_back(fmt::format("CREATE VIEW {}{} AS {}", v.name, with, WithoutSemicolon(v.definition)));
    out->push_back(fmt::format("ALTER VIEW {} OWNER TO {}", v.name, QuoteIdent(v.owner)));
    for (const auto& g : v.grants) out->push_back(GrantSql(g, v.name));
    if (v.comment) out->push_back(fmt::format("COMMENT ON VIEW {} IS {}", v.name, QuoteLiteral(*v.comment)));
  }
}

}  // namespace

SwapStatements BuildSwapStatements(const ShadowPlan& plan, const SwapCatalog& cat) {
  const auto& n = plan.model.names;
  std::string orig = QualifiedName(n.schema, n.table);
  SwapStatements result;
  auto* out = &result.in_lock;
  InheritanceSwap tree = BuildInheritanceSwap(cat.inheritance, orig);
  out->insert(out->end(), tree.detach.begin(), tree.detach.end());
  DropDependents(cat, orig, out);
  RenameObjects(plan, out);
  out->insert(out->end(), tree.attach.begin(), tree.attach.end());
  // From here on `orig` names the new table.
  for (const auto& s : cat.sequences) {
    const MappedColumn* c = FindBySource(plan.model, s.column);
    if (c == nullptr || !c->kept) continue;
    if (s.identity) {
      // An identity sequence cannot be re-owned: move the new one to the old
      // one's position so generated keys never collide.
      out->push_back(fmt::format(
          "SELECT setval(pg_get_serial_sequence({}, {}), s.last_value, s.is_called) FROM {} AS s",
          QuoteLiteral(orig), QuoteLiteral(c->target_name), s.sequence));
      // The new identity sequence takes the old one's name, after the commit:
      // renaming takes a lock that a writer holding nextval() on the old one
      // (queued behind our table lock) would deadlock with.
      if (!s.shadow_sequence.empty() && !s.sequence_name.empty()) {
        result.after_commit.push_back(fmt::format("ALTER SEQUENCE {} RENAME TO {}", s.sequence,
                                                  QuoteIdent(OldObjectName(s.sequence_name, n.old_suffix))));
        result.after_commit.push_back(fmt::format("ALTER SEQUENCE {} RENAME TO {}", s.shadow_sequence,
                                                  QuoteIdent(s.sequence_name)));
      }
    } else {
      // Otherwise dropping the old table would drop the sequence the new
      // table's default calls.
      result.after_commit.push_back(fmt::format("ALTER SEQUENCE {} OWNED BY {}.{}", s.sequence, orig,
                                                QuoteIdent(c->target_name)));
    }
  }
  for (const auto* list : {&cat.outgoing_fks, &cat.incoming_fks}) {
    for (const auto& fk : *list) {
      ForeignKey f = fk;
      if (list == &cat.outgoing_fks) f.table = orig;
      out->push_back(AddForeignKeySql(f));
      if (f.comment)
        out->push_back(fmt::format("COMMENT ON CONSTRAINT {} ON {} IS {}", QuoteIdent(f.name), f.table,
                                   QuoteLiteral(*f.comment)));
      if (f.validated)
        result.after_commit.push_back(
            fmt::format("ALTER TABLE {} VALIDATE CONSTRAINT {}", f.table, QuoteIdent(f.name)));
    }
  }
  Triggers(cat, orig, out);
  Security(cat, orig, out);
  TableSettings(plan, cat, orig, out);
  for (const auto& p : cat.publications) {
    // ONLY: an inheritance parent's children keep their own memberships.
    out->push_back(fmt::format("ALTER PUBLICATION {} ADD TABLE ONLY {}{}{}", QuoteIdent(p.publication), orig,
                               p.columns.empty() ? "" : " " + p.columns,
                               p.filter.empty() ? "" : " " + p.filter));
  }
  Views(cat, out);
  return result;
}

}  // namespace shadowcopy::engine
