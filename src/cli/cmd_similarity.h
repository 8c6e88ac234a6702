#pragma once
#include <CLI/CLI.hpp>
namespace earshot::cli {
// earshot similarity A B --model siamese:MODEL [--json]: the learned pair score in [0, 1].
void setup_similarity(CLI::App& app);
}  // namespace earshot::cli
