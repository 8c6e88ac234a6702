#include "core/safetensors.h"

#include <gtest/gtest.h>

#include "core/file_util.h"
#include "test_support.h"

namespace earshot {
namespace {

SafeTensors sample() {
    SafeTensors st;
    st.tensors["a"] = Tensor{{2, 3}, {1, 2, 3, 4, 5, 6}};
    st.tensors["b.c"] = Tensor{{1}, {-0.5f}};
    st.metadata["model"] = "test";
    return st;
}

TEST(SafeTensorsTest, RoundTripsTensorsAndMetadata) {
    std::string bytes = serialize_safetensors(sample());
    std::uint64_t n = 0;
    for (int i = 7; i >= 0; --i) n = (n << 8) | static_cast<std::uint8_t>(bytes[i]);
    EXPECT_EQ((8 + n) % 8, 0u);  // header padded so data starts 8-aligned
    auto st = parse_safetensors(reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size());
    ASSERT_TRUE(st) << st.error().to_string();
    auto a = st->get("a", {2, 3});
    ASSERT_TRUE(a);
    EXPECT_EQ((*a)->data, (std::vector<float>{1, 2, 3, 4, 5, 6}));
    EXPECT_EQ(st->metadata.at("model"), "test");
    EXPECT_EQ(serialize_safetensors(*st), bytes);
}

TEST(SafeTensorsTest, WrongShapeIsCorruption) {
    std::string bytes = serialize_safetensors(sample());
    auto st = parse_safetensors(reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size());
    ASSERT_TRUE(st);
    auto a = st->get("a", {3, 2});
    ASSERT_FALSE(a);
    EXPECT_EQ(a.error().code(), ErrorCode::kCorruption);
    EXPECT_EQ(st->get("zzz").error().code(), ErrorCode::kNotFound);
}

TEST(SafeTensorsTest, TruncatedOrGarbageFilesAreCorruption) {
    std::string bytes = serialize_safetensors(sample());
    for (std::size_t cut : {std::size_t{0}, std::size_t{5}, std::size_t{20}, bytes.size() - 4}) {
        auto st = parse_safetensors(reinterpret_cast<const std::uint8_t*>(bytes.data()), cut);
        ASSERT_FALSE(st) << "cut=" << cut;
        EXPECT_EQ(st.error().code(), ErrorCode::kCorruption) << "cut=" << cut;
    }
    std::string garbage = bytes;
    garbage[10] = '\x01';
    auto st =
        parse_safetensors(reinterpret_cast<const std::uint8_t*>(garbage.data()), garbage.size());
    ASSERT_FALSE(st);
    EXPECT_EQ(st.error().code(), ErrorCode::kCorruption);
}

// Found by fuzz/fuzz_safetensors (issue #12): a float in data_offsets or shape was converted to
// an unsigned integer (undefined behaviour; UBSan aborts); a huge shape overflowed numel().
TEST(SafeTensorsTest, NonIntegerOrHugeShapesAndOffsetsAreCorruption) {
    auto file = [](const std::string& json) {
        std::string b(8, '\0');
        for (int i = 0; i < 8; ++i) b[i] = static_cast<char>((json.size() >> (8 * i)) & 0xFF);
        return b + json + std::string(12, '\0');
    };
    for (const std::string header : {
             R"({"b":{"data_offsets":[0,-1.36],"dtype":"F32","shape":[3]}})",
             R"({"b":{"data_offsets":[0,12],"dtype":"F32","shape":[3.5]}})",
             R"({"b":{"data_offsets":[0,12],"dtype":"F32","shape":[-3]}})",
             R"({"b":{"data_offsets":[0,12],"dtype":"F32","shape":"3"}})",
             R"({"b":{"data_offsets":[0,12],"dtype":"F32",)"
             R"("shape":[4294967296,4294967296,4294967296]}})",
         }) {
        auto bytes = file(header);
        auto st =
            parse_safetensors(reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size());
        ASSERT_FALSE(st) << header;
        EXPECT_EQ(st.error().code(), ErrorCode::kCorruption) << header;
    }
    auto ok = file(R"({"b":{"data_offsets":[0,12],"dtype":"F32","shape":[3]}})");
    EXPECT_TRUE(parse_safetensors(reinterpret_cast<const std::uint8_t*>(ok.data()), ok.size()));
}

TEST(SafeTensorsTest, LoadsSharedYamnetWeights) {
    EARSHOT_REQUIRE_SHARED();
    auto st = load_safetensors(testing::models_dir() / "yamnet" / "weights.safetensors");
    ASSERT_TRUE(st) << st.error().to_string();
    EXPECT_EQ(st->tensors.size(), 58u);
    EXPECT_TRUE(st->get("fc_w", {521, 1024}));
    EXPECT_TRUE(st->get("mel", {257, 64}));
}

}  // namespace
}  // namespace earshot
