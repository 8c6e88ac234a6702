// Index file corruption: truncated file, bad magic, wrong dim, damaged payload, newer version
// each give an error (kCorruption / kNotSupported), never a crash.
#include "index/index_file.h"

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <span>
#include <string>
#include <utility>

#include <gtest/gtest.h>

#include "core/memory_stream.h"
#include "index_test_util.h"
#include "test_support.h"

namespace earshot {
namespace {

namespace fs = std::filesystem;

std::vector<char> read_all(const fs::path& p) {
    std::ifstream in(p, std::ios::binary);
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

void write_all(const fs::path& p, const std::vector<char>& bytes) {
    std::ofstream out(p, std::ios::binary | std::ios::trunc);
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

class IndexFileTest : public ::testing::TestWithParam<std::string> {
protected:
    void SetUp() override {
        auto index = make_index(GetParam(), 16, Metric::kEuclidean);
        ASSERT_TRUE(index);
        // Enough rows for IVF-PQ to train (it is exact, and saved as such, below 2048 items).
        auto data = testing_util::clustered(2500, 16, 7);
        ASSERT_TRUE((*index)->add(testing_util::ids_from(1, 2500), data));
        ASSERT_TRUE((*index)->exact_distances() || GetParam().rfind("IVF", 0) == 0);
        // A fresh directory per test: CTest runs the cases in parallel processes.
        std::string name = GetParam();
        std::replace(name.begin(), name.end(), ',', '_');
        path_ = dir_.path() / ("corrupt_" + name + ".esix");
        IndexFileHeader h;
        h.space = "s";
        ASSERT_TRUE(save_index_file(path_, **index, h));
        bytes_ = read_all(path_);
        ASSERT_TRUE(load_index_file(path_));
    }
    earshot::testing::TempDir dir_;

    ErrorCode load_code(const std::vector<char>& bytes) {
        write_all(path_, bytes);
        auto r = load_index_file(path_);
        EXPECT_FALSE(r);
        return r ? ErrorCode::kInternal : r.error().code();
    }

    fs::path path_;
    std::vector<char> bytes_;
};

TEST_P(IndexFileTest, TruncatedFileIsCorruption) {
    for (std::size_t keep :
         {std::size_t{0}, std::size_t{3}, std::size_t{20}, bytes_.size() / 2, bytes_.size() - 1}) {
        std::vector<char> cut(bytes_.begin(), bytes_.begin() + static_cast<std::ptrdiff_t>(keep));
        EXPECT_EQ(load_code(cut), ErrorCode::kCorruption) << "kept " << keep;
    }
}

TEST_P(IndexFileTest, TrailingBytesAreCorruption) {
    auto longer = bytes_;
    longer.push_back('x');
    EXPECT_EQ(load_code(longer), ErrorCode::kCorruption);
}

TEST_P(IndexFileTest, BadMagicIsCorruption) {
    auto b = bytes_;
    b[0] = 'X';
    EXPECT_EQ(load_code(b), ErrorCode::kCorruption);
    EXPECT_EQ(read_index_header(path_).error().code(), ErrorCode::kCorruption);
}

TEST_P(IndexFileTest, WrongDimIsCorruption) {
    auto h = read_index_header(path_);
    ASSERT_TRUE(h);
    // dim sits after magic, version and the two length-prefixed strings.
    const std::size_t dim_at = 4 + 4 + 4 + h->spec.size() + 4 + h->space.size();
    for (std::uint32_t dim : {15u, 17u, 0u, 1u << 20}) {
        auto b = bytes_;
        std::memcpy(b.data() + dim_at, &dim, sizeof dim);
        EXPECT_EQ(load_code(b), ErrorCode::kCorruption) << "dim " << dim;
    }
}

TEST_P(IndexFileTest, DamagedPayloadIsCorruption) {
    auto b = bytes_;
    b[b.size() - 20] = static_cast<char>(b[b.size() - 20] ^ 0x5a);
    EXPECT_EQ(load_code(b), ErrorCode::kCorruption);
}

TEST_P(IndexFileTest, NewerVersionIsNotSupported) {
    auto b = bytes_;
    const std::uint32_t v = kIndexFileVersion + 1;
    std::memcpy(b.data() + 4, &v, sizeof v);
    EXPECT_EQ(load_code(b), ErrorCode::kNotSupported);
}

TEST_P(IndexFileTest, MissingFileIsNotFound) {
    fs::remove(path_);
    EXPECT_EQ(load_index_file(path_).error().code(), ErrorCode::kNotFound);
}

// load_index on the bytes in memory (what fuzz_index_file runs) loads the index load_index_file
// loads: same header, same items, same hits. The stream need not start at the file: a prefix
// before the stream's position is not part of the file.
TEST_P(IndexFileTest, FromMemoryLoadsWhatTheFileLoads) {
    auto from_file = load_index_file(path_);
    ASSERT_TRUE(from_file) << from_file.error().to_string();
    const std::string prefix = "junk before the file";
    std::string bytes = prefix + std::string(bytes_.begin(), bytes_.end());
    MemoryIstream in(bytes);
    in.seekg(static_cast<std::streamoff>(prefix.size()));
    auto from_memory = load_index(in, bytes_.size(), "mem.esix");
    ASSERT_TRUE(from_memory) << from_memory.error().to_string();
    EXPECT_EQ(from_memory->header.spec, from_file->header.spec);
    EXPECT_EQ(from_memory->header.space, "s");
    EXPECT_EQ(from_memory->header.dim, 16);
    EXPECT_EQ(from_memory->header.count, 2500u);
    const VectorIndex& a = *from_file->index;
    const VectorIndex& b = *from_memory->index;
    ASSERT_EQ(b.size(), a.size());
    auto ids_a = a.ids();
    auto ids_b = b.ids();
    std::sort(ids_a.begin(), ids_a.end());
    std::sort(ids_b.begin(), ids_b.end());
    EXPECT_EQ(ids_b, ids_a);
    const auto queries = testing_util::clustered(20, 16, 99);
    SearchOptions o;
    o.k = 5;
    o.threads = 1;
    for (std::size_t q = 0; q < queries.n_rows; ++q) {
        std::span<const float> query(queries.data.data() + q * 16, 16);
        auto ha = a.search(query, o);
        auto hb = b.search(query, o);
        ASSERT_TRUE(ha && hb);
        ASSERT_EQ(hb->size(), ha->size());
        for (std::size_t i = 0; i < ha->size(); ++i) {
            EXPECT_EQ((*hb)[i].id, (*ha)[i].id) << "query " << q << " hit " << i;
            EXPECT_EQ((*hb)[i].distance, (*ha)[i].distance);
        }
    }
}

// Damage in memory gives what it gives on disk: kCorruption naming the source and the reason.
TEST_P(IndexFileTest, DamagedBytesInMemoryAreCorruptionWithAReason) {
    const std::string whole(bytes_.begin(), bytes_.end());
    std::vector<std::pair<std::string, std::string>> cases;  // bytes, expected reason
    for (std::size_t keep : {std::size_t{0}, std::size_t{3}, std::size_t{20}})
        cases.emplace_back(whole.substr(0, keep), "");
    cases.emplace_back(whole.substr(0, whole.size() / 2), "size does not match the header");
    cases.emplace_back(whole.substr(0, whole.size() - 1), "size does not match the header");
    cases.emplace_back(whole + "x", "size does not match the header");
    std::string damaged = whole;
    damaged[damaged.size() - 20] = static_cast<char>(damaged[damaged.size() - 20] ^ 0x5a);
    cases.emplace_back(damaged, "");
    std::string magic = whole;
    magic[0] = 'X';
    cases.emplace_back(magic, "bad magic");
    for (const auto& [bytes, reason] : cases) {
        MemoryIstream in(bytes);
        auto r = load_index(in, bytes.size(), "mem.esix");
        ASSERT_FALSE(r) << bytes.size() << " bytes";
        EXPECT_EQ(r.error().code(), ErrorCode::kCorruption) << r.error().to_string();
        const std::string& m = r.error().message();
        EXPECT_EQ(m.rfind("index file 'mem.esix': ", 0), 0u) << m;
        EXPECT_GT(m.size(), std::string("index file 'mem.esix': ").size()) << m;
        EXPECT_NE(m.find(reason), std::string::npos) << m;
    }
}

INSTANTIATE_TEST_SUITE_P(Kinds, IndexFileTest, ::testing::Values("flat", "HNSW8", "IVF16,PQ4"));

}  // namespace
}  // namespace earshot
