#pragma once
#include <CLI/CLI.hpp>
namespace earshot::cli {
// earshot list [--db F] [--query TEXT] [--offset N] [--limit N] [--json]
void setup_list(CLI::App& app);
// earshot tags [--db F] [--query TEXT] [--tag T]... [--folder DIR] [--json]
void setup_tags(CLI::App& app);
// earshot info [--db F] [--json]
void setup_info(CLI::App& app);
// earshot remove PATH... [--db F]
void setup_remove(CLI::App& app);
// earshot models [--models-dir D] [--json]
void setup_models(CLI::App& app);
}  // namespace earshot::cli
