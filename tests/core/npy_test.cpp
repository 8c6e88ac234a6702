#include "core/npy.h"

#include <gtest/gtest.h>

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

}  // namespace
}  // namespace earshot
