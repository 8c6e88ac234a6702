#include "core/npy.h"

#include <cstring>
#include <fstream>
#include <limits>
#include <tuple>

#include <gtest/gtest.h>

#include "core/memory_stream.h"
#include "test_support.h"

namespace earshot {
namespace {

TEST(NpyTest, HeaderIsFixedSizeAndNamesTheShape) {
    for (auto [rows, cols] : {std::pair<std::size_t, std::size_t>{0, 1},
                              {1, 1},
                              {123456789, 1024},
                              {SIZE_MAX, SIZE_MAX}}) {
        const std::string h = npy_f32_header(rows, cols);
        ASSERT_EQ(h.size(), kNpyHeaderBytes) << rows << "x" << cols;
        EXPECT_EQ(h.substr(0, 6), "\x93NUMPY");
        EXPECT_EQ(h[6], 1);
        EXPECT_EQ(h[7], 0);
        EXPECT_EQ(static_cast<unsigned char>(h[8]) + 256 * static_cast<unsigned char>(h[9]),
                  static_cast<int>(kNpyHeaderBytes - 10));
        EXPECT_EQ(h.back(), '\n');
        EXPECT_NE(h.find("'descr': '<f4'"), std::string::npos);
        EXPECT_NE(h.find("(" + std::to_string(rows) + ", " + std::to_string(cols) + ")"),
                  std::string::npos)
            << h;
    }
}

// A version 1.0 .npy of `descr` and `shape` text followed by `data` (raw bytes).
std::string npy_bytes(const std::string& descr, const std::string& shape, const std::string& data) {
    std::string dict =
        "{'descr': '" + descr + "', 'fortran_order': False, 'shape': " + shape + ", }";
    while ((10 + dict.size() + 1) % 64 != 0) dict += ' ';
    dict += '\n';
    std::string s = "\x93NUMPY";
    s += '\x01';
    s += '\x00';
    s += static_cast<char>(dict.size() & 0xff);
    s += static_cast<char>(dict.size() >> 8);
    return s + dict + data;
}

template <typename T>
std::string raw(std::initializer_list<T> values) {
    std::string s;
    for (T v : values) {
        char b[sizeof(T)];
        std::memcpy(b, &v, sizeof(T));
        s.append(b, sizeof(T));
    }
    return s;
}

Result<NpyMatrix> read_from_memory(const std::string& bytes) {
    MemoryIstream in(bytes);
    return read_npy_matrix(in, bytes.size(), "m.npy");
}

TEST(NpyTest, ReadsFloat32AndFloat64FromMemoryAndFromAFile) {
    const std::string f4 = npy_f32_header(2, 3) + raw<float>({1, 2, 3, 4, 5, -6.5f});
    const std::string f8 = npy_bytes("<f8", "(3, 1)", raw<double>({0.25, -1e3, 7}));
    testing::TempDir dir;
    for (const auto& [bytes, rows, cols, values] :
         {std::tuple<std::string, std::size_t, std::size_t, std::vector<float>>{
              f4, 2, 3, {1, 2, 3, 4, 5, -6.5f}},
          {f8, 3, 1, {0.25f, -1e3f, 7}}}) {
        auto m = read_from_memory(bytes);
        ASSERT_TRUE(m) << m.error().to_string();
        EXPECT_EQ(m->rows, rows);
        EXPECT_EQ(m->cols, cols);
        EXPECT_EQ(m->data, values);
        const auto path = dir.path() / "m.npy";
        std::ofstream(path, std::ios::binary) << bytes;
        auto f = read_npy_matrix(path);
        ASSERT_TRUE(f) << f.error().to_string();
        EXPECT_EQ(f->data, values);
    }
}

TEST(NpyTest, BadFilesAreErrorsNamingTheSource) {
    for (const std::string& bytes :
         {std::string("\x93NUMPZ\x01\x00"), npy_bytes("<i4", "(1, 1)", raw<int>({1})),
          npy_bytes("<f4", "(2,)", raw<float>({1, 2})), npy_bytes("<f4", "(0, 4)", ""),
          npy_bytes("<f4", "(2, 2)", raw<float>({1, 2, 3})), npy_f32_header(1, 2).substr(0, 40)}) {
        auto m = read_from_memory(bytes);
        ASSERT_FALSE(m) << bytes;
        EXPECT_EQ(m.error().code(), ErrorCode::kInvalidArgument);
        EXPECT_NE(m.error().message().find("'m.npy' is not a supported .npy file"),
                  std::string::npos)
            << m.error().message();
    }
}

// Found while writing fuzz_import_parse (docs/reliability.md): rows * cols * 4 wrapped around,
// so a shape of (2^62, 4) or (2^61, 4) passed the size check with a few bytes of data and the
// importer then read rows far past the buffer (or tried to allocate 2^63 floats).
TEST(NpyTest, ShapesWhoseByteCountOverflowAreTruncatedNotAccepted) {
    const std::size_t big = std::size_t{1} << 62;
    for (const auto& [shape, data] :
         {std::pair<std::string, std::string>{"(" + std::to_string(big) + ", 4)", ""},
          {"(" + std::to_string(big / 2) + ", 4)", ""},
          {"(" + std::to_string(big + 1) + ", 4)", std::string(16, 0)},
          {"(" + std::to_string(big / 4) + ", 2)", raw<double>({1, 2})},
          {"(" + std::to_string(std::numeric_limits<std::size_t>::max()) + ", 65536)",
           std::string(64, 0)}}) {
        for (const char* descr : {"<f4", "<f8"}) {
            auto m = read_from_memory(npy_bytes(descr, shape, data));
            ASSERT_FALSE(m) << descr << " " << shape << ": " << m->rows << "x" << m->cols;
            EXPECT_NE(m.error().message().find("truncated data"), std::string::npos)
                << m.error().message();
        }
    }
}

// Only the bytes after the header count: a header-sized file is not room for the data.
TEST(NpyTest, TheHeaderIsNotCountedAsData) {
    const std::string h = npy_f32_header(32, 1);  // 128 header bytes, 32 floats claimed
    EXPECT_FALSE(read_from_memory(h + std::string(124, 0)));
    EXPECT_TRUE(read_from_memory(h + std::string(128, 0)));
}

TEST(MemoryIstreamTest, ReadsSeeksAndTellsWithoutCopying) {
    const std::string bytes = "0123456789";
    MemoryIstream in(bytes);
    char b[4] = {};
    in.read(b, 3);
    EXPECT_EQ(std::string(b, 3), "012");
    EXPECT_EQ(in.tellg(), 3);
    in.seekg(-2, std::ios::end);
    EXPECT_EQ(in.get(), '8');
    in.seekg(1, std::ios::beg);
    EXPECT_EQ(in.tellg(), 1);
    in.seekg(20, std::ios::beg);  // past the end: fails, the stream says so
    EXPECT_TRUE(in.fail());
    in.clear();
    in.seekg(0);
    std::string all;
    std::getline(in, all);
    EXPECT_EQ(all, bytes);
    EXPECT_TRUE(in.eof());
}

}  // namespace
}  // namespace earshot
