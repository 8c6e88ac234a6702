#pragma once
#include <CLI/CLI.hpp>
namespace earshot::cli {
// earshot index PATH... [--db F] [--model M] [--threads N] [--force] [--json]
void setup_index(CLI::App& app);
}  // namespace earshot::cli
