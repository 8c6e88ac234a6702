#pragma once
#include <CLI/CLI.hpp>
namespace earshot::cli {
// earshot check [--db F] [--json]: integrity of the catalog and its index files (exit 4 if not).
void setup_check(CLI::App& app);
}  // namespace earshot::cli
