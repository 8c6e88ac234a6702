// Every registered index kind (each example spec of each row, and a toy kind registered from
// toy_index.cpp) against exact search (flat) on the same data, for every metric: recall@10 at
// default settings, after save/load, after deletes and inserts, with a filter; spec parsing.
#include <algorithm>
#include <filesystem>
#include <string>
#include <string_view>
#include <tuple>
#include <vector>

#include <gtest/gtest.h>

#include "index/hnsw_index.h"
#include "index/index_file.h"
#include "index/ivfpq_index.h"
#include "index/vector_index.h"
#include "index_test_util.h"
#include "test_support.h"
#include "toy_index.h"

namespace earshot {
namespace {

using testing_util::clustered;
using testing_util::ids_from;
using testing_util::recall_at_k;

// Registered before the every-kind tests are instantiated (dynamic initialisation runs in order
// within this file; gtest evaluates the parameter generators later, in InitGoogleTest).
const bool kToyRegistered = register_index_kind(testing_util::kToyScanIndexKind).has_value();

// Every example spec of every registered row.
std::vector<std::string> every_example_spec() {
    std::vector<std::string> out;
    for (const auto& kind : index_kinds()) {
        std::string_view examples = kind.examples;
        while (!examples.empty()) {
            const auto bar = examples.find('|');
            out.emplace_back(examples.substr(0, bar));
            examples = bar == std::string_view::npos ? "" : examples.substr(bar + 1);
        }
    }
    return out;
}

constexpr std::size_t kN = 4000;
constexpr std::size_t kDim = 48;
constexpr std::size_t kQueries = 60;

struct Fixture {
    Matrix data = clustered(kN, kDim, 1234);
    Matrix queries = clustered(kQueries, kDim, 99);
    std::vector<std::int64_t> ids = ids_from(1, kN);
};

const Fixture& fixture() {
    static const Fixture f;
    return f;
}

class EveryIndexKind : public ::testing::TestWithParam<std::tuple<std::string, Metric>> {
protected:
    std::string spec() const { return std::get<0>(GetParam()); }
    Metric metric() const { return std::get<1>(GetParam()); }

