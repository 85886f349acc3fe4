// Formats the dry run's plan for the terminal (pure).
//
// Thread-safety: stateless.
#ifndef SHADOWCOPY_ENGINE_REWRITE_PLAN_PRINTER_H_
#define SHADOWCOPY_ENGINE_REWRITE_PLAN_PRINTER_H_

#include <string>

#include "engine/control/config.h"
#include "engine/rewrite/shadow_builder.h"
#include "engine/rewrite/swap.h"
#include "engine/table/inspector.h"

namespace shadowcopy::engine {

// `swap` holds the cutover statements, built in the dry run's rolled-back
// transaction but not run there (they are rehearsed under the table's lock at
// the start of --execute).
std::string FormatPlan(const Config& config, const Inspection& in, const ShadowPlan& plan,
                       const SwapStatements& swap);

}  // namespace shadowcopy::engine

#endif  // SHADOWCOPY_ENGINE_REWRITE_PLAN_PRINTER_H_
