#include "core/file_util.h"

#include <cstdlib>
#include <string>

#include <gtest/gtest.h>

#include "test_support.h"

namespace earshot {
namespace {

TEST(FileUtilTest, Xxh64MatchesPublishedVectors) {
    // Reference values of XXH64 with seed 0 (xxHash test vectors / xxhsum).
    EXPECT_EQ(hash_bytes("", 0), 0xEF46DB3751D8E999ULL);
    EXPECT_EQ(hash_bytes("a", 1), 0xD24EC4F1A98C6E5BULL);
    EXPECT_EQ(hash_bytes("abc", 3), 0x44BC2CF5AD770999ULL);
}

TEST(FileUtilTest, HashFileStreamsSameAsBytes) {
    testing::TempDir dir;
    std::string data(3'000'001, 'x');
    for (std::size_t i = 0; i < data.size(); ++i) data[i] = static_cast<char>(i * 31 % 251);
    ASSERT_TRUE(write_file_atomic(dir / "f.bin", data));
    auto h = hash_file(dir / "f.bin");
    ASSERT_TRUE(h) << h.error().to_string();
    char expect[17];
    std::snprintf(expect, sizeof expect, "%016llx",
                  static_cast<unsigned long long>(hash_bytes(data.data(), data.size())));
    EXPECT_EQ(*h, expect);
}

TEST(FileUtilTest, MissingFileIsNotFound) {
    auto r = read_file_bytes("/nonexistent/earshot/file");
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code(), ErrorCode::kNotFound);
    auto h = hash_file("/nonexistent/earshot/file");
    ASSERT_FALSE(h);
    EXPECT_EQ(h.error().code(), ErrorCode::kNotFound);
}

TEST(FileUtilTest, ModelSearchDirsFollowDocumentedOrder) {
    setenv("EARSHOT_MODELS_DIR", "/env/models", 1);
    setenv("XDG_DATA_HOME", "/xdg", 1);
    auto dirs = model_search_dirs("/flag/models");
    ASSERT_EQ(dirs.size(), 4u);
    EXPECT_EQ(dirs[0], "/flag/models");
    EXPECT_EQ(dirs[1], "/env/models");
    EXPECT_EQ(dirs[2], shared_dir() / "models");
    EXPECT_EQ(dirs[3], "/xdg/earshot/models");
    unsetenv("EARSHOT_MODELS_DIR");
    unsetenv("XDG_DATA_HOME");
}

}  // namespace
}  // namespace earshot
