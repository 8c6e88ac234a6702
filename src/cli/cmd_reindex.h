#pragma once

#include <CLI/CLI.hpp>

namespace earshot::cli {

// earshot reindex --space NAME --index SPEC [--db F] [--metric M] [--force] [--json]
void setup_reindex(CLI::App& app);

}  // namespace earshot::cli
