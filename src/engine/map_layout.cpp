#include "engine/map_layout.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <memory>
#include <numeric>
#include <span>
#include <utility>
#include <vector>

#include "core/thread_pool.h"
#include "index/vector_index.h"

namespace earshot {
namespace {

// xorshift64*: a small, fast generator whose sequence is the same on every platform (the
// layout is meant to be repeatable; std:: distributions are not specified bit for bit).
class Rng {
public:
    explicit Rng(std::uint64_t seed)
        : state_(seed * 0x9E3779B97F4A7C15ULL + 0x2545F4914F6CDD1DULL) {
        if (state_ == 0)
            state_ = 0x2545F4914F6CDD1DULL;
    }
    std::uint64_t next() {
        state_ ^= state_ >> 12;
        state_ ^= state_ << 25;
        state_ ^= state_ >> 27;
        return state_ * 0x2545F4914F6CDD1DULL;
    }
    // Uniform in [0, n) (Lemire's multiply-shift; n < 2^32).
    std::uint32_t below(std::uint32_t n) {
        return static_cast<std::uint32_t>(((next() >> 32) * static_cast<std::uint64_t>(n)) >> 32);
    }
    double uniform() { return static_cast<double>(next() >> 11) * 0x1.0p-53; }
    double gauss() {
        double u1 = uniform();
        double u2 = uniform();
        if (u1 < 1e-300)
            u1 = 1e-300;
        return std::sqrt(-2.0 * std::log(u1)) * std::cos(2.0 * 3.14159265358979323846 * u2);
    }

private:
    std::uint64_t state_;
};

// The k nearest other rows of each row, n × k, -1 where a row has fewer.
struct Neighbours {
    std::size_t k = 0;
    std::vector<std::int32_t> index;
    std::vector<float> distance;
};

// An index of index/ over base_rows (row numbers of `vectors`; ids = positions in base_rows):
// flat below exact_below rows, else options.hnsw_spec built on one thread (a graph built on
// several is not repeatable: the insertions race). Progress "index" (rows added, HNSW only).
Result<std::unique_ptr<VectorIndex>> build_index(const Matrix& vectors,
                                                 Metric metric,
                                                 std::span<const std::uint32_t> base_rows,
                                                 const KnnLayoutOptions& options,
                                                 const LayoutProgress& progress) {
    const std::size_t n_base = base_rows.size();
    const bool exact = n_base < options.exact_below;
    EARSHOT_ASSIGN_OR_RETURN(auto index, make_index(exact ? std::string("flat") : options.hnsw_spec,
                                                    static_cast<int>(vectors.n_cols), metric));
    index->set_threads(1);
    constexpr std::size_t kBlock = 4096;
    for (std::size_t begin = 0; begin < n_base; begin += kBlock) {
        const std::size_t end = std::min(n_base, begin + kBlock);
        Matrix block(end - begin, vectors.n_cols);
        for (std::size_t r = begin; r < end; ++r)
            std::copy(vectors.row(base_rows[r]), vectors.row(base_rows[r]) + vectors.n_cols,
                      block.row(r - begin));
        std::vector<std::int64_t> ids(end - begin);
        std::iota(ids.begin(), ids.end(), static_cast<std::int64_t>(begin));
        EARSHOT_RETURN_IF_ERROR(index->add(ids, block));
        if (progress && !exact)
            progress("index", end, n_base);
    }
    return index;
}

// The k nearest indexed rows of each query row (row numbers of `vectors`), n_queries × k, as
// positions of build_index's base rows. With `self`, the queries are the base rows and a row is
// not its own neighbour. Queries on options.threads threads (each is answered alone, so the
// result does not depend on them). Progress "neighbours": done_before + queries done, of total.
Result<Neighbours> query_index(const VectorIndex& index,
                               const Matrix& vectors,
                               std::span<const std::uint32_t> query_rows,
                               bool self,
                               std::size_t k,
                               const KnnLayoutOptions& options,
                               std::size_t done_before,
                               std::size_t total,
                               const LayoutProgress& progress) {
    const std::size_t nq = query_rows.size();
    Neighbours out;
    out.k = k;
    out.index.assign(nq * k, -1);
    out.distance.assign(nq * k, 0.0f);
    SearchOptions search;
    search.k = self ? k + 1 : k;
    search.threads = 1;
    search.ef_search = std::max(options.ef_search, k + 1);
    constexpr std::size_t kBlock = 4096;
    for (std::size_t begin = 0; begin < nq; begin += kBlock) {
        const std::size_t end = std::min(nq, begin + kBlock);
        std::vector<Status> status(end - begin);
        parallel_for(end - begin, options.threads, 16, [&](std::size_t b, std::size_t e) {
            for (std::size_t r = b; r < e; ++r) {
                const std::size_t i = begin + r;
                auto hits = index.search(vectors.row_span(query_rows[i]), search);
                if (!hits) {
                    status[r] = tl::unexpected(hits.error());
                    continue;
                }
                // Drop the row itself; when a duplicate row ranked ahead of it pushed it out
                // of the k + 1, drop the last hit instead.
                std::size_t filled = 0;
                for (const auto& hit : *hits) {
                    if ((self && hit.id == static_cast<std::int64_t>(i)) || filled == k)
                        continue;
                    out.index[i * k + filled] = static_cast<std::int32_t>(hit.id);
                    out.distance[i * k + filled] = std::max(0.0f, hit.distance);
                    ++filled;
                }
            }
        });
        for (auto& s : status) EARSHOT_RETURN_IF_ERROR(s);
        if (progress)
            progress("neighbours", done_before + end, total);
    }
    return out;
}

// UMAP's smooth_knn_dist for one row: rho (the nearest positive distance) and sigma.
void smooth_distances(const float* dist,
                      const std::int32_t* idx,
                      std::size_t k,
                      double mean_all,
                      double& rho,
                      double& sigma) {
    const double target = std::log2(static_cast<double>(k));
    rho = 0.0;
    double sum = 0.0;
    std::size_t count = 0;
    for (std::size_t j = 0; j < k; ++j) {
        if (idx[j] < 0)
            continue;
        ++count;
        sum += dist[j];
        if (dist[j] > 0.0f && rho == 0.0)
            rho = dist[j];
    }
    double lo = 0.0;
    double hi = std::numeric_limits<double>::infinity();
    double mid = 1.0;
    for (int it = 0; it < 64; ++it) {
        double psum = 0.0;
        for (std::size_t j = 0; j < k; ++j) {
            if (idx[j] < 0)
                continue;
            double d = dist[j] - rho;
            psum += d > 0.0 ? std::exp(-d / mid) : 1.0;
        }
        if (std::abs(psum - target) < 1e-5)
            break;
        if (psum > target) {
            hi = mid;
            mid = (lo + hi) / 2.0;
        } else {
            lo = mid;
            mid = std::isinf(hi) ? mid * 2.0 : (lo + hi) / 2.0;
        }
    }
    const double mean_row = count > 0 ? sum / static_cast<double>(count) : 0.0;
    const double floor = 1e-3 * (rho > 0.0 ? mean_row : mean_all);
    sigma = std::max(mid, floor);
}

struct Edge {
    std::uint32_t head = 0;
    std::uint32_t tail = 0;
    float weight = 0.0f;
};

// The symmetrised fuzzy graph, both directions of each undirected edge, sorted by (head, tail).
std::vector<Edge> fuzzy_graph(const Neighbours& nn, std::size_t n) {
    const std::size_t k = nn.k;
    double mean_all = 0.0;
    std::size_t count = 0;
    for (std::size_t i = 0; i < n * k; ++i) {
        if (nn.index[i] >= 0) {
            mean_all += nn.distance[i];
            ++count;
        }
    }
    mean_all = count > 0 ? mean_all / static_cast<double>(count) : 0.0;

    // Directed memberships keyed by the unordered pair (lower row first).
    std::vector<Edge> directed;
    directed.reserve(n * k);
    for (std::size_t i = 0; i < n; ++i) {
        const float* dist = nn.distance.data() + i * k;
        const std::int32_t* idx = nn.index.data() + i * k;
        double rho = 0.0;
        double sigma = 1.0;
        smooth_distances(dist, idx, k, mean_all, rho, sigma);
        for (std::size_t j = 0; j < k; ++j) {
            if (idx[j] < 0)
                continue;
            double d = dist[j] - rho;
            double w = d <= 0.0 || sigma == 0.0 ? 1.0 : std::exp(-d / sigma);
            auto a = static_cast<std::uint32_t>(i);
            auto b = static_cast<std::uint32_t>(idx[j]);
            directed.push_back({std::min(a, b), std::max(a, b), static_cast<float>(w)});
        }
    }
    auto by_pair = [](const Edge& x, const Edge& y) {
        return x.head != y.head ? x.head < y.head : x.tail < y.tail;
    };
    std::sort(directed.begin(), directed.end(), [&](const Edge& x, const Edge& y) {
        if (x.head != y.head || x.tail != y.tail)
            return by_pair(x, y);
        return x.weight < y.weight;  // a fixed order for the fuzzy union below
    });
    std::vector<Edge> edges;
    edges.reserve(directed.size() * 2);
    for (std::size_t i = 0; i < directed.size();) {
        double w = directed[i].weight;
        std::size_t j = i + 1;
        // Both directions (i's list has j and j's has i): the fuzzy union p + q - pq.
        for (; j < directed.size() && directed[j].head == directed[i].head &&
               directed[j].tail == directed[i].tail;
             ++j) {
            double q = directed[j].weight;
            w = w + q - w * q;
        }
        if (w > 0.0) {
            edges.push_back({directed[i].head, directed[i].tail, static_cast<float>(w)});
            edges.push_back({directed[i].tail, directed[i].head, static_cast<float>(w)});
        }
        i = j;
    }
    std::sort(edges.begin(), edges.end(), by_pair);
    return edges;
}

// UMAP's gradient steps, clipped to [-4, 4] per axis (UMAP's clip). attraction(): the pull of
// `cur` towards `o` along a graph edge; repel(): pushes `cur` away from `o`, a negative sample.
float clip_gradient(float v) {
    return std::clamp(v, -4.0f, 4.0f);
}

// Returns the step (already scaled by alpha) for `cur`, or {0, 0} for coincident points.
std::pair<float, float> attraction(
    const float* cur, const float* o, float a, float b, float alpha) {
    float dx = cur[0] - o[0];
    float dy = cur[1] - o[1];
    float d2 = dx * dx + dy * dy;
    if (d2 <= 0.0f)
        return {0.0f, 0.0f};
    float pb = std::pow(d2, b);
    float coeff = (-2.0f * a * b * pb / d2) / (a * pb + 1.0f);
    return {clip_gradient(coeff * dx) * alpha, clip_gradient(coeff * dy) * alpha};
}

void repel(float* cur, const float* o, float a, float b, float gamma, float alpha) {
    float ex = cur[0] - o[0];
    float ey = cur[1] - o[1];
    float e2 = ex * ex + ey * ey;
    if (e2 <= 0.0f)
        return;
    float coeff = 2.0f * gamma * b / ((0.001f + e2) * (a * std::pow(e2, b) + 1.0f));
    cur[0] += clip_gradient(coeff * ex) * alpha;
    cur[1] += clip_gradient(coeff * ey) * alpha;
}

// UMAP's optimize_layout_euclidean in 2-D, one thread, move_other = true.
void optimise_layout(std::vector<float>& y,
                     std::size_t n,
                     const std::vector<Edge>& edges,
                     int n_epochs,
                     const LayoutCurve& curve,
                     const KnnLayoutOptions& options,
                     Rng& rng,
                     const LayoutProgress& progress) {
    float max_w = 0.0f;
    for (const auto& e : edges) max_w = std::max(max_w, e.weight);
    struct Sample {
        std::uint32_t head;
        std::uint32_t tail;
        float every;           // epochs per sample
        float next;            // epoch of the next sample
        float every_negative;  // epochs per negative sample
        float next_negative;
    };
    std::vector<Sample> samples;
    samples.reserve(edges.size());
    const float min_weight = max_w / static_cast<float>(n_epochs);
    const float negative_rate = static_cast<float>(options.negative_sample_rate);
    for (const auto& e : edges) {
        if (e.weight < min_weight || e.weight <= 0.0f)
            continue;  // would never be sampled (UMAP drops them too)
        float every = max_w / e.weight;
        float every_negative = negative_rate > 0.0f ? every / negative_rate : 0.0f;
        samples.push_back({e.head, e.tail, every, every, every_negative, every_negative});
    }
    const float a = static_cast<float>(curve.a);
    const float b = static_cast<float>(curve.b);
    const float gamma = static_cast<float>(options.repulsion_strength);
    const auto n32 = static_cast<std::uint32_t>(n);
    for (int epoch = 0; epoch < n_epochs; ++epoch) {
        const float alpha = static_cast<float>(options.learning_rate) *
                            (1.0f - static_cast<float>(epoch) / static_cast<float>(n_epochs));
        const auto now = static_cast<float>(epoch);
        for (auto& s : samples) {
            if (s.next > now)
                continue;
            float* cur = y.data() + 2 * static_cast<std::size_t>(s.head);
            float* oth = y.data() + 2 * static_cast<std::size_t>(s.tail);
            const auto [gx, gy] = attraction(cur, oth, a, b, alpha);
            cur[0] += gx;
            cur[1] += gy;
            oth[0] -= gx;
            oth[1] -= gy;
            s.next += s.every;
            if (s.every_negative <= 0.0f)
                continue;
            int n_negative = static_cast<int>((now - s.next_negative) / s.every_negative);
            for (int p = 0; p < n_negative; ++p) {
                std::uint32_t other = rng.below(n32);
                if (other != s.head)
                    repel(cur, y.data() + 2 * static_cast<std::size_t>(other), a, b, gamma, alpha);
            }
            s.next_negative += static_cast<float>(n_negative) * s.every_negative;
        }
        if (progress && ((epoch + 1) % 10 == 0 || epoch + 1 == n_epochs))
            progress("layout", static_cast<std::size_t>(epoch + 1),
                     static_cast<std::size_t>(n_epochs));
    }
}

// Steps 3 of layout_knn_2d: the start (the PCA map `start_xy` spread over ±5, as UMAP scales its
// start to a width of 10, with a little jitter, which also separates duplicate rows) and the
// descent over `edges`. Returns n × 2 unscaled positions.
std::vector<float> descend(const std::vector<float>& start_xy,
                           std::size_t n,
                           const std::vector<Edge>& edges,
                           const LayoutCurve& curve,
                           const KnnLayoutOptions& options,
                           const LayoutProgress& progress) {
    Rng rng(options.seed);
    std::vector<float> y(n * 2);
    for (std::size_t i = 0; i < n * 2; ++i)
        y[i] = static_cast<float>(5.0 * start_xy[i] + 1e-4 * rng.gauss());
    const int n_epochs = options.n_epochs > 0 ? options.n_epochs : (n <= 10000 ? 500 : 200);
    optimise_layout(y, n, edges, n_epochs, curve, options, rng, progress);
    return y;
}

// splitmix64 of (seed, row): the generator of one placed row.
std::uint64_t row_seed(std::uint64_t seed, std::uint64_t row) {
    std::uint64_t z = seed + 0x9E3779B97F4A7C15ULL * (row + 1);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

// Step b of the sampled path for one row: its k sample neighbours (positions in ys, m × 2)
// with distances; writes its position to out[0..1].
void place_row(const std::int32_t* idx,
               const float* dist,
               std::size_t k,
               double mean_all,
               const std::vector<float>& ys,
               std::uint32_t m,
               int n_epochs,
               const LayoutCurve& curve,
               const KnnLayoutOptions& options,
               Rng& rng,
               float* out) {
    double rho = 0.0;
    double sigma = 1.0;
    smooth_distances(dist, idx, k, mean_all, rho, sigma);
    struct Link {
        std::uint32_t to;
        float every;
        float next;
        float every_negative;
        float next_negative;
    };
    std::vector<Link> links;
    links.reserve(k);
    double wsum = 0.0;
    double px = 0.0;
    double py = 0.0;
    float max_w = 0.0f;
    std::vector<float> weights(k, 0.0f);
    for (std::size_t j = 0; j < k; ++j) {
        if (idx[j] < 0)
            continue;
        double d = dist[j] - rho;
        double w = d <= 0.0 || sigma == 0.0 ? 1.0 : std::exp(-d / sigma);
        weights[j] = static_cast<float>(w);
        max_w = std::max(max_w, weights[j]);
        const float* p = ys.data() + 2 * static_cast<std::size_t>(idx[j]);
        wsum += w;
        px += w * p[0];
        py += w * p[1];
    }
    if (!(wsum > 0.0)) {  // no neighbour: the origin of the sample's layout
        out[0] = out[1] = 0.0f;
        return;
    }
    float cur[2] = {static_cast<float>(px / wsum), static_cast<float>(py / wsum)};
    const float min_weight = max_w / static_cast<float>(n_epochs);
    const float negative_rate = static_cast<float>(options.negative_sample_rate);
    for (std::size_t j = 0; j < k; ++j) {
        if (idx[j] < 0 || weights[j] < min_weight || weights[j] <= 0.0f)
            continue;
        float every = max_w / weights[j];
        float every_negative = negative_rate > 0.0f ? every / negative_rate : 0.0f;
        links.push_back(
            {static_cast<std::uint32_t>(idx[j]), every, every, every_negative, every_negative});
    }
    const float a = static_cast<float>(curve.a);
    const float b = static_cast<float>(curve.b);
    const float gamma = static_cast<float>(options.repulsion_strength);
    for (int epoch = 0; epoch < n_epochs; ++epoch) {
        const float alpha = static_cast<float>(options.learning_rate) / 4.0f *
                            (1.0f - static_cast<float>(epoch) / static_cast<float>(n_epochs));
        const auto now = static_cast<float>(epoch);
        for (Link& s : links) {
            if (s.next > now)
                continue;
            const auto [gx, gy] =
                attraction(cur, ys.data() + 2 * static_cast<std::size_t>(s.to), a, b, alpha);
            cur[0] += gx;
            cur[1] += gy;
            s.next += s.every;
            if (s.every_negative <= 0.0f)
                continue;
            int n_negative = static_cast<int>((now - s.next_negative) / s.every_negative);
            for (int p = 0; p < n_negative; ++p) {
                repel(cur, ys.data() + 2 * static_cast<std::size_t>(rng.below(m)), a, b, gamma,
                      alpha);
            }
            s.next_negative += static_cast<float>(n_negative) * s.every_negative;
        }
    }
    out[0] = cur[0];
    out[1] = cur[1];
}

// The sampled path of layout_knn_2d (steps a and b): n × 2 unscaled positions.
Result<std::vector<float>> layout_sampled(const Matrix& vectors,
                                          Metric metric,
                                          const std::vector<float>& pca_xy,
                                          const LayoutCurve& curve,
                                          const KnnLayoutOptions& options,
                                          const LayoutProgress& progress) {
    const std::size_t n = vectors.n_rows;
    const std::size_t m = options.sample_size;
    std::vector<std::uint32_t> sample;
    std::vector<std::uint32_t> rest;
    {
        std::vector<char> in_sample(n, 0);
        for (std::size_t r : pca_fit_rows(n, m, options.seed)) in_sample[r] = 1;
        sample.reserve(m);
        rest.reserve(n - m);
        for (std::size_t i = 0; i < n; ++i)
            (in_sample[i] ? sample : rest).push_back(static_cast<std::uint32_t>(i));
    }
    const std::size_t k = std::min(static_cast<std::size_t>(options.n_neighbors), m - 1);
    // The sample's index answers both the sample's queries and the other rows'.
    EARSHOT_ASSIGN_OR_RETURN(auto index, build_index(vectors, metric, sample, options, progress));
    EARSHOT_ASSIGN_OR_RETURN(
        auto nn_sample, query_index(*index, vectors, sample, true, k, options, 0, n, progress));
    EARSHOT_ASSIGN_OR_RETURN(auto nn_rest,
                             query_index(*index, vectors, rest, false, k, options, m, n, progress));
    index.reset();

    std::vector<float> start(m * 2);
    for (std::size_t s = 0; s < m; ++s) {
        start[s * 2] = pca_xy[sample[s] * 2];
        start[s * 2 + 1] = pca_xy[sample[s] * 2 + 1];
    }
    const std::vector<float> ys =
        descend(start, m, fuzzy_graph(nn_sample, m), curve, options, progress);

    std::vector<float> y(n * 2);
    for (std::size_t s = 0; s < m; ++s) {
        y[sample[s] * 2] = ys[s * 2];
        y[sample[s] * 2 + 1] = ys[s * 2 + 1];
    }
    // sigma's floor for a row whose neighbours are all at distance 0 (as fuzzy_graph).
    double mean_all = 0.0;
    std::size_t count = 0;
    for (std::size_t i = 0; i < nn_rest.index.size(); ++i) {
        if (nn_rest.index[i] >= 0) {
            mean_all += nn_rest.distance[i];
            ++count;
        }
    }
    mean_all = count > 0 ? mean_all / static_cast<double>(count) : 0.0;
    const int n_epochs = options.place_epochs > 0 ? options.place_epochs : 30;
    constexpr std::size_t kBlock = 4096;
    for (std::size_t begin = 0; begin < rest.size(); begin += kBlock) {
        const std::size_t end = std::min(rest.size(), begin + kBlock);
        parallel_for(end - begin, options.threads, 64, [&](std::size_t b, std::size_t e) {
            for (std::size_t r = begin + b; r < begin + e; ++r) {
                Rng rng(row_seed(options.seed, rest[r]));
                place_row(nn_rest.index.data() + r * k, nn_rest.distance.data() + r * k, k,
                          mean_all, ys, static_cast<std::uint32_t>(m), n_epochs, curve, options,
                          rng, y.data() + 2 * static_cast<std::size_t>(rest[r]));
            }
        });
        if (progress)
            progress("place", end, rest.size());
    }
    return y;
}

}  // namespace

LayoutCurve fit_layout_curve(double min_dist, double spread) {
    constexpr int kPoints = 300;
    std::vector<double> xs(kPoints);
    std::vector<double> ys(kPoints);
    for (int i = 0; i < kPoints; ++i) {
        xs[i] = 3.0 * spread * i / (kPoints - 1);
        ys[i] = xs[i] < min_dist ? 1.0 : std::exp(-(xs[i] - min_dist) / spread);
    }
    auto loss = [&](double a, double b) {
        double s = 0.0;
        for (int i = 0; i < kPoints; ++i) {
            double f = 1.0 / (1.0 + a * std::pow(xs[i], 2.0 * b));
            s += (f - ys[i]) * (f - ys[i]);
        }
        return s;
    };
    double a = 1.0;
    double b = 1.0;
    double lambda = 1e-3;
    double current = loss(a, b);
    for (int it = 0; it < 500; ++it) {
        // Normal equations of the residuals r_i = f(x_i) - y_i.
        double jaa = 0.0, jab = 0.0, jbb = 0.0, ga = 0.0, gb = 0.0;
        for (int i = 0; i < kPoints; ++i) {
            double x = xs[i];
            double u = x > 0.0 ? std::pow(x, 2.0 * b) : 0.0;
            double den = 1.0 + a * u;
            double f = 1.0 / den;
            double r = f - ys[i];
            double da = -u / (den * den);
            double db = x > 0.0 ? -a * u * 2.0 * std::log(x) / (den * den) : 0.0;
            jaa += da * da;
            jab += da * db;
            jbb += db * db;
            ga += da * r;
            gb += db * r;
        }
        bool improved = false;
        while (lambda < 1e12) {
            double m00 = jaa * (1.0 + lambda);
            double m11 = jbb * (1.0 + lambda);
            double det = m00 * m11 - jab * jab;
            if (det == 0.0)
                break;
            double step_a = -(m11 * ga - jab * gb) / det;
            double step_b = -(m00 * gb - jab * ga) / det;
            double na = a + step_a;
            double nb = b + step_b;
            if (na > 0.0 && nb > 0.0) {
                double next = loss(na, nb);
                if (next < current) {
                    bool done = current - next < 1e-14;
                    a = na;
                    b = nb;
                    current = next;
                    lambda = std::max(lambda / 10.0, 1e-12);
                    improved = !done;
                    break;
                }
            }
            lambda *= 10.0;
        }
        if (!improved)
            break;
    }
    return {a, b};
}

Result<Projection2D> layout_knn_2d(const Matrix& vectors,
                                   Metric metric,
                                   const KnnLayoutOptions& options,
                                   const LayoutProgress& progress) {
    if (options.n_neighbors < 2 || options.min_dist < 0.0 || options.spread <= 0.0 ||
        options.min_dist > 3.0 * options.spread || options.n_epochs < 0 ||
        options.negative_sample_rate < 0 || !(options.learning_rate > 0.0) ||
        !(options.repulsion_strength >= 0.0) || options.ef_search == 0 ||
        options.place_epochs < 0 ||
        (options.sample_size != 0 &&
         options.sample_size <= static_cast<std::size_t>(options.n_neighbors)))
        return make_error(
            ErrorCode::kInvalidArgument,
            "layout_knn_2d: n_neighbors must be >= 2, min_dist in [0, 3*spread], "
            "spread, learning_rate and ef_search > 0, sample_size 0 or > n_neighbors, "
            "the rest >= 0");
    const std::size_t n = vectors.n_rows;
    if (n > static_cast<std::size_t>(std::numeric_limits<std::int32_t>::max()))
        return make_error(ErrorCode::kInvalidArgument, "layout_knn_2d: too many rows");
    if (n > 0 && vectors.n_cols == 0)
        return make_error(ErrorCode::kInvalidArgument, "layout_knn_2d: vectors have 0 columns");
    for (float v : vectors.data) {
        if (!std::isfinite(v))
            return make_error(ErrorCode::kInvalidArgument,
                              "layout_knn_2d: vectors have a non-finite value");
    }
    EARSHOT_ASSIGN_OR_RETURN(auto pca, project_pca_2d(vectors));
    Projection2D out;
    out.xy = std::move(pca.xy);
    if (n <= 2)
        return out;

    const LayoutCurve curve = fit_layout_curve(options.min_dist, options.spread);
    std::vector<float> y;
    if (options.sample_size == 0 || n <= options.sample_size) {
        const std::size_t k = std::min(static_cast<std::size_t>(options.n_neighbors), n - 1);
        std::vector<std::uint32_t> all(n);
        std::iota(all.begin(), all.end(), 0u);
        EARSHOT_ASSIGN_OR_RETURN(auto index, build_index(vectors, metric, all, options, progress));
        EARSHOT_ASSIGN_OR_RETURN(
            auto nn, query_index(*index, vectors, all, true, k, options, 0, n, progress));
        y = descend(out.xy, n, fuzzy_graph(nn, n), curve, options, progress);
    } else {
        EARSHOT_ASSIGN_OR_RETURN(y,
                                 layout_sampled(vectors, metric, out.xy, curve, options, progress));
    }

    // Centre on the bounding box and scale by one factor so that the wider axis spans [-1, 1].
    float lo[2] = {y[0], y[1]};
    float hi[2] = {y[0], y[1]};
    for (std::size_t i = 0; i < n; ++i) {
        for (int c = 0; c < 2; ++c) {
            lo[c] = std::min(lo[c], y[i * 2 + c]);
            hi[c] = std::max(hi[c], y[i * 2 + c]);
        }
    }
    const double half = std::max(hi[0] - lo[0], hi[1] - lo[1]) / 2.0;
    for (std::size_t i = 0; i < n; ++i) {
        for (int c = 0; c < 2; ++c) {
            double centre = (static_cast<double>(lo[c]) + hi[c]) / 2.0;
            double v = half > 0.0 ? (y[i * 2 + c] - centre) / half : 0.0;
            out.xy[i * 2 + c] = static_cast<float>(std::clamp(v, -1.0, 1.0));
        }
    }
    return out;
}

}  // namespace earshot
