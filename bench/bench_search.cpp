// Exact search micro-benchmarks: distance kernels and FlatIndex::search over n × d random
// vectors (default 100k × 1024, k = 10), per metric and thread count.
//   cmake -B build/release -DEARSHOT_BUILD_BENCH=ON && cmake --build build/release --target
//   bench_search build/release/bench/bench_search --benchmark_filter=FlatSearch
#include <cstdint>
#include <memory>
#include <random>
#include <vector>

#include <benchmark/benchmark.h>

#include "index/distance_kernels.h"
#include "index/flat_index.h"

namespace earshot {
namespace {

constexpr std::size_t kRows = 100000;
constexpr std::size_t kDim = 1024;

std::vector<float> random_floats(std::size_t n, unsigned seed) {
    std::mt19937 rng(seed);
    std::normal_distribution<float> dist(0.0f, 1.0f);
    std::vector<float> v(n);
    for (float& x : v) x = dist(rng);
    return v;
}

void BM_Kernel(benchmark::State& state, float (*kernel)(const float*, const float*, std::size_t)) {
    const auto d = static_cast<std::size_t>(state.range(0));
    const auto a = random_floats(d, 1);
    const auto b = random_floats(d, 2);
    for (auto _ : state) {
        benchmark::DoNotOptimize(kernel(a.data(), b.data(), d));
    }
    state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations()) *
                            static_cast<std::int64_t>(2 * d * sizeof(float)));
    state.SetLabel(detail::simd_level());
}
BENCHMARK_CAPTURE(BM_Kernel, dot, &detail::dot_f32)->Arg(128)->Arg(1024);
BENCHMARK_CAPTURE(BM_Kernel, l2_squared, &detail::l2_squared_f32)->Arg(128)->Arg(1024);
BENCHMARK_CAPTURE(BM_Kernel, l1, &detail::l1_f32)->Arg(128)->Arg(1024);

// One index at a time (100k × 1024 is 400 MB), rebuilt when the metric changes.
const FlatIndex& shared_index(Metric metric) {
    static std::unique_ptr<FlatIndex> index;
    if (!index || index->metric() != metric) {
        index.reset();
        Matrix data;
        data.n_rows = kRows;
        data.n_cols = kDim;
        data.data = random_floats(kRows * kDim, 1234);
        std::vector<std::int64_t> ids(kRows);
        for (std::size_t i = 0; i < kRows; ++i) ids[i] = static_cast<std::int64_t>(i + 1);
        index = std::make_unique<FlatIndex>(static_cast<int>(kDim), metric);
        if (!index->add(ids, data))
            std::abort();
    }
    return *index;
}

// Args: metric (enum value), threads (0 = all cores).
void BM_FlatSearch(benchmark::State& state) {
    const auto metric = static_cast<Metric>(state.range(0));
    const FlatIndex& index = shared_index(metric);
    const auto query = random_floats(kDim, 99);
    SearchOptions options;
    options.k = 10;
    options.threads = static_cast<int>(state.range(1));
    for (auto _ : state) {
        auto hits = index.search(query, options);
        benchmark::DoNotOptimize(hits);
    }
    state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations()) *
                            static_cast<std::int64_t>(kRows * kDim * sizeof(float)));
    state.SetLabel(std::string(metric_name(metric)) + " " + std::to_string(kRows) + "x" +
                   std::to_string(kDim) + " k=10");
}
BENCHMARK(BM_FlatSearch)
    ->ArgsProduct({{static_cast<int>(Metric::kCosine), static_cast<int>(Metric::kEuclidean),
                    static_cast<int>(Metric::kManhattan), static_cast<int>(Metric::kCorrelation)},
                   {1, 0}})
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

// A filter that rejects half of the ids (e.g. a duration range).
void BM_FlatSearchFiltered(benchmark::State& state) {
    const FlatIndex& index = shared_index(Metric::kCorrelation);
    const auto query = random_floats(kDim, 99);
    SearchOptions options;
    options.k = 10;
    options.filter = [](std::int64_t id) { return id % 2 == 0; };
    for (auto _ : state) {
        auto hits = index.search(query, options);
        benchmark::DoNotOptimize(hits);
    }
}
BENCHMARK(BM_FlatSearchFiltered)->Unit(benchmark::kMillisecond)->UseRealTime();

}  // namespace
}  // namespace earshot

BENCHMARK_MAIN();
