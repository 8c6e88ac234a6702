#include "engine/benchmark.h"

#include <algorithm>
#include <chrono>
#include <random>

#include <fmt/format.h>

#include "audio/decoder.h"
#include "catalog/catalog.h"
#include "core/thread_pool.h"
#include "engine/engine.h"
#include "index/flat_index.h"
#include "index/vector_index.h"
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

Result<std::vector<IndexBenchRow>> bench_index(const IndexBenchOptions& options) {
    Matrix data;
    Matrix queries;
    std::string data_name = "synthetic";
    const std::size_t nq = options.queries;
    if (!options.db.empty()) {
        CatalogOptions co;
        co.create_if_missing = false;
        co.read_only = true;
        EARSHOT_ASSIGN_OR_RETURN(auto cat, Catalog::open(options.db, co));
        EARSHOT_ASSIGN_OR_RETURN(auto set, cat->load_embeddings(options.space));
        if (set.ids.size() <= nq) {
            return make_error(ErrorCode::kInvalidArgument,
                              "bench index: the space has too few vectors for the queries");
        }
        // Hold out nq rows (fixed seed) as queries.
        std::vector<std::size_t> order(set.ids.size());
        for (std::size_t i = 0; i < order.size(); ++i) order[i] = i;
        std::mt19937 rng(1234);
        std::shuffle(order.begin(), order.end(), rng);
        const std::size_t n = std::min(options.n, order.size() - nq);
        const auto d = set.vectors.n_cols;
        data = Matrix(n, d);
        queries = Matrix(nq, d);
        for (std::size_t i = 0; i < nq; ++i)
            std::copy_n(set.vectors.row(order[i]), d, queries.row(i));
        for (std::size_t i = 0; i < n; ++i)
            std::copy_n(set.vectors.row(order[nq + i]), d, data.row(i));
        data_name = options.space + "@" + options.db.filename().string();
    } else {
        std::mt19937 rng(1234);
        std::normal_distribution<float> gauss(0.0f, 1.0f);
        const auto d = static_cast<std::size_t>(options.dim);
        constexpr std::size_t kClusters = 100;
        Matrix centres(kClusters, d);
        for (auto& v : centres.data) v = gauss(rng);
        Matrix all(options.n + nq, d);
        std::uniform_int_distribution<std::size_t> pick(0, kClusters - 1);
        for (std::size_t i = 0; i < all.n_rows; ++i) {
            const float* c = centres.row(pick(rng));
            for (std::size_t j = 0; j < d; ++j) all.at(i, j) = c[j] + 0.5f * gauss(rng);
        }
        data = Matrix(options.n, d);
        std::copy_n(all.data.begin(), options.n * d, data.data.begin());
        queries = Matrix(nq, d);
        std::copy_n(all.data.begin() + static_cast<std::ptrdiff_t>(options.n * d), nq * d,
                    queries.data.begin());
    }
    const int dim = static_cast<int>(data.n_cols);
    std::vector<std::int64_t> ids(data.n_rows);
    for (std::size_t i = 0; i < ids.size(); ++i) ids[i] = static_cast<std::int64_t>(i + 1);

    // Ground truth.
    FlatIndex exact(dim, options.metric);
    EARSHOT_RETURN_IF_ERROR(exact.add(ids, data));
    std::vector<std::vector<std::int64_t>> truth(nq);
    for (std::size_t q = 0; q < nq; ++q) {
        SearchOptions so;
        so.k = options.k;
        EARSHOT_ASSIGN_OR_RETURN(auto hits, exact.search(queries.row_span(q), so));
        for (const auto& h : hits) truth[q].push_back(h.id);
    }

    std::vector<IndexBenchRow> rows;
    for (const auto& spec : options.specs) {
        auto t0 = std::chrono::steady_clock::now();
        EARSHOT_ASSIGN_OR_RETURN(auto index, make_index(spec, dim, options.metric));
        index->set_threads(0);
        EARSHOT_RETURN_IF_ERROR(index->add(ids, data));
        const double build_s = seconds_since(t0);
        const double per_item =
            static_cast<double>(index->memory_bytes()) / static_cast<double>(data.n_rows);
        const bool approximate = index->spec().kind != "flat";
        std::vector<std::size_t> efs =
            approximate ? options.ef_search : std::vector<std::size_t>{0};
        for (std::size_t ef : efs) {
            for (int threads : options.query_threads) {
                std::vector<double> lat(nq);
                std::vector<double> recall(nq);
                auto t_all = std::chrono::steady_clock::now();
                parallel_for(nq, threads, 1, [&](std::size_t b, std::size_t e) {
                    for (std::size_t q = b; q < e; ++q) {
                        SearchOptions so;
                        so.k = options.k;
                        so.ef_search = ef;
                        so.threads = 1;
                        auto tq = std::chrono::steady_clock::now();
                        auto hits = index->search(queries.row_span(q), so);
                        lat[q] = seconds_since(tq) * 1000.0;
                        std::size_t found = 0;
                        if (hits) {
                            for (const auto& h : *hits) {
                                found += static_cast<std::size_t>(
                                    std::count(truth[q].begin(), truth[q].end(), h.id));
                            }
                        }
                        recall[q] = truth[q].empty() ? 1.0
                                                     : static_cast<double>(found) /
                                                           static_cast<double>(truth[q].size());
                    }
                });
                const double total = seconds_since(t_all);
                IndexBenchRow row;
                row.spec = index->spec().text;
                row.data = data_name;
                row.n = data.n_rows;
                row.dim = dim;
                row.metric = options.metric;
                row.build_s = build_s;
                row.bytes_per_item = per_item;
                row.ef_search = approximate ? std::max(ef, options.k) : 0;
                row.threads = threads;
                std::sort(lat.begin(), lat.end());
                row.p50_ms = lat[lat.size() / 2];
                row.p99_ms = lat[std::min(lat.size() - 1, lat.size() * 99 / 100)];
                row.qps = static_cast<double>(nq) / total;
                double sum = 0;
                for (double r : recall) sum += r;
                row.recall_at_k = sum / static_cast<double>(nq);
                rows.push_back(row);
            }
        }
    }
    return rows;
}

}  // namespace earshot
