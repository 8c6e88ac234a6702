#pragma once
#include <CLI/CLI.hpp>
namespace earshot::cli {
// earshot eval --manifest M.csv [--label-column C] [--exclude-column G] [--model M]
//              [--metric all|M] [--db F] [--json]
void setup_eval(CLI::App& app);
}  // namespace earshot::cli