    std::unique_ptr<VectorIndex> build() const {
        auto index = make_index(spec(), static_cast<int>(kDim), metric());
        EXPECT_TRUE(index) << index.error().to_string();
        EXPECT_TRUE((*index)->add(fixture().ids, fixture().data));
        return std::move(*index);
    }
    FlatIndex exact() const {
        FlatIndex flat(static_cast<int>(kDim), metric());
        EXPECT_TRUE(flat.add(fixture().ids, fixture().data));
        return flat;
    }
    std::filesystem::path temp_file() const {
        auto name = spec() + "_" + std::string(metric_name(metric())) + ".esix";
        std::replace(name.begin(), name.end(), ',', '_');
        return dir_.path() / name;  // per test: CTest runs the cases in parallel processes
    }
    earshot::testing::TempDir dir_;
};

TEST_P(EveryIndexKind, RecallAtTenAgainstFlatAtDefaults) {
    auto index = build();
    auto flat = exact();
    EXPECT_EQ(index->size(), kN);
    SearchOptions o;
    o.k = 10;
    EXPECT_GE(recall_at_k(*index, flat, fixture().queries, o), 0.95);
}

TEST_P(EveryIndexKind, DistancesAreExactForReturnedItems) {
    auto index = build();
    SearchOptions o;
    o.k = 5;
    auto hits = index->search(fixture().queries.row_span(0), o);
    ASSERT_TRUE(hits);
    ASSERT_EQ(hits->size(), 5u);
    for (const auto& h : *hits) {
        const double want =
            naive_distance(metric(), fixture().queries.row_span(0),
                           fixture().data.row_span(static_cast<std::size_t>(h.id - 1)));
        // IVF-PQ re-ranks with 8-bit copies (one step is 1/255 of a dimension's range).
        const double tol = index->exact_distances() ? 1e-3 : 3e-2;
        EXPECT_NEAR(h.distance, want, tol * std::max(1.0, want));
    }
    EXPECT_TRUE(std::is_sorted(hits->begin(), hits->end(), [](const auto& a, const auto& b) {
        return a.distance < b.distance;
    }));
}

TEST_P(EveryIndexKind, SaveLoadGivesIdenticalResults) {
    auto index = build();
    const auto path = temp_file();
    IndexFileHeader h;
    h.space = "test-space";
    h.catalog_generation = 7;
    ASSERT_TRUE(save_index_file(path, *index, h));
    auto loaded = load_index_file(path);
    ASSERT_TRUE(loaded) << loaded.error().to_string();
    EXPECT_EQ(loaded->header.space, "test-space");
    EXPECT_EQ(loaded->header.catalog_generation, 7);
    EXPECT_EQ(loaded->header.spec, index->spec().text);
    EXPECT_EQ(loaded->header.count, kN);
    SearchOptions o;
    o.k = 10;
    for (std::size_t q = 0; q < 10; ++q) {
        auto a = index->search(fixture().queries.row_span(q), o);
        auto b = loaded->index->search(fixture().queries.row_span(q), o);
        ASSERT_TRUE(a && b);
        ASSERT_EQ(a->size(), b->size());
        for (std::size_t i = 0; i < a->size(); ++i) {
            EXPECT_EQ((*a)[i].id, (*b)[i].id);
            EXPECT_EQ((*a)[i].distance, (*b)[i].distance);
        }
    }
    auto flat = exact();
    EXPECT_GE(recall_at_k(*loaded->index, flat, fixture().queries, o), 0.95);
    // Save again: same bytes.
    const auto path2 = std::filesystem::path(path.string() + "2");
    ASSERT_TRUE(save_index_file(path2, *loaded->index, h));
    EXPECT_EQ(std::filesystem::file_size(path), std::filesystem::file_size(path2));
    std::filesystem::remove(path);
    std::filesystem::remove(path2);
}

TEST_P(EveryIndexKind, DeletesAndInsertsKeepRecall) {
    auto index = build();
    // Delete every third item (crosses the compaction threshold for HNSW), insert new ones.
    std::vector<std::int64_t> gone;
    for (std::int64_t id = 1; id <= static_cast<std::int64_t>(kN); id += 3) gone.push_back(id);
    EXPECT_EQ(index->remove(gone), gone.size());
    EXPECT_EQ(index->remove(gone), 0u);
    Matrix extra = clustered(500, kDim, 555);
    auto extra_ids = ids_from(100000, 500);
    ASSERT_TRUE(index->add(extra_ids, extra));
    EXPECT_EQ(index->size(), kN - gone.size() + 500);
    EXPECT_FALSE(index->contains(gone[0]));
    EXPECT_TRUE(index->contains(100000));

    FlatIndex flat(static_cast<int>(kDim), metric());
    ASSERT_TRUE(flat.add(fixture().ids, fixture().data));
    flat.remove(gone);
    ASSERT_TRUE(flat.add(extra_ids, extra));
    SearchOptions o;
    o.k = 10;
    EXPECT_GE(recall_at_k(*index, flat, fixture().queries, o), 0.95);
    for (std::size_t q = 0; q < 10; ++q) {
        auto hits = index->search(fixture().queries.row_span(q), o);
        ASSERT_TRUE(hits);
        for (const auto& h : *hits) EXPECT_TRUE(h.id % 3 != 1 || h.id >= 100000) << h.id;
    }
    // Re-adding a deleted id works (update after delete); a live duplicate is rejected.
    Matrix one(1, kDim);
    std::copy(fixture().data.row(0), fixture().data.row(0) + kDim, one.row(0));
    std::vector<std::int64_t> first = {1};
    EXPECT_TRUE(index->add(first, one));
    EXPECT_FALSE(index->add(first, one));
    EXPECT_TRUE(upsert(*index, first, one));
}

TEST_P(EveryIndexKind, FilterAppliesDuringSearch) {
    auto index = build();
    auto flat = exact();
    for (int modulo : {2, 50, 1000}) {
        SearchOptions o;
        o.k = 10;
        o.filter = [modulo](std::int64_t id) { return id % modulo == 0; };
        for (std::size_t q = 0; q < 10; ++q) {
            auto hits = index->search(fixture().queries.row_span(q), o);
            ASSERT_TRUE(hits);
            EXPECT_EQ(hits->size(),
                      std::min<std::size_t>(10, kN / static_cast<std::size_t>(modulo)));
            for (const auto& h : *hits) EXPECT_EQ(h.id % modulo, 0);
        }
        EXPECT_GE(recall_at_k(*index, flat, fixture().queries, o), 0.95) << "modulo " << modulo;
    }
}

TEST_P(EveryIndexKind, EmptyIndexAndBadQueries) {
    auto index = make_index(spec(), static_cast<int>(kDim), metric());
    ASSERT_TRUE(index);
    SearchOptions o;
    auto hits = (*index)->search(fixture().queries.row_span(0), o);
    ASSERT_TRUE(hits);
    EXPECT_TRUE(hits->empty());
    std::vector<float> short_query(kDim - 1, 0.0f);
    EXPECT_EQ((*index)->search(short_query, o).error().code(), ErrorCode::kInvalidArgument);
    Matrix bad(1, kDim + 1);
    std::vector<std::int64_t> one = {1};
    EXPECT_EQ((*index)->add(one, bad).error().code(), ErrorCode::kInvalidArgument);
}

INSTANTIATE_TEST_SUITE_P(Kinds,
                         EveryIndexKind,
                         ::testing::Combine(::testing::ValuesIn(every_example_spec()),
                                            ::testing::Values(Metric::kCosine,
                                                              Metric::kEuclidean,
                                                              Metric::kManhattan,
                                                              Metric::kCorrelation)),
                         [](const auto& param_info) {
                             std::string spec = std::get<0>(param_info.param);
                             std::replace(spec.begin(), spec.end(), ',', '_');
                             return spec + "_" +
                                    std::string(metric_name(std::get<1>(param_info.param)));
                         });

TEST(IndexRegistryTest, ParsesSpecs) {
    auto s = parse_index_spec("hnsw32");
    ASSERT_TRUE(s);
    EXPECT_EQ(s->kind, "hnsw");
    EXPECT_EQ(s->text, "HNSW32");
    EXPECT_EQ(hnsw_params(*s)->m, 32);
    EXPECT_EQ(hnsw_params(*s)->ef_construction, kHnswDefaultEfConstruction);
    auto e = parse_index_spec("HNSW16,efC64");
    ASSERT_TRUE(e);
    EXPECT_EQ(e->text, "HNSW16,efC64");
    EXPECT_EQ(parse_index_spec("FLAT")->text, "flat");
    EXPECT_EQ(parse_index_spec("flatter").error().code(), ErrorCode::kInvalidArgument);
    EXPECT_EQ(parse_index_spec("HNSW").error().code(), ErrorCode::kInvalidArgument);
    EXPECT_EQ(parse_index_spec("HNSW0").error().code(), ErrorCode::kInvalidArgument);
    EXPECT_EQ(parse_index_spec("HNSW32,foo").error().code(), ErrorCode::kInvalidArgument);
    auto h16 = parse_index_spec("hnsw16,efc64,sqfp16");
    ASSERT_TRUE(h16);
    EXPECT_EQ(h16->kind, "hnsw");
    EXPECT_EQ(h16->text, "HNSW16,efC64,SQfp16");
    EXPECT_EQ(hnsw_params(*h16)->ef_construction, 64);
    EXPECT_TRUE(hnsw_params(*h16)->half);
    EXPECT_EQ(parse_index_spec("HNSW32,SQfp16")->text, "HNSW32,SQfp16");
    EXPECT_TRUE(hnsw_params(*parse_index_spec("HNSW32,SQfp16"))->half);
    EXPECT_FALSE(hnsw_params(*parse_index_spec("HNSW32"))->half);
    EXPECT_EQ(parse_index_spec("HNSW32,").error().code(), ErrorCode::kInvalidArgument);
    EXPECT_EQ(parse_index_spec("HNSW32,efC64,").error().code(), ErrorCode::kInvalidArgument);
    EXPECT_EQ(parse_index_spec("HNSW32,SQfp16,efC64").error().code(), ErrorCode::kInvalidArgument);
    EXPECT_EQ(parse_index_spec("HNSW32,SQ8").error().code(), ErrorCode::kInvalidArgument);
    EXPECT_EQ(parse_index_spec("lsh").error().code(), ErrorCode::kInvalidArgument);
    auto ivf = parse_index_spec("ivf4096,pq32x8");
    ASSERT_TRUE(ivf);
    EXPECT_EQ(ivf->kind, "ivfpq");
    EXPECT_EQ(ivf->text, "IVF4096,PQ32");
    EXPECT_EQ(ivfpq_params(*ivf)->nlist, 4096);
    EXPECT_EQ(ivfpq_params(*ivf)->pq_m, 32);
    auto sq8 = parse_index_spec("sq8");
    ASSERT_TRUE(sq8);
    EXPECT_EQ(sq8->kind, "sq");
    EXPECT_EQ(sq8->text, "SQ8");
    EXPECT_EQ(parse_index_spec("SQFP16")->text, "SQfp16");
    EXPECT_EQ(parse_index_spec("SQ4").error().code(), ErrorCode::kInvalidArgument);
    EXPECT_EQ(parse_index_spec("IVF4096,Flat").error().code(), ErrorCode::kNotSupported);
    EXPECT_EQ(parse_index_spec("IVF4096").error().code(), ErrorCode::kInvalidArgument);
    EXPECT_EQ(parse_index_spec("IVF0,PQ8").error().code(), ErrorCode::kInvalidArgument);
    EXPECT_EQ(parse_index_spec("IVF64,PQ").error().code(), ErrorCode::kInvalidArgument);
    EXPECT_EQ(parse_index_spec("IVF64,PQ8x4").error().code(), ErrorCode::kInvalidArgument);
    // PQ<m> must divide the dimension; the message suggests ones that do.
    auto bad_m = make_index("IVF64,PQ32", 200, Metric::kCosine);
    ASSERT_FALSE(bad_m);
    EXPECT_EQ(bad_m.error().code(), ErrorCode::kInvalidArgument);
    EXPECT_NE(bad_m.error().message().find("PQ100, PQ50, PQ40, PQ25, PQ20, PQ10"),
              std::string::npos)
        << bad_m.error().message();
}

TEST(IndexRegistryTest, EveryRowParsesItsExamplesAndIsInTheHelp) {
    ASSERT_TRUE(kToyRegistered);
    const std::string help = index_spec_help();
    const auto bad = parse_index_spec("nosuchkind");
    ASSERT_FALSE(bad);
    for (const auto& kind : index_kinds()) {
        SCOPED_TRACE(kind.name);
        EXPECT_EQ(find_index_kind(kind.name), &kind);
        EXPECT_NE(bad.error().message().find(kind.syntax), std::string::npos)
            << "the unknown-spec message lists every syntax";
        ASSERT_NE(kind.index_help, nullptr);
        EXPECT_NE(help.find(kind.index_help()), std::string::npos) << help;
        for (const auto& spec : every_example_spec()) {
            auto parsed = parse_index_spec(spec);
            ASSERT_TRUE(parsed) << spec;
            if (parsed->kind == kind.name) {
                EXPECT_EQ(parsed->text, spec) << "examples are written in canonical form";
            }
        }
    }
    EXPECT_EQ(parse_index_spec("toyscan")->kind, "toyscan");
    EXPECT_NE(index_ef_search_help().find("HNSW"), std::string::npos);
    EXPECT_NE(index_nprobe_help().find("IVF"), std::string::npos);
}

TEST(IndexRegistryTest, RegisteringACollidingOrIncompleteRowFails) {
    auto again = register_index_kind(testing_util::kToyScanIndexKind);
    ASSERT_FALSE(again);
    EXPECT_EQ(again.error().code(), ErrorCode::kAlreadyExists);
    IndexKind prefix_clash = testing_util::kToyScanIndexKind;
    prefix_clash.name = "hnsw2";
    prefix_clash.prefix = "hnswx";  // would shadow HNSW<M> specs
    EXPECT_EQ(register_index_kind(prefix_clash).error().code(), ErrorCode::kAlreadyExists);
    IndexKind no_load = testing_util::kToyScanIndexKind;
    no_load.name = "noload";
    no_load.prefix = "noload";
    no_load.load = nullptr;
    EXPECT_EQ(register_index_kind(no_load).error().code(), ErrorCode::kInvalidArgument);
}

TEST(IndexRegistryTest, AutoChoiceBySize) {
    EXPECT_EQ(auto_index_spec(10), "flat");
    EXPECT_EQ(auto_index_spec(kAutoAnnThreshold - 1), "flat");
    EXPECT_EQ(auto_index_spec(kAutoAnnThreshold), "HNSW32");
}

}  // namespace
}  // namespace earshot

