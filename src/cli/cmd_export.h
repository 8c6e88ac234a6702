#pragma once
#include <CLI/CLI.hpp>
namespace earshot::cli {
// earshot export [--db F] [--model M] --format npy|jsonl [--out F]
void setup_export(CLI::App& app);
}  // namespace earshot::cli
