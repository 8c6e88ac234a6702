#include "cli/common.h"

#include <chrono>
#include <iostream>
#include <unistd.h>

#include <fmt/format.h>

#include "core/file_util.h"
#include "core/utf8.h"
#include "engine/json_shapes.h"
#include "index/vector_index.h"

namespace earshot::cli {

void add_common_options(CLI::App& cmd, CommonOptions& opts, bool with_db) {
    if (with_db) {
        cmd.add_option("--db", opts.db,
                       "Catalog: an SQLite file, or a PostgreSQL URI (postgresql://USER@HOST/DB)")
            ->envname("EARSHOT_DB")
            ->capture_default_str();
        cmd.add_option("--index-dir", opts.index_dir,
                       "Folder for ANN index files (default: <db>.idx/ for a file, "
                       "$XDG_CACHE_HOME/earshot/pg-<hash>/ for PostgreSQL)")
            ->envname("EARSHOT_INDEX_DIR");
    }
    cmd.add_option(
        "--models-dir", opts.models_dir,
        "Folder holding model folders (yamnet/, mn04_as/, ...); default: "
        "$EARSHOT_MODELS_DIR, then ../shared/models, then ~/.local/share/earshot/models");
    cmd.add_option("--threads", opts.threads, "Worker threads (0 = all cores)")
        ->capture_default_str();
}

Result<std::unique_ptr<Engine>> open_engine(const CommonOptions& opts, bool create) {
    EngineOptions eo;
    eo.db_path = opts.db;
    eo.models_dir = opts.models_dir;
    eo.threads = opts.threads;
    eo.index_dir = opts.index_dir;
    eo.create_if_missing = create;
    if (!create && !is_postgres_uri(opts.db) && !std::filesystem::exists(eo.db_path)) {
        return make_error(ErrorCode::kNotFound,
                          fmt::format("catalog '{}' does not exist (create it with `earshot index "
                                      "FOLDER --db {}`)",
                                      opts.db, opts.db));
    }
    return Engine::open(eo);
}

void print_json(const nlohmann::json& j) {
    // Byte strings are encoded by their producers (put_bytes_field); replacement here
    // only keeps a stray invalid byte (e.g. in an error message) from throwing.
    std::cout << j.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
}

nlohmann::json failures_json(const std::vector<IndexFailure>& failures) {
    nlohmann::json out = nlohmann::json::array();
    for (const auto& f : failures) {
        nlohmann::json fail = nlohmann::json::object();
        put_bytes_field(fail, "path", f.path);
        fail["reason"] = utf8_lossy(f.reason);
        out.push_back(std::move(fail));
    }
    return out;
}

double now_seconds() {
    return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch())
        .count();
}

std::string format_duration(double seconds) {
    auto s = static_cast<long long>(seconds + 0.5);
    if (s >= 3600)
        return fmt::format("{}:{:02}:{:02}", s / 3600, (s / 60) % 60, s % 60);
    return fmt::format("{}:{:02}", s / 60, s % 60);
}

ProgressBar::ProgressBar(bool enabled)
    : enabled_(enabled && isatty(STDERR_FILENO) != 0), start_s_(now_seconds()) {}

void ProgressBar::update(std::size_t done, std::size_t total, const std::string& detail) {
    if (!enabled_ || total == 0)
        return;
    double now = now_seconds();
    if (done < total && now - last_draw_s_ < 0.1)
        return;
    last_draw_s_ = now;
    constexpr int kWidth = 30;
    double frac = static_cast<double>(done) / static_cast<double>(total);
    int filled = static_cast<int>(frac * kWidth);
    double elapsed = now - start_s_;
    double rate = elapsed > 0 ? static_cast<double>(done) / elapsed : 0.0;
    std::string eta =
        rate > 0 && done < total ? format_duration(static_cast<double>(total - done) / rate) : "-";
    std::string name = detail;
    if (name.size() > 32)
        name = "..." + name.substr(name.size() - 29);
    std::fprintf(stderr, "\r[%s%s] %zu/%zu %3d%%  %.1f files/s  eta %s  %-32s",
                 std::string(static_cast<std::size_t>(filled), '#').c_str(),
                 std::string(static_cast<std::size_t>(kWidth - filled), ' ').c_str(), done, total,
                 static_cast<int>(frac * 100.0), rate, eta.c_str(), name.c_str());
    std::fflush(stderr);
    drawn_ = true;
}

void ProgressBar::finish() {
    if (drawn_)
        std::fprintf(stderr, "\n");
    drawn_ = false;
}

std::string model_help(const std::string& what) {
    return fmt::format(
        "{} (default: {} if the catalog has it, else the catalog's first space; see `earshot "
        "models`)",
        what, default_model());
}

std::string folder_filter(const std::string& folder) {
    if (folder.empty())
        return folder;
    std::error_code ec;
    if (!std::filesystem::is_directory(folder, ec))
        return folder;
    auto abs = std::filesystem::absolute(folder, ec);
    if (ec)
        return folder;
    std::string out = abs.lexically_normal().string();
    while (out.size() > 1 && out.back() == '/') out.pop_back();
    return out;
}

}  // namespace earshot::cli
