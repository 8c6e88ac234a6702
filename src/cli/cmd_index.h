#pragma once
#include <CLI/CLI.hpp>
namespace earshot::cli {
// earshot index PATH... [--db F] [--model M] [--threads N] [--force] [--json]
void setup_index(CLI::App& app);
// `earshot worker`: joins the ingest queued in a PostgreSQL catalog.
void setup_worker(CLI::App& app);
// --root and --lease (index, worker).
void add_shared_ingest_options(CLI::App& cmd, std::string& root, double& lease_s);
}  // namespace earshot::cli
