// earshot_layout_eval: the map-layout measurement of docs/performance.md ("Library map layout").
// Times PCA (project_pca_2d) and the neighbour-graph layout (layout_knn_2d) side by side and, when
// labels are known, scores each map by the mean fraction of every point's 10 nearest 2-D
// neighbours that share its label.
//   earshot_layout_eval --synthetic N D [--clusters C]   Gaussian blobs (label = blob), cosine
//   earshot_layout_eval --db CATALOG --manifest CSV [--model M] [--column family]
//       the catalog's vectors of space M (its only space by default); labels from the manifest's
//       `column`, matched on the manifest's `path` as the end of the item's path.
//   Common: [--seed 42] [--threads 2] [--epochs 0] [--neighbors 15] [--min-dist 0.1]
//       [--sample 20000] (KnnLayoutOptions::sample_size; 0 = lay out every row)
//       [--place-epochs 0] [--ef 64] (HNSW efSearch) [--full] (also the layout without sampling,
//       sample_size 0, in the same run: the before/after of the sampled path)
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <random>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "catalog/catalog.h"
#include "core/csv.h"
#include "core/thread_pool.h"
#include "engine/map_layout.h"
#include "engine/projection.h"

using namespace earshot;

namespace {

double seconds_since(std::chrono::steady_clock::time_point t0) {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

// Mean fraction of each labelled point's k nearest 2-D neighbours (labelled ones) with its label.
// Exact, on a uniform grid of cells so that 100k points take seconds.
double label_agreement(const std::vector<float>& xy, const std::vector<int>& labels, int k) {
    const std::size_t n = labels.size();
    std::vector<std::size_t> pts;
    for (std::size_t i = 0; i < n; ++i)
        if (labels[i] >= 0)
            pts.push_back(i);
    if (pts.size() <= static_cast<std::size_t>(k))
        return 0.0;
    const int g = std::max(1, static_cast<int>(std::sqrt(static_cast<double>(pts.size()) / 8.0)));
    auto cell_of = [&](float v) {
        return std::clamp(static_cast<int>((v + 1.0f) / 2.0f * static_cast<float>(g)), 0, g - 1);
    };
    std::vector<std::vector<std::size_t>> cells(static_cast<std::size_t>(g) * g);
    for (std::size_t i : pts) cells[cell_of(xy[i * 2]) * g + cell_of(xy[i * 2 + 1])].push_back(i);
    std::vector<double> part(pts.size(), 0.0);
    parallel_for(pts.size(), 2, 256, [&](std::size_t b, std::size_t e) {
        std::vector<std::pair<float, std::size_t>> cand;
        for (std::size_t p = b; p < e; ++p) {
            std::size_t i = pts[p];
            int cx = cell_of(xy[i * 2]);
            int cy = cell_of(xy[i * 2 + 1]);
            for (int r = 1;; ++r) {
                cand.clear();
                for (int x = std::max(0, cx - r); x <= std::min(g - 1, cx + r); ++x)
                    for (int y = std::max(0, cy - r); y <= std::min(g - 1, cy + r); ++y)
                        for (std::size_t j : cells[x * g + y]) {
                            if (j == i)
                                continue;
                            float dx = xy[i * 2] - xy[j * 2];
                            float dy = xy[i * 2 + 1] - xy[j * 2 + 1];
                            cand.push_back({dx * dx + dy * dy, j});
                        }
                // Exact once the k-th candidate lies within the searched square (r cells).
                if (cand.size() >= static_cast<std::size_t>(k)) {
                    std::nth_element(cand.begin(), cand.begin() + (k - 1), cand.end());
                    float reach = 2.0f / static_cast<float>(g) * static_cast<float>(r);
                    if (cand[static_cast<std::size_t>(k - 1)].first <= reach * reach || r > g)
                        break;
                }
                if (r > g)
                    break;
            }
            std::nth_element(cand.begin(), cand.begin() + (k - 1), cand.end());
            std::sort(cand.begin(), cand.begin() + k);
            int same = 0;
            for (int q = 0; q < k; ++q)
                same += labels[cand[static_cast<std::size_t>(q)].second] == labels[i];
            part[p] = static_cast<double>(same) / k;
        }
    });
    double total = 0.0;
    for (double v : part) total += v;
    return total / static_cast<double>(pts.size());
}

int fail(const std::string& message) {
    std::fprintf(stderr, "earshot_layout_eval: %s\n", message.c_str());
    return 1;
}

}  // namespace

int main(int argc, char** argv) {
    std::size_t synth_n = 0, synth_d = 0, clusters = 50;
    std::string db, manifest, model, column = "family";
    KnnLayoutOptions opts;
    bool also_full = false;
    for (int i = 1; i < argc; ++i) {
        std::string a = argv[i];
        auto next = [&]() -> std::string {
            if (i + 1 >= argc) {
                std::fprintf(stderr, "%s needs a value\n", a.c_str());
                std::exit(2);
            }
            return argv[++i];
        };
        if (a == "--synthetic") {
            synth_n = std::stoul(next());
            synth_d = std::stoul(next());
        } else if (a == "--clusters") {
            clusters = std::stoul(next());
        } else if (a == "--db") {
            db = next();
        } else if (a == "--manifest") {
            manifest = next();
        } else if (a == "--model") {
            model = next();
        } else if (a == "--column") {
            column = next();
        } else if (a == "--seed") {
            opts.seed = std::stoull(next());
        } else if (a == "--threads") {
            opts.threads = std::stoi(next());
        } else if (a == "--epochs") {
            opts.n_epochs = std::stoi(next());
        } else if (a == "--neighbors") {
            opts.n_neighbors = std::stoi(next());
        } else if (a == "--min-dist") {
            opts.min_dist = std::stod(next());
        } else if (a == "--sample") {
            opts.sample_size = std::stoul(next());
        } else if (a == "--ef") {
            opts.ef_search = std::stoul(next());
        } else if (a == "--place-epochs") {
            opts.place_epochs = std::stoi(next());
        } else if (a == "--full") {
            also_full = true;
        } else {
            return fail("unknown argument " + a);
        }
    }

    Matrix vectors;
    std::vector<int> labels;
    if (synth_n > 0) {
        std::mt19937 rng(1);
        std::normal_distribution<float> gauss(0.0f, 1.0f);
        Matrix centres(clusters, synth_d);
        for (float& v : centres.data) v = gauss(rng) / std::sqrt(static_cast<float>(synth_d));
        vectors = Matrix(synth_n, synth_d);
        labels.resize(synth_n);
        for (std::size_t i = 0; i < synth_n; ++i) {
            std::size_t c = rng() % clusters;
            labels[i] = static_cast<int>(c);
            for (std::size_t j = 0; j < synth_d; ++j)
                vectors.at(i, j) =
                    centres.at(c, j) + 0.6f * gauss(rng) / std::sqrt(static_cast<float>(synth_d));
        }
        fmt::print("synthetic {} x {}, {} blobs\n", synth_n, synth_d, clusters);
    } else if (!db.empty()) {
        CatalogOptions copts;
        copts.read_only = true;
        auto cat = open_catalog(db, copts);
        if (!cat)
            return fail(cat.error().to_string());
        if (model.empty()) {
            auto spaces = (*cat)->spaces();
            if (!spaces || spaces->empty())
                return fail("no spaces");
            model = spaces->front().space;
        }
        auto set = (*cat)->load_embeddings(model);
        if (!set)
            return fail(set.error().to_string());
        auto items = (*cat)->list_items(0, -1);
        if (!items)
            return fail(items.error().to_string());
        std::map<std::int64_t, std::string> path_of;
        for (const auto& it : *items) path_of[it.id] = it.path;
        std::map<std::string, std::string> label_of;  // manifest path -> label
        if (!manifest.empty()) {
            auto table = read_csv(manifest);
            if (!table)
                return fail(table.error().to_string());
            int pc = table->column("path");
            int lc = table->column(column);
            if (pc < 0 || lc < 0)
                return fail("the manifest lacks a path or " + column + " column");
            for (const auto& row : table->rows)
                label_of[row[static_cast<std::size_t>(pc)]] = row[static_cast<std::size_t>(lc)];
        }
        std::map<std::string, int> label_ids;
        labels.assign(set->ids.size(), -1);
        std::size_t matched = 0;
        for (std::size_t i = 0; i < set->ids.size(); ++i) {
            const std::string& p = path_of[set->ids[i]];
            for (const auto& [rel, label] : label_of) {
                if (p.size() >= rel.size() + 1 &&
                    p.compare(p.size() - rel.size(), rel.size(), rel) == 0 &&
                    p[p.size() - rel.size() - 1] == '/') {
                    labels[i] =
                        label_ids.emplace(label, static_cast<int>(label_ids.size())).first->second;
                    ++matched;
                    break;
                }
            }
        }
        vectors = std::move(set->vectors);
        fmt::print("{} space {}: {} x {}, {} labelled ({} labels of '{}')\n", db, model,
                   vectors.n_rows, vectors.n_cols, matched, label_ids.size(), column);
    } else {
        return fail("give --synthetic N D or --db CATALOG");
    }

    auto t0 = std::chrono::steady_clock::now();
    auto pca = project_pca_2d(vectors);
    double pca_s = seconds_since(t0);
    if (!pca)
        return fail(pca.error().to_string());
    fmt::print("pca: {:.2f} s\n", pca_s);
    const bool labelled = std::any_of(labels.begin(), labels.end(), [](int l) { return l >= 0; });
    if (labelled)
        fmt::print("pca 10-NN 2-D label agreement: {:.3f}\n", label_agreement(pca->xy, labels, 10));
    auto run = [&](const KnnLayoutOptions& o, const std::string& name) -> int {
        // Stage name -> seconds at its end, in the order the stages ended.
        std::vector<std::pair<std::string, double>> stages;
        auto t = std::chrono::steady_clock::now();
        auto layout =
            layout_knn_2d(vectors, Metric::kCosine, o,
                          [&](std::string_view stage, std::size_t done, std::size_t total) {
                              if (done == total)
                                  stages.emplace_back(std::string(stage), seconds_since(t));
                          });
        double layout_s = seconds_since(t);
        if (!layout)
            return fail(layout.error().to_string());
        std::string parts;
        double prev = 0.0;
        for (const auto& [stage, end] : stages) {
            parts += fmt::format("{}{} {:.2f}", parts.empty() ? "" : ", ", stage, end - prev);
            prev = end;
        }
        fmt::print("{}: {:.2f} s ({}; the rest {:.2f})\n", name, layout_s, parts, layout_s - prev);
        if (labelled)
            fmt::print("{} 10-NN 2-D label agreement: {:.3f}\n", name,
                       label_agreement(layout->xy, labels, 10));
        return 0;
    };
    const bool sampled = opts.sample_size != 0 && vectors.n_rows > opts.sample_size;
    if (int rc = run(opts, sampled ? fmt::format("layout (sample {})", opts.sample_size)
                                   : std::string("layout"));
        rc != 0)
        return rc;
    if (also_full && sampled) {
        KnnLayoutOptions full = opts;
        full.sample_size = 0;
        if (int rc = run(full, "layout (all rows)"); rc != 0)
            return rc;
    }
    return 0;
}
