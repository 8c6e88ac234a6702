#pragma once
#include <CLI/CLI.hpp>
namespace earshot::cli {
// earshot migrate --from DB --to DB [--merge] [--json]: copies a catalog (SQLite file or
// PostgreSQL URI) into another.
void setup_migrate(CLI::App& app);
}  // namespace earshot::cli
