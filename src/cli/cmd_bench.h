#pragma once
#include <CLI/CLI.hpp>
namespace earshot::cli {
// earshot bench [ingest|search|all] [--dataset DIR] [--files N] [--model M]... [--n N] [--dim D]
//               [--queries Q] [--threads T] [--format md|json]
void setup_bench(CLI::App& app);
}  // namespace earshot::cli