namespace earshot {
namespace {

// HNSW<M>,SQfp16 walks half-precision vectors; callers re-rank 2 x k candidates with the exact
// float32 distances (Engine::search_vector, bench index). With an efSearch that lets the walk
// reach every item, that re-ranking gives exactly flat's top k (ids and distances).
TEST(HnswSqfp16Test, ReRankingTwoKCandidatesEqualsExactSearch) {
    for (Metric metric : {Metric::kCosine, Metric::kEuclidean, Metric::kManhattan}) {
        auto index = make_index("HNSW16,SQfp16", static_cast<int>(kDim), metric);
        ASSERT_TRUE(index);
        EXPECT_FALSE((*index)->exact_distances());
        ASSERT_TRUE((*index)->add(fixture().ids, fixture().data));
        FlatIndex flat(static_cast<int>(kDim), metric);
        ASSERT_TRUE(flat.add(fixture().ids, fixture().data));
        const std::size_t k = 10;
        for (std::size_t q = 0; q < kQueries; ++q) {
            SearchOptions o;
            o.k = 2 * k;
            o.ef_search = kN;
            auto cands = (*index)->search(fixture().queries.row_span(q), o);
            ASSERT_TRUE(cands);
            ASSERT_EQ(cands->size(), 2 * k);
            for (auto& h : *cands) {
                h.distance = static_cast<float>(
                    naive_distance(metric, fixture().queries.row_span(q),
                                   fixture().data.row_span(static_cast<std::size_t>(h.id - 1))));
            }
            std::sort(cands->begin(), cands->end(), [](const auto& a, const auto& b) {
                return a.distance < b.distance || (a.distance == b.distance && a.id < b.id);
            });
            SearchOptions e;
            e.k = k;
            auto want = flat.search(fixture().queries.row_span(q), e);
            ASSERT_TRUE(want);
            ASSERT_EQ(want->size(), k);
            for (std::size_t i = 0; i < k; ++i) {
                EXPECT_EQ((*cands)[i].id, (*want)[i].id) << metric_name(metric) << " q " << q;
                EXPECT_NEAR((*cands)[i].distance, (*want)[i].distance,
                            1e-4 * std::max(1.0f, (*want)[i].distance));
            }
        }
    }
}

TEST(HnswSqfp16Test, StoresHalfTheVectorBytes) {
    auto plain = make_index("HNSW16", 256, Metric::kCosine);
    auto half = make_index("HNSW16,SQfp16", 256, Metric::kCosine);
    ASSERT_TRUE(plain && half);
    Matrix data = clustered(2000, 256, 7);
    auto ids = ids_from(1, 2000);
    ASSERT_TRUE((*plain)->add(ids, data));
    ASSERT_TRUE((*half)->add(ids, data));
    // 256 x 2 bytes fewer per item.
    const double saved = (static_cast<double>((*plain)->memory_bytes()) -
                          static_cast<double>((*half)->memory_bytes())) /
                         2000.0;
    EXPECT_GT(saved, 400.0);
}

}  // namespace
}  // namespace earshot
