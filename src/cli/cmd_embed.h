#pragma once
#include <CLI/CLI.hpp>
namespace earshot::cli {
// earshot embed FILE [--model M] [--json] [--top-labels N] [--no-trim]
void setup_embed(CLI::App& app);
}  // namespace earshot::cli
