#pragma once

#include <CLI/CLI.hpp>

namespace earshot::cli {

// earshot dedup [--db F] [--model M] [--threshold T] [--json]
void setup_dedup(CLI::App& app);

}  // namespace earshot::cli
