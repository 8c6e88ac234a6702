// `earshot bench windows` corpus (make_windows_corpus): rows = the model's segments summed over
// the shifted copies of every decodable file, bad files skipped, and the .npy + .jsonl pair
// imports as is.
#include "benchmark/benchmark.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <fstream>
#include <iostream>
#include <random>
#include <utility>
#include <vector>

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "audio/decoder.h"
#include "audio/trim.h"
#include "benchmark/hnswlib_baseline.h"
#include "engine/importer.h"
#include "index/filter_estimate.h"
#include "index/hnsw_index.h"
#include "index/index_test_util.h"
#include "index/vector_index.h"
#include "models/model_registry.h"
#include "test_support.h"

namespace earshot {
namespace {
namespace fs = std::filesystem;

std::vector<std::string> read_lines(const fs::path& p) {
    std::ifstream in(p);
    std::vector<std::string> lines;
    for (std::string line; std::getline(in, line);) lines.push_back(line);
    return lines;
}

// Two generated WAVs (one nested, one at another rate, one with leading silence) and a file
// with an audio extension that is not audio.
void write_fixtures(const testing::TempDir& dir) {
    std::vector<float> tone(4000, 0.0f);  // 0.25 s of silence at 16 kHz, then 12.5 s of tone
    const auto sine = testing::make_sine(440.0, 12.5, 16000);
    tone.insert(tone.end(), sine.begin(), sine.end());
    testing::write_wav16(dir / "tone.wav", tone, 16000);
    fs::create_directories(dir.path() / "sub");
    testing::write_wav16(dir.path() / "sub" / "noise.wav", testing::make_noise(1.3, 22050, 0.2f),
                         22050);
    std::ofstream bad(dir / "broken.wav", std::ios::binary);
    bad << "this is not a RIFF file";
}

// Independent count: decode, trim leading silence, embed every shift that leaves enough audio.
std::size_t expected_rows(const fs::path& file,
                          const EmbeddingModel& model,
                          int offsets,
                          double min_shifted_s) {
    const int rate = model.info().sample_rate_hz;
    DecodeOptions d;
    d.target_sample_rate_hz = rate;
    auto audio = decode_audio(file, d);
    EXPECT_TRUE(audio) << audio.error().to_string();
    const std::size_t begin = non_silent_range(audio->samples).begin;
    const std::size_t n = audio->samples.size() - begin;
    std::size_t rows = 0;
    for (int j = 0; j < offsets; ++j) {
        const double shift_s = j * model.info().segment_hop_s / offsets;
        const auto shift = static_cast<std::size_t>(std::llround(shift_s * rate));
        if (j > 0 && static_cast<double>(n - std::min(n, shift)) < min_shifted_s * rate)
            continue;
        auto e = model.embed(std::span<const float>(audio->samples).subspan(begin + shift));
        EXPECT_TRUE(e);
        rows += e->segments.n_rows;
    }
    return rows;
}

class WindowsCorpusModelTest : public ::testing::TestWithParam<const char*> {};

TEST_P(WindowsCorpusModelTest, RowsAreSegmentsOverOffsetsAndTheFileImports) {
    const std::string model_name = GetParam();
    if (model_name != "mfcc") {
        EARSHOT_REQUIRE_SHARED();
    }
    testing::TempDir dir;
    write_fixtures(dir);
    auto model = make_model(model_name, {});
    ASSERT_TRUE(model) << model.error().to_string();
    const int offsets = 4;

    WindowsOptions o;
    o.folder = dir.path();
    o.model = model_name;
    o.offsets = offsets;
    o.out = dir / "windows.npy";
    o.threads = 2;
    std::size_t progress_calls = 0;
    o.on_progress = [&](const WindowsProgress& p) {
        EXPECT_EQ(p.total, 3u);
        ++progress_calls;
    };
    auto r = make_windows_corpus(o);
    ASSERT_TRUE(r) << r.error().to_string();

    const std::size_t want = expected_rows(dir / "tone.wav", **model, offsets, 1.0) +
                             expected_rows(dir.path() / "sub" / "noise.wav", **model, offsets, 1.0);
    // The shifts add rows (the noise clip is too short for the last shift).
    EXPECT_GT(want, expected_rows(dir / "tone.wav", **model, 1, 1.0) +
                        expected_rows(dir.path() / "sub" / "noise.wav", **model, 1, 1.0));
    EXPECT_EQ(r->rows, want);
    EXPECT_EQ(r->files, 2u);
    EXPECT_EQ(r->dim, (*model)->info().dim);
    ASSERT_EQ(r->failures.size(), 1u);
    EXPECT_NE(r->failures[0].path.find("broken.wav"), std::string::npos);
    EXPECT_EQ(progress_calls, 4u);  // once before, once per file
    EXPECT_FALSE(fs::exists(dir / "windows.npy.part"));

    // The .npy header says (rows, dim); the data follows it.
    const auto lines = read_lines(dir / "windows.jsonl");
    ASSERT_EQ(lines.size(), want);
    const auto file_bytes = fs::file_size(dir / "windows.npy");
    EXPECT_EQ(file_bytes, 128 + want * static_cast<std::size_t>(r->dim) * sizeof(float));
    std::ifstream npy(dir / "windows.npy", std::ios::binary);
    std::string header(128, '\0');
    npy.read(header.data(), 128);
    EXPECT_NE(header.find(fmt::format("'shape': ({}, {})", want, r->dim)), std::string::npos)
        << header;
    std::vector<float> first(static_cast<std::size_t>(r->dim));
    npy.read(reinterpret_cast<char*>(first.data()),
             static_cast<std::streamsize>(first.size() * sizeof(float)));

    // Files are in sorted order: sub/noise.wav, then tone.wav. Row 0 is noise's first segment at
    // offset 0; the tone's rows start after the leading 0.25 s of silence.
    auto row0 = nlohmann::json::parse(lines.front());
    EXPECT_NE(row0["path"].get<std::string>().find("noise.wav#" + model_name + ".o0.s0"),
              std::string::npos);
    DecodeOptions d;
    d.target_sample_rate_hz = (*model)->info().sample_rate_hz;
    auto noise = decode_audio(dir.path() / "sub" / "noise.wav", d);
    ASSERT_TRUE(noise);
    const auto begin = non_silent_range(noise->samples).begin;
    auto e = (*model)->embed(std::span<const float>(noise->samples).subspan(begin));
    ASSERT_TRUE(e);
    for (std::size_t j = 0; j < first.size(); ++j)
        ASSERT_NEAR(first[j], e->segments.at(0, j), 1e-5f) << j;
    bool tone_seen = false;
    for (const auto& line : lines) {
        auto m = nlohmann::json::parse(line);
        if (m["path"].get<std::string>().find("tone.wav#") == std::string::npos)
            continue;
        if (!tone_seen) {
            EXPECT_NEAR(m["start_s"].get<double>(), 0.25, 0.01) << line;
            tone_seen = true;
        }
        EXPECT_LT(m["offset_s"].get<double>(), (*model)->info().segment_hop_s);
        EXPECT_NEAR(m["duration_s"].get<double>(),
                    m["end_s"].get<double>() - m["start_s"].get<double>(), 1e-9);
    }
    EXPECT_TRUE(tone_seen);

    // `earshot import windows.npy --space S` reads the pair as is: one item per row.
    auto cat = Catalog::open(dir / "bench.earshot");
    ASSERT_TRUE(cat);
    ImportOptions io;
    io.file = dir / "windows.npy";
    io.space = model_name + "-windows";
    auto imported = import_embeddings(**cat, io);
    ASSERT_TRUE(imported) << imported.error().to_string();
    EXPECT_EQ(imported->rows, want);
    EXPECT_EQ(imported->added, want);
    EXPECT_EQ(imported->dim, r->dim);
    auto set = (*cat)->load_embeddings(io.space);
    ASSERT_TRUE(set);
    EXPECT_EQ(set->ids.size(), want);
}

INSTANTIATE_TEST_SUITE_P(Models, WindowsCorpusModelTest, ::testing::Values("mfcc", "mn04"));

TEST(WindowsCorpusTest, BadArgumentsAreInvalid) {
    testing::TempDir dir;
    WindowsOptions o;
    o.folder = dir.path();
    o.model = "mfcc";
    o.out = dir / "w.npy";
    auto empty = make_windows_corpus(o);
    ASSERT_FALSE(empty);
    EXPECT_EQ(empty.error().code(), ErrorCode::kInvalidArgument);
    EXPECT_NE(empty.error().message().find("no audio files"), std::string::npos);
    o.offsets = 0;
    EXPECT_EQ(make_windows_corpus(o).error().code(), ErrorCode::kInvalidArgument);
    // Only undecodable files: an error, and no output left behind.
    std::ofstream(dir / "x.wav") << "not audio";
    o.offsets = 2;
    auto none = make_windows_corpus(o);
    ASSERT_FALSE(none);
    EXPECT_FALSE(fs::exists(dir / "w.npy"));
    EXPECT_FALSE(fs::exists(dir / "w.npy.part"));
}

// Imports dir/<space>.csv into dir/bench.earshot and sets `o` to bench that space: flat and
// HNSW16 at efSearch 64, `queries` held-out rows, one query thread.
void catalog_bench(const fs::path& dir,
                   const std::string& space,
                   std::size_t queries,
                   IndexBenchOptions& o) {
    {
        auto cat = Catalog::open(dir / "bench.earshot");
        ASSERT_TRUE(cat);
        ImportOptions io;
        io.file = dir / (space + ".csv");
        io.space = space;
        ASSERT_TRUE(import_embeddings(**cat, io));
    }
    o = IndexBenchOptions{};
    o.db = dir / "bench.earshot";
    o.space = space;
    o.queries = queries;
    o.specs = {"flat", "HNSW16"};
    o.ef_search = {64};
    o.query_threads = {1};
}

TEST(IndexBenchTest, RecallWithTiesCountsDuplicatesOfTheKthNeighbour) {
    // 40 copies of each of 50 vectors: every query's exact top-10 is 10 of 40 equal copies, so
    // which ten is arbitrary; with ties every index that finds the right copies scores 1.
    testing::TempDir dir;
    {
        std::ofstream csv(dir / "dups.csv");
        std::mt19937 rng(7);
        std::normal_distribution<float> gauss(0.0f, 1.0f);
        for (int c = 0; c < 50; ++c) {
            std::vector<float> v(16);
            for (auto& x : v) x = gauss(rng);
            for (int copy = 0; copy < 40; ++copy) {
                csv << "v" << c << "_" << copy;
                for (float x : v) csv << "," << x;
                csv << "\n";
            }
        }
    }
    IndexBenchOptions o;
    ASSERT_NO_FATAL_FAILURE(catalog_bench(dir.path(), "dups", 20, o));
    auto rows = bench_index(o);
    ASSERT_TRUE(rows) << rows.error().to_string();
    ASSERT_EQ(rows->size(), 2u);
    EXPECT_DOUBLE_EQ((*rows)[0].recall_at_k, 1.0);  // flat against flat
    for (const auto& r : *rows) {
        EXPECT_GE(r.recall_at_k_ties, r.recall_at_k) << r.spec;
        EXPECT_DOUBLE_EQ(r.recall_at_k_ties, 1.0) << r.spec;
    }
}

// An HNSW16 benchmark of synthetic n x dim vectors, one query thread, a filter keeping `keep`.
IndexBenchOptions hnsw16_bench(std::size_t n,
                               int dim,
                               std::size_t queries,
                               std::vector<std::size_t> ef_search,
                               double keep,
                               int build_threads) {
    IndexBenchOptions o;
    o.n = n;
    o.dim = dim;
    o.queries = queries;
    o.specs = {"HNSW16"};
    o.ef_search = std::move(ef_search);
    o.query_threads = {1};
    o.filter_keep = keep;
    o.build_threads = build_threads;
    return o;
}

// --filter-folder: the filter keeps a catalog's items under one folder (as `search --folder`),
// here the items of 4 of 20 clusters, so that which items pass follows the content. The filtered
// rows carry the fraction kept and their recall is against the exact filtered top-k.
TEST(IndexBenchTest, FiltersByFolderAsSearchDoes) {
    testing::TempDir dir;
    {
        std::ofstream csv(dir / "lib.csv");
        std::mt19937 rng(11);
        std::normal_distribution<float> gauss(0.0f, 1.0f);
        std::vector<std::vector<float>> centres(20, std::vector<float>(16));
        for (auto& c : centres)
            for (auto& x : c) x = 3.0f * gauss(rng);
        for (int i = 0; i < 3000; ++i) {
            const int c = i % 20;
            csv << (c < 4 ? "lib/sfx/" : "lib/music/") << "x" << i;
            for (float x : centres[static_cast<std::size_t>(c)]) csv << "," << x + gauss(rng);
            csv << "\n";
        }
    }
    IndexBenchOptions o;
    ASSERT_NO_FATAL_FAILURE(catalog_bench(dir.path(), "lib", 40, o));
    o.filter_folder = "lib/sfx";
    o.compare_walk_budget = true;
    auto rows = bench_index(o);
    ASSERT_TRUE(rows) << rows.error().to_string();
    // flat and HNSW16, unfiltered and filtered; HNSW16 filtered with the walk budget off.
    ASSERT_EQ(rows->size(), 5u);
    EXPECT_EQ(rows->back().engine, "earshot-no-walk-budget");
    EXPECT_EQ(rows->back().spec, "HNSW16");
    std::size_t filtered = 0;
    for (const auto& r : *rows) {
        if (r.filter_keep < 1.0) {
            ++filtered;
            // 600 of 3,000 items, 40 of them held out as queries at random.
            EXPECT_NEAR(r.filter_keep, 0.2, 0.01) << r.spec;
        }
        EXPECT_GE(r.recall_at_k, 0.9) << r.spec << " keep " << r.filter_keep;
    }
    EXPECT_EQ(filtered, 3u);
    o.compare_steering = true;  // two second ways to time the filtered walk: refused
    EXPECT_FALSE(bench_index(o));
    o.compare_steering = false;
    o.compare_share_check = true;
    EXPECT_FALSE(bench_index(o));
    o.compare_walk_budget = false;
    // The passing-share check off is the second way instead.
    rows = bench_index(o);
    ASSERT_TRUE(rows) << rows.error().to_string();
    ASSERT_EQ(rows->size(), 5u);
    EXPECT_EQ(rows->back().engine, "earshot-no-share-check");
    EXPECT_GE(rows->back().recall_at_k, 0.9);
    // Or the filter asked one id at a time (no block form): the same answers.
    o.compare_filter_block = true;
    EXPECT_FALSE(bench_index(o));
    o.compare_share_check = false;
    const auto per_id = bench_index(o);
    ASSERT_TRUE(per_id) << per_id.error().to_string();
    ASSERT_EQ(per_id->size(), 5u);
    EXPECT_EQ(per_id->back().engine, "earshot-per-id-filter");
    const IndexBenchRow& block = (*per_id)[per_id->size() - 2];  // HNSW16 filtered, block form
    ASSERT_EQ(block.engine, "earshot");
    ASSERT_EQ(block.spec, "HNSW16");
    ASSERT_LT(block.filter_keep, 1.0);
    EXPECT_EQ(per_id->back().recall_at_k, block.recall_at_k);
    o.compare_filter_block = false;
    // A folder no item lies under, a synthetic corpus, and both filters at once: refused.
    o.filter_folder = "lib/voices";
    auto none = bench_index(o);
    ASSERT_FALSE(none);
    EXPECT_NE(none.error().message().find("lib/voices"), std::string::npos);
    o.filter_folder = "lib/sfx";
    o.filter_keep = 0.1;
    EXPECT_FALSE(bench_index(o));
    IndexBenchOptions synthetic = hnsw16_bench(2000, 8, 10, {24}, 0.0, 1);
    synthetic.filter_folder = "lib/sfx";
    EXPECT_FALSE(bench_index(synthetic));
}

TEST(IndexBenchTest, ComparesWithPlainHnswlibAndRunsFilteredQueries) {
    IndexBenchOptions o = hnsw16_bench(3000, 24, 30, {48}, 0.1, 2);
    o.compare_hnswlib = true;
    auto rows = bench_index(o);
    ASSERT_TRUE(rows) << rows.error().to_string();
    // ours unfiltered, ours with the filter, plain hnswlib on its own graph and on ours (no
    // filter in 0.6.2).
    ASSERT_EQ(rows->size(), 4u);
    EXPECT_EQ((*rows)[0].engine, "earshot");
    EXPECT_EQ((*rows)[0].filter_keep, 1.0);
    EXPECT_EQ((*rows)[1].engine, "earshot");
    EXPECT_DOUBLE_EQ((*rows)[1].filter_keep, 0.1);
    EXPECT_EQ((*rows)[2].engine, "hnswlib");
    EXPECT_EQ((*rows)[2].spec, "HNSW16");
    EXPECT_EQ((*rows)[3].engine, "hnswlib-same-graph");
    EXPECT_EQ((*rows)[3].spec, "HNSW16");
    // The same graph walked the same way: the same distance count up to ties, and recall.
    const auto& ours = (*rows)[0];
    const auto& same = (*rows)[3];
    EXPECT_GT(ours.distances_per_query, 48.0);
    EXPECT_NEAR(same.distances_per_query, ours.distances_per_query,
                0.02 * ours.distances_per_query);
    EXPECT_NEAR(same.recall_at_k, ours.recall_at_k, 0.02);
    EXPECT_GT((*rows)[2].distances_per_query, 48.0);
    // Both graphs reach (nearly) every element from the entry point: a count that did not walk
    // the links would say 2,999.
    EXPECT_LE(same.unreachable, 30u);
    EXPECT_LE((*rows)[2].unreachable, 30u);
    for (const auto& r : *rows) {
        EXPECT_GE(r.recall_at_k, 0.9) << r.engine << " filter " << r.filter_keep;
        EXPECT_GT(r.qps, 0.0);
        EXPECT_GT(r.cpu_qps, 0.0);
        EXPECT_GT(r.build_s, 0.0);
        EXPECT_EQ(r.ef_search, 48u);
    }
    // Manhattan has no hnswlib space: a clear error, not a silent skip.
    o.metric = Metric::kManhattan;
    auto manhattan = bench_index(o);
    ASSERT_FALSE(manhattan);
    EXPECT_EQ(manhattan.error().code(), ErrorCode::kNotSupported);
}

// --compare-steering: each filtered HNSW setting is also timed without the steering copy; the
// two walks take about the same path (rejected nodes' distances differ by the 8-bit rounding).
TEST(IndexBenchTest, ComparesTheFilteredWalkWithAndWithoutSteering) {
    // 3,000 pass the filter: above the exact-scan floor, so the walk runs.
    IndexBenchOptions o = hnsw16_bench(30000, 8, 40, {48}, 0.1, 2);
    o.compare_steering = true;
    o.rounds = 1;
    auto rows = bench_index(o);
    ASSERT_TRUE(rows) << rows.error().to_string();
    ASSERT_EQ(rows->size(), 3u);
    EXPECT_EQ((*rows)[0].filter_keep, 1.0);
    const auto& steered = (*rows)[1];
    const auto& unsteered = (*rows)[2];
    EXPECT_EQ(steered.engine, "earshot");
    EXPECT_EQ(unsteered.engine, "earshot-unsteered");
    EXPECT_DOUBLE_EQ(unsteered.filter_keep, 0.1);
    EXPECT_GE(steered.recall_at_k, 0.9);
    EXPECT_GE(unsteered.recall_at_k, 0.9);
    // Both walked the graph (an exact scan counts no distances) over about as many nodes.
    EXPECT_GT(steered.distances_per_query, 48.0);
    EXPECT_NEAR(steered.distances_per_query, unsteered.distances_per_query,
                0.2 * unsteered.distances_per_query);
    // The filtered walk runs at about 48 * sqrt(0.1) ~ 15 but expands more nodes than the
    // unfiltered walk at 48: it must reach its ef passing nodes among ten times as many. The
    // passing fraction f is estimated from a sample: the walk runs only for f above 2,048 /
    // 30,000 (ef 13 or more), and f above 20 % (ef 22) is more than 5 standard errors off.
    const auto& unfiltered = (*rows)[0];
    EXPECT_EQ(unfiltered.walk_ef, 48u);
    const double floor_fraction = static_cast<double>(detail::kExactFilterFloor) / 30000.0;
    for (const auto* r : {&steered, &unsteered}) {
        EXPECT_GE(r->walk_ef, static_cast<std::size_t>(std::ceil(48 * std::sqrt(floor_fraction))))
            << r->engine;
        EXPECT_LE(r->walk_ef, static_cast<std::size_t>(std::ceil(48 * std::sqrt(0.2))))
            << r->engine;
    }
    EXPECT_GE(unfiltered.expansions_per_query, 48.0);
    EXPECT_GT(steered.expansions_per_query, unfiltered.expansions_per_query);
    EXPECT_NEAR(steered.expansions_per_query, unsteered.expansions_per_query,
                0.2 * unsteered.expansions_per_query);
}

// --matched-recall: each of our rows is timed beside the other curve at the two adjacent
// efSearch values around its recall (plain hnswlib's own graph for unfiltered rows, our
// unfiltered walk for filtered rows), found by bisection.
TEST(IndexBenchTest, MatchedRecallTimesTheOtherCurveAroundEachRowsRecall) {
    IndexBenchOptions o = hnsw16_bench(3000, 24, 40, {10, 48}, 0.1, 2);
    o.compare_hnswlib = true;
    o.matched_recall = true;
    o.rounds = 1;
    std::vector<MatchedRecallRow> matched;
    auto rows = bench_index(o, &matched);
    ASSERT_TRUE(rows) << rows.error().to_string();
    // Our four rows (two efSearch values, unfiltered and filtered), in the order of the rows.
    ASSERT_EQ(matched.size(), 4u);
    // The other curves' own rows at efSearch 10 (timed in the main loop): where the bisection
    // lands on 10, it must have searched at 10 and seen the same recall.
    const IndexBenchRow* hnswlib10 = nullptr;
    const IndexBenchRow* unfiltered10 = nullptr;
    for (const auto& r : *rows) {
        if (r.ef_search == 10 && r.engine == "hnswlib")
            hnswlib10 = &r;
        if (r.ef_search == 10 && r.engine == "earshot" && r.filter_keep == 1.0)
            unfiltered10 = &r;
    }
    ASSERT_NE(hnswlib10, nullptr);
    ASSERT_NE(unfiltered10, nullptr);
    std::size_t filtered = 0;
    for (const auto& m : matched) {
        const std::string where = fmt::format("ef {} filter {}", m.ef_search, m.filter_keep);
        const bool is_filtered = m.filter_keep < 1.0;
        filtered += is_filtered ? 1 : 0;
        EXPECT_EQ(m.other, is_filtered ? "earshot unfiltered" : "hnswlib") << where;
        ASSERT_TRUE(m.other_reaches) << where;  // 3,000 items: efSearch 1024 finds them all
        EXPECT_GT(m.cpu_qps, 0.0) << where;
        EXPECT_GE(m.other_ef_at, o.k) << where;
        EXPECT_LE(m.other_ef_at, kMaxMatchedEf) << where;
        // The pair brackets our recall, each recall measured when it was timed.
        EXPECT_GE(m.other_recall_at, m.recall) << where;
        if (m.other_ef_below > 0) {
            EXPECT_EQ(m.other_ef_at, m.other_ef_below + 1) << where;
            EXPECT_LT(m.other_recall_below, m.recall) << where;
            EXPECT_GE(m.other_cpu_qps, std::min(m.other_qps_below, m.other_qps_at) * 0.999)
                << where;
            EXPECT_LE(m.other_cpu_qps, std::max(m.other_qps_below, m.other_qps_at) * 1.001)
                << where;
            EXPECT_TRUE(m.bound.empty()) << where;
        } else {
            // Even efSearch = k reaches our recall: the other's QPS is a lower bound.
            EXPECT_EQ(m.other_ef_at, o.k) << where;
            EXPECT_DOUBLE_EQ(m.other_cpu_qps, m.other_qps_at) << where;
            EXPECT_EQ(m.bound, is_filtered ? ">=" : "<=") << where;
        }
        const IndexBenchRow& at10 = is_filtered ? *unfiltered10 : *hnswlib10;
        if (m.other_ef_at == 10) {
            EXPECT_DOUBLE_EQ(m.other_recall_at, at10.recall_at_k_ties) << where;
        }
        if (m.recall > at10.recall_at_k_ties) {
            EXPECT_GT(m.other_ef_at, 10u) << where;
        }
        EXPECT_DOUBLE_EQ(m.ratio,
                         is_filtered ? m.other_cpu_qps / m.cpu_qps : m.cpu_qps / m.other_cpu_qps)
            << where;
    }
    EXPECT_EQ(filtered, 2u);
    // The unfiltered ef 10 row of our graph sits below recall 1: hnswlib's pair around it was
    // found by bisection, so at least one row has a real bracket (not the efSearch = k bound).
    EXPECT_TRUE(std::any_of(matched.begin(), matched.end(),
                            [](const MatchedRecallRow& m) { return m.other_ef_below > 0; }));
}

TEST(IndexBenchTest, MatchedRecallWithNothingToCompareIsAnError) {
    IndexBenchOptions o = hnsw16_bench(500, 8, 5, {10}, 0.0, 1);
    o.matched_recall = true;
    auto rows = bench_index(o);
    ASSERT_FALSE(rows);
    EXPECT_EQ(rows.error().code(), ErrorCode::kInvalidArgument);
    EXPECT_NE(rows.error().message().find("--matched-recall"), std::string::npos);
}

// `centers` Gaussian centres in 16 dims, each repeated `copies` times: exactly, or (every second
// copy when `near`) within 1e-4.
Matrix duplicate_clusters(std::size_t centers, std::size_t copies, std::uint32_t seed, bool near) {
    constexpr std::size_t d = 16;
    std::mt19937 rng(seed);
    std::normal_distribution<float> gauss;
    Matrix data(centers * copies, d);
    for (std::size_t c = 0; c < centers; ++c) {
        std::vector<float> center(d);
        for (auto& v : center) v = gauss(rng);
        for (std::size_t r = 0; r < copies; ++r) {
            const bool exact = !near || r % 2 == 0;
            for (std::size_t j = 0; j < d; ++j)
                data.row(c * copies + r)[j] = center[j] + (exact ? 0.0f : 1e-4f * gauss(rng));
        }
    }
    return data;
}

std::vector<std::int64_t> one_based_ids(std::size_t n) {
    std::vector<std::int64_t> ids(n);
    for (std::size_t i = 0; i < n; ++i) ids[i] = static_cast<std::int64_t>(i + 1);
    return ids;
}

// A bench with a copy of the graph kept before one build step (`compare`: --compare-layout,
// --compare-self-search, --compare-in-degree) over 2 efSearch values and 2 filters. Its rows:
// ours first, then the copy's in the same order, each with the same setting, the copy's build
// time without the step. The graph is renumbered `renumberings` times in all (the copy is never
// renumbered after it is made).
void bench_with_copy(std::size_t n,
                     bool IndexBenchOptions::*compare,
                     const char* copy_engine,
                     std::size_t renumberings,
                     std::vector<IndexBenchRow>& rows,
                     bool copy_builds_less = true) {
    IndexBenchOptions o = hnsw16_bench(n, 8, 40, {24, 48}, 0.1, 2);
    o.*compare = true;
    o.rounds = 1;
    const std::size_t renumbered_before = detail::hnsw_renumberings();
    auto bench = bench_index(o);
    ASSERT_TRUE(bench) << bench.error().to_string();
    EXPECT_EQ(detail::hnsw_renumberings() - renumbered_before, renumberings);
    rows = std::move(*bench);
    ASSERT_EQ(rows.size(), 8u);
    for (std::size_t i = 0; i < 4; ++i) {
        const auto& ours = rows[i];
        const auto& copy = rows[i + 4];
        EXPECT_EQ(ours.engine, "earshot");
        EXPECT_EQ(copy.engine, copy_engine);
        EXPECT_EQ(copy.ef_search, ours.ef_search) << "row " << i;
        EXPECT_DOUBLE_EQ(copy.filter_keep, ours.filter_keep) << "row " << i;
        if (copy_builds_less) {
            EXPECT_LT(copy.build_cpu_s, ours.build_cpu_s) << "row " << i;
        }
        EXPECT_GE(ours.recall_at_k, 0.9) << "row " << i;
        EXPECT_GE(copy.recall_at_k, 0.9) << "row " << i;
    }
}

// Two comparisons that each keep a copy of the graph (`a`, `b`) in one bench: refused, with an
// error naming `flag`.
void refuses_two_copies(bool IndexBenchOptions::*a, bool IndexBenchOptions::*b, const char* flag) {
    IndexBenchOptions both = hnsw16_bench(2000, 8, 40, {24}, 0.1, 2);
    both.*a = true;
    both.*b = true;
    auto refused = bench_index(both);
    ASSERT_FALSE(refused);
    EXPECT_NE(refused.error().message().find(flag), std::string::npos);
}

// An HNSW index built after a bench, to check that the bench switched its build step back on.
void build_after_bench(std::unique_ptr<VectorIndex>& index) {
    const Matrix data = duplicate_clusters(100, 20, 3, /*near=*/true);
    auto made = make_index("HNSW16", static_cast<int>(data.n_cols), Metric::kCosine);
    ASSERT_TRUE(made);
    index = std::move(*made);
    ASSERT_TRUE(index->add(one_based_ids(data.n_rows), data));
}

// How much a process-wide counter (detail::hnsw_self_searches, hnsw_own_insertions) grows over
// build_after_bench, and the size of the index it built: a build step the bench switched off is
// back on when the counter grows with the index.
std::pair<std::size_t, std::size_t> counted_after_bench(std::size_t (*counter)()) {
    const std::size_t before = counter();
    std::unique_ptr<VectorIndex> index;
    build_after_bench(index);
    return {counter() - before, index ? index->size() : 0};
}

// --compare-layout: the one graph timed breadth-first (ours, renumbered after the build) and in
// insertion order (a copy made before the renumbering). Same graph, so the unfiltered walks
// return the same hits and compute the same distances.
TEST(IndexBenchTest, ComparesTheGraphInBreadthFirstAndInsertionOrder) {
    std::vector<IndexBenchRow> rows;
    ASSERT_NO_FATAL_FAILURE(bench_with_copy(30000, &IndexBenchOptions::compare_layout,
                                            "earshot-insertion-order", 1, rows));
    for (std::size_t i = 0; i < 4; ++i) {
        const auto& ours = rows[i];
        const auto& insertion = rows[i + 4];
        if (ours.filter_keep == 1.0) {
            EXPECT_DOUBLE_EQ(insertion.recall_at_k_ties, ours.recall_at_k_ties) << "row " << i;
            EXPECT_DOUBLE_EQ(insertion.distances_per_query, ours.distances_per_query)
                << "row " << i;
            EXPECT_DOUBLE_EQ(insertion.expansions_per_query, ours.expansions_per_query)
                << "row " << i;
        }
    }
    // The renumbering is back on: a build renumbers from its entry point.
    std::unique_ptr<VectorIndex> index;
    ASSERT_NO_FATAL_FAILURE(build_after_bench(index));
    auto g = detail::hnsw_graph_view(*index);
    ASSERT_TRUE(g);
    EXPECT_EQ(g->entry_point, 0u);
}

// Layer-0 elements with fewer than 4 in-links after one-thread builds of the same rows, with
// the in-degree repair as it is now switched, or switched off. Summed over three sets of
// duplicated clusters: which elements a build leaves weak depends on the distance kernels'
// rounding (the first set left some on an AVX-512 machine and none on an AVX2 one).
std::size_t weak_after_build(bool switch_off) {
    std::size_t weak = 0;
    for (const Matrix& data : {duplicate_clusters(100, 20, 3, /*near=*/true),
                               duplicate_clusters(60, 50, 3, /*near=*/false),
                               duplicate_clusters(300, 10, 5, /*near=*/true)}) {
        auto made = make_index("HNSW16", static_cast<int>(data.n_cols), Metric::kCosine);
        EXPECT_TRUE(made);
        if (!made)
            return 0;
        (*made)->set_threads(1);
        if (switch_off)
            detail::set_hnsw_in_degree_repair(false);
        EXPECT_TRUE((*made)->add(one_based_ids(data.n_rows), data));
        detail::set_hnsw_in_degree_repair(true);
        weak += testing_util::weakly_linked(**made, 4);
    }
    return weak;
}

// --compare-in-degree: the graph with the in-degree repair (renumbered again after it) and a copy
// made before it, every setting on both; one copy-keeping comparison at a time. The repair is back
// on afterwards.
TEST(IndexBenchTest, ComparesTheGraphWithAndWithoutTheInDegreeRepair) {
    std::vector<IndexBenchRow> rows;
    ASSERT_NO_FATAL_FAILURE(bench_with_copy(20000, &IndexBenchOptions::compare_in_degree,
                                            "earshot-no-in-degree-repair", 2, rows));
    ASSERT_NO_FATAL_FAILURE(refuses_two_copies(&IndexBenchOptions::compare_in_degree,
                                               &IndexBenchOptions::compare_self_search,
                                               "--compare-in-degree"));
    const std::size_t after_bench = weak_after_build(false);  // first: as the bench left it
    const std::size_t off = weak_after_build(true);
    EXPECT_GT(off, 0u) << "these rows should leave elements with few in-links";
    EXPECT_LT(after_bench, off) << "a build after the bench runs the repair";
}

// --compare-insertion: a second build of the same rows through hnswlib's addPoint, every
// setting on both graphs; each build's phases add up to no more than its time; our insertion is
// back on afterwards.
TEST(IndexBenchTest, ComparesOurInsertionWithHnswlibsAddPoint) {
    std::vector<IndexBenchRow> rows;
    const std::size_t inserted_before = detail::hnsw_own_insertions();
    ASSERT_NO_FATAL_FAILURE(bench_with_copy(20000, &IndexBenchOptions::compare_insertion,
                                            "earshot-hnswlib-insertion", 2, rows,
                                            /*copy_builds_less=*/false));
    EXPECT_EQ(detail::hnsw_own_insertions() - inserted_before, 20000u) << "only ours inserts";
    for (const auto& r : rows) {
        const auto& p = r.build_phases;
        EXPECT_GT(p.insert_s, 0.0) << r.engine;
        EXPECT_GT(p.self_search_s, 0.0) << r.engine;
        EXPECT_GT(p.renumber_s, 0.0) << r.engine;
        EXPECT_LE(p.insert_s + p.in_degree_s + p.reachability_s + p.self_search_s + p.renumber_s,
                  r.build_s)
            << r.engine;
    }
    ASSERT_NO_FATAL_FAILURE(refuses_two_copies(&IndexBenchOptions::compare_insertion,
                                               &IndexBenchOptions::compare_layout,
                                               "--compare-insertion"));
    const auto [inserted, size] = counted_after_bench(&detail::hnsw_own_insertions);
    EXPECT_EQ(inserted, size);
    EXPECT_GT(size, 0u);
}

// --compare-self-search: the graph with the self-search repair (ours, repaired after the build,
// then renumbered again as a build leaves it) and a copy made before it, every setting on both. Not
// together with --compare-layout (each keeps a copy before one build step).
TEST(IndexBenchTest, ComparesTheGraphWithAndWithoutTheSelfSearchRepair) {
    std::vector<IndexBenchRow> rows;
    ASSERT_NO_FATAL_FAILURE(bench_with_copy(20000, &IndexBenchOptions::compare_self_search,
                                            "earshot-no-self-search", 2, rows));
    ASSERT_NO_FATAL_FAILURE(refuses_two_copies(&IndexBenchOptions::compare_self_search,
                                               &IndexBenchOptions::compare_layout,
                                               "--compare-self-search"));
    // The repair is back on: a build walks for each of its elements.
    const auto [walks, size] = counted_after_bench(&detail::hnsw_self_searches);
    EXPECT_GE(walks, size);
    EXPECT_GT(size, 0u);
}

// Each efSearch's unfiltered and filtered settings are timed back to back (so that their ratio
// does not carry the machine's drift), but the rows come back grouped by filter, efSearch
// ascending, as the tables print them.
TEST(IndexBenchTest, RowsComeBackGroupedByFilterWithEfSearchAscending) {
    const IndexBenchOptions o = hnsw16_bench(3000, 16, 20, {16, 32, 64}, 0.5, 1);
    auto rows = bench_index(o);
    ASSERT_TRUE(rows) << rows.error().to_string();
    ASSERT_EQ(rows->size(), 6u);
    const std::size_t efs[] = {16, 32, 64};
    for (std::size_t i = 0; i < rows->size(); ++i) {
        EXPECT_EQ((*rows)[i].engine, "earshot");
        EXPECT_DOUBLE_EQ((*rows)[i].filter_keep, i < 3 ? 1.0 : 0.5) << "row " << i;
        EXPECT_EQ((*rows)[i].ef_search, efs[i % 3]) << "row " << i;
    }
}

// Ratios at equal recall interpolate QPS between the two efSearch rows around a recall
// (geometrically), give the lowest-ef row as a lower bound below the curve, and nothing above it.
TEST(IndexBenchTest, QpsAtEqualRecallInterpolatesAndFlagsBounds) {
    auto row = [](std::size_t ef, double recall, double qps) {
        IndexBenchRow r;
        r.ef_search = ef;
        r.recall_at_k_ties = recall;
        r.cpu_qps = qps;
        return r;
    };
    const IndexBenchRow a = row(16, 0.90, 1000.0);
    const IndexBenchRow b = row(32, 0.95, 500.0);
    const IndexBenchRow c = row(64, 0.99, 250.0);
    const std::vector<const IndexBenchRow*> curve = {&a, &b, &c};
    auto mid = qps_at_recall(curve, 0.925);
    ASSERT_TRUE(mid);
    EXPECT_NEAR(mid->qps, std::sqrt(1000.0 * 500.0), 1e-6);
    EXPECT_FALSE(mid->lower_bound);
    auto at_row = qps_at_recall(curve, 0.99);
    ASSERT_TRUE(at_row);
    EXPECT_NEAR(at_row->qps, 250.0, 1e-9);
    auto below = qps_at_recall(curve, 0.5);
    ASSERT_TRUE(below);
    EXPECT_DOUBLE_EQ(below->qps, 1000.0);
    EXPECT_TRUE(below->lower_bound);
    EXPECT_FALSE(qps_at_recall(curve, 0.995));
    EXPECT_FALSE(qps_at_recall({}, 0.9));
    // Recall falling at a higher efSearch (noise): the fastest row that reaches it.
    const IndexBenchRow d = row(128, 0.97, 100.0);
    const std::vector<const IndexBenchRow*> bumpy = {&a, &b, &c, &d};
    auto q = qps_at_recall(bumpy, 0.98);
    ASSERT_TRUE(q);
    EXPECT_GT(q->qps, 250.0);
    EXPECT_LT(q->qps, 500.0);
}

// Elements of our HNSW8,efC32 graph (2 build threads) that no layer-0 path reaches.
std::size_t unreachable_in_our_graph(const Matrix& data) {
    auto index = make_index("HNSW8,efC32", static_cast<int>(data.n_cols), Metric::kCosine);
    EXPECT_TRUE(index);
    if (!index)
        return data.n_rows;
    (*index)->set_threads(2);
    const auto ids = one_based_ids(data.n_rows);
    EXPECT_TRUE((*index)->add(ids, data));
    auto ours = detail::plain_hnswlib_on_graph(**index, data, ids, Metric::kCosine);
    EXPECT_TRUE(ours) << ours.error().to_string();
    return ours ? (*ours)->unreachable() : data.n_rows;
}

// Clusters of exact and near duplicates (as in real windowed corpora) leave elements that no
// layer-0 path reaches in a plain hnswlib build; our build links them in afterwards, so every
// element of our graph is reachable and can be found (docs/performance.md, seventh round).
TEST(PlainHnswlibOnGraphTest, OurBuildLeavesNoElementUnreachable) {
    const Matrix data = duplicate_clusters(600, 12, 11, /*near=*/true);
    EXPECT_EQ(unreachable_in_our_graph(data), 0u);
    auto theirs =
        detail::build_plain_hnswlib(data, one_based_ids(data.n_rows), Metric::kCosine, 8, 32, 2);
    ASSERT_TRUE(theirs) << theirs.error().to_string();
    std::cout << "plain hnswlib's own graph: " << (*theirs)->unreachable() << " of " << data.n_rows
              << " unreachable\n";
}

// Clusters of many exact copies (more than a layer-0 list holds) fill each member's list with
// its copies, so a cluster no path enters has no reached element within two hops of any member:
// the repair's last stage, a search for the element's own vector, links such clusters in (34-146
// of 6,000 stayed unreachable without it).
TEST(PlainHnswlibOnGraphTest, WholeUnreachedDuplicateClustersAreLinkedIn) {
    EXPECT_EQ(unreachable_in_our_graph(duplicate_clusters(150, 40, 5, /*near=*/false)), 0u);
}

// plain_hnswlib_on_graph: plain hnswlib's searchKnn over a copy of our graph finds what our walk
// finds (float32 graph, and the half-precision graph walked with the float rows), computing the
// same number of distances; other kinds are refused.
TEST(PlainHnswlibOnGraphTest, WalksTheGraphOurIndexBuilt) {
    constexpr std::size_t n = 3000;
    constexpr std::size_t d = 32;
    std::mt19937 rng(7);
    std::normal_distribution<float> gauss;
    Matrix data(n, d);
    for (auto& v : data.data) v = gauss(rng);
    std::vector<std::int64_t> ids(n);
    for (std::size_t i = 0; i < n; ++i) ids[i] = static_cast<std::int64_t>(3 * i + 5);
    for (const char* spec : {"HNSW16", "HNSW16,SQfp16"}) {
        for (Metric metric : {Metric::kCosine, Metric::kEuclidean}) {
            auto index = make_index(spec, static_cast<int>(d), metric);
            ASSERT_TRUE(index) << index.error().to_string();
            (*index)->set_threads(2);
            ASSERT_TRUE((*index)->add(ids, data));
            auto plain = detail::plain_hnswlib_on_graph(**index, data, ids, metric);
            ASSERT_TRUE(plain) << plain.error().to_string();
            (*plain)->set_ef(40);
            const bool half = std::string(spec).find("SQfp16") != std::string::npos;
            std::size_t same = 0;
            std::size_t total = 0;
            std::size_t ours_distances = 0;
            std::size_t plain_distances = 0;
            for (std::size_t q = 0; q < 50; ++q) {
                std::vector<float> query(d);
                for (auto& v : query) v = gauss(rng);
                SearchOptions so;
                so.k = 10;
                so.ef_search = 40;
                const std::size_t before = detail::hnsw_walk_distances();
                auto hits = (*index)->search(query, so);
                ours_distances += detail::hnsw_walk_distances() - before;
                ASSERT_TRUE(hits);
                const auto theirs = (*plain)->search(query.data(), 10);
                plain_distances += (*plain)->count_distances(query.data(), 10);
                ASSERT_EQ(theirs.size(), 10u);
                for (const auto& h : *hits) {
                    total += 1;
                    same +=
                        static_cast<std::size_t>(std::count(theirs.begin(), theirs.end(), h.id));
                }
            }
            // Float rows against half-precision ones change a few neighbours and the path.
            const double agree = static_cast<double>(same) / static_cast<double>(total);
            EXPECT_GE(agree, half ? 0.9 : 0.98) << spec << " " << metric_name(metric);
            const double tolerance = half ? 0.1 : 0.02;
            EXPECT_NEAR(static_cast<double>(plain_distances), static_cast<double>(ours_distances),
                        tolerance * static_cast<double>(ours_distances))
                << spec << " " << metric_name(metric);
        }
    }
    auto flat = make_index("flat", static_cast<int>(d), Metric::kCosine);
    ASSERT_TRUE(flat);
    ASSERT_TRUE((*flat)->add(ids, data));
    auto refused = detail::plain_hnswlib_on_graph(**flat, data, ids, Metric::kCosine);
    ASSERT_FALSE(refused);
    EXPECT_EQ(refused.error().code(), ErrorCode::kInvalidArgument);
}

}  // namespace
}  // namespace earshot
