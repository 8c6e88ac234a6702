#pragma once
#include <CLI/CLI.hpp>
namespace earshot::cli {
// earshot serve [--db F] [--host 127.0.0.1] [--port 8080] [--web-dir DIR] [--max-upload-mb N]
void setup_serve(CLI::App& app);
}  // namespace earshot::cli
