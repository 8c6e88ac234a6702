#pragma once
#include <CLI/CLI.hpp>
namespace earshot::cli {
// earshot search QUERY [METRIC [K]] [--db F] [-k N] [--metric M] [--model M]
//                [--min-duration S] [--max-duration S] [--id ID] [--json]
void setup_search(CLI::App& app);
}  // namespace earshot::cli
