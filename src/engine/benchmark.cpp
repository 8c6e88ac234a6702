#include "engine/benchmark.h"

#include <algorithm>
#include <chrono>
#include <random>

#include <fmt/format.h>

#include "audio/decoder.h"
#include "core/thread_pool.h"
#include "engine/engine.h"
#include "index/flat_index.h"
#include "models/model_registry.h"
#include "models/pooling.h"

namespace earshot {
namespace fs = std::filesystem;

namespace {
double seconds_since(std::chrono::steady_clock::time_point t0) {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}
}  // namespace

Result<std::vector<IngestBenchRow>> bench_ingest(const IngestBenchOptions& options) {
    std::vector<fs::path> files;
    std::error_code ec;
    for (fs::recursive_directory_iterator it(options.folder, ec), end; !ec && it != end;
         it.increment(ec)) {
        if (!it->is_regular_file())
            continue;
        auto ext = it->path().extension().string();
        std::transform(ext.begin(), ext.end(), ext.begin(), ::tolower);
        const auto& exts = audio_extensions();
        if (std::find(exts.begin(), exts.end(), ext) != exts.end())
            files.push_back(it->path());
    }
    if (ec) {
        return make_error(ErrorCode::kInvalidArgument,
                          fmt::format("'{}': {}", options.folder.string(), ec.message()));
    }
    std::sort(files.begin(), files.end());
    if (files.size() > options.max_files)
        files.resize(options.max_files);
    if (files.empty()) {
        return make_error(ErrorCode::kInvalidArgument,
                          fmt::format("no audio files under '{}'", options.folder.string()));
    }
    std::vector<std::string> names = options.models;
    if (names.empty()) {
        for (const auto& k : model_kinds()) {
            if (*k.folder == '\0' || find_model_dir(k, options.models_dir))
                names.emplace_back(k.name);
        }
    }
    const int threads = options.threads > 0 ? options.threads : hardware_threads();
    std::vector<IngestBenchRow> rows;
    for (const auto& name : names) {
        ModelOptions mo;
        mo.models_dir = options.models_dir;
        mo.threads = 1;  // one file per worker thread, as `earshot index` does
        EARSHOT_ASSIGN_OR_RETURN(auto model, make_model(name, mo));
        set_inference_threads(1);
        const int rate = model->info().sample_rate_hz;
        // Decode all files first (timed), then embed (timed), both with `threads` workers.
        std::vector<AudioBuffer> audio(files.size());
        auto t0 = std::chrono::steady_clock::now();
        parallel_for(files.size(), threads, 1, [&](std::size_t b, std::size_t e) {
            for (std::size_t i = b; i < e; ++i) {
                DecodeOptions d;
                d.target_sample_rate_hz = rate;
                auto a = decode_audio(files[i], d);
                if (a)
                    audio[i] = std::move(*a);
            }
        });
        IngestBenchRow row;
        row.model = name;
        row.threads = threads;
        row.files = files.size();
        row.decode_s = seconds_since(t0);
        for (const auto& a : audio) row.audio_s += a.duration_s();
        t0 = std::chrono::steady_clock::now();
        parallel_for(files.size(), threads, 1, [&](std::size_t b, std::size_t e) {
            for (std::size_t i = b; i < e; ++i) {
                auto emb = model->embed(audio[i].samples);
                if (emb)
                    (void)pool_segments(*emb, audio[i].samples, rate);
            }
        });
        row.embed_s = seconds_since(t0);
        rows.push_back(row);
    }
    set_inference_threads(options.threads);
    return rows;
}

Result<std::vector<SearchBenchRow>> bench_search(const SearchBenchOptions& options) {
    // Synthetic clustered data: 100 Gaussian clusters, fixed seed.
    std::mt19937 rng(1234);
    std::normal_distribution<float> gauss(0.0f, 1.0f);
    const std::size_t n = options.n;
    const auto d = static_cast<std::size_t>(options.dim);
    constexpr std::size_t kClusters = 100;
    Matrix centres(kClusters, d);
    for (auto& v : centres.data) v = gauss(rng);
    Matrix data(n, d);
    std::vector<std::int64_t> ids(n);
    for (std::size_t i = 0; i < n; ++i) {
        ids[i] = static_cast<std::int64_t>(i + 1);
        const float* c = centres.row(i % kClusters);
        float* r = data.row(i);
        for (std::size_t j = 0; j < d; ++j) r[j] = c[j] + 0.5f * gauss(rng);
    }
    std::vector<SearchBenchRow> rows;
    for (Metric metric : options.metrics) {
        SearchBenchRow row;
        row.metric = metric;
        row.n = n;
        row.dim = options.dim;
        row.threads = options.threads > 0 ? options.threads : hardware_threads();
        auto t0 = std::chrono::steady_clock::now();
        FlatIndex index(options.dim, metric);
        EARSHOT_RETURN_IF_ERROR(index.add(ids, data));
        row.build_s = seconds_since(t0);
        std::vector<double> lat;
        SearchOptions so;
        so.k = options.k;
        so.threads = options.threads;
        auto t_all = std::chrono::steady_clock::now();
        for (std::size_t q = 0; q < options.queries; ++q) {
            std::vector<float> query(data.row((q * 7919) % n), data.row((q * 7919) % n) + d);
            for (auto& v : query) v += 0.1f * gauss(rng);
            auto tq = std::chrono::steady_clock::now();
            EARSHOT_ASSIGN_OR_RETURN(auto hits, index.search(query, so));
            lat.push_back(seconds_since(tq) * 1000.0);
            (void)hits;
        }
        double total = seconds_since(t_all);
        std::sort(lat.begin(), lat.end());
        row.p50_ms = lat[lat.size() / 2];
        row.p99_ms = lat[std::min(lat.size() - 1, lat.size() * 99 / 100)];
        row.qps = static_cast<double>(options.queries) / total;
        rows.push_back(row);
    }
    return rows;
}

}  // namespace earshot
