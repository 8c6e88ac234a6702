// Options and helpers shared by the subcommands: --db/--models-dir/--threads flags, JSON output,
// the progress bar, and opening the engine.
#pragma once

#include <cstdio>
#include <memory>
#include <string>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "core/format.h"
#include "engine/engine.h"
#include "index/vector_index.h"

namespace earshot::cli {

inline constexpr const char* kDefaultDb = "library.earshot";

struct CommonOptions {
    std::string db = kDefaultDb;
    std::string models_dir;
    int threads = 0;
    std::string index_dir;  // --index-dir (empty: EngineOptions default)
};

// Adds --db (env EARSHOT_DB), --models-dir (env EARSHOT_MODELS_DIR) and --threads to cmd.
void add_common_options(CLI::App& cmd, CommonOptions& opts, bool with_db = true);

// Opens the engine; create = create the catalog if missing (only `index` does).
Result<std::unique_ptr<Engine>> open_engine(const CommonOptions& opts, bool create);

// Prints pretty JSON to stdout.
void print_json(const nlohmann::json& j);

// [{"path": ..., "reason": ...}] of the files a batch skipped; paths as server::put_bytes_field
// (reversible for paths that are not UTF-8).
nlohmann::json failures_json(const std::vector<IndexFailure>& failures);

// A one-line progress bar on stderr (only when stderr is a terminal; otherwise silent).
class ProgressBar {
public:
    explicit ProgressBar(bool enabled);
    void update(std::size_t done, std::size_t total, const std::string& detail);
    void finish();

private:
    bool enabled_;
    double start_s_;
    double last_draw_s_ = -1.0;
    bool drawn_ = false;
};

// Help texts for the flags whose defaults live in the engine and index constants, built from
// those constants so `--help` cannot drift from the code (a test also checks docs/cli.md).
std::string model_help(const std::string& what = "Embedding model / space");

// A --folder filter as the catalog compares it: an existing directory made absolute and
// normalised (no trailing '/'), anything else as given (keys relative to an index --root).
std::string folder_filter(const std::string& folder);

double now_seconds();
std::string format_duration(double seconds);

}  // namespace earshot::cli
