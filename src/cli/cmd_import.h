#pragma once

#include <CLI/CLI.hpp>

namespace earshot::cli {

// earshot import FILE --space NAME [--db F] [--format csv|jsonl|npy] [--quantized auto|yes|no]
//                [--metadata M.jsonl] [--json]
void setup_import(CLI::App& app);

}  // namespace earshot::cli
