#include "models/labels.h"

#include <gtest/gtest.h>

#include "test_support.h"

namespace earshot {
namespace {

TEST(LabelsTest, ParsesQuotedFieldsAndPicksDisplayName) {
    auto labels = parse_labels_csv(
        "index,mid,display_name\r\n0,/m/a,Speech\r\n1,/m/b,\"Child speech, kid speaking\"\r\n"
        "2,/m/c,\"Say \"\"hi\"\"\"\r\n");
    ASSERT_TRUE(labels) << labels.error().to_string();
    ASSERT_EQ(labels->size(), 3u);
    EXPECT_EQ((*labels)[0], "Speech");
    EXPECT_EQ((*labels)[1], "Child speech, kid speaking");
    EXPECT_EQ((*labels)[2], "Say \"hi\"");
}

TEST(LabelsTest, PicksNameColumnOrExplicitColumn) {
    auto names = parse_labels_csv("index,name\n0,rock\n1,pop");
    ASSERT_TRUE(names);
    EXPECT_EQ(*names, (std::vector<std::string>{"rock", "pop"}));
    auto mids = parse_labels_csv("index,mid,display_name\n0,/m/a,Speech\n", "mid");
    ASSERT_TRUE(mids);
    EXPECT_EQ(*mids, (std::vector<std::string>{"/m/a"}));
    auto bad = parse_labels_csv("index,name\n0,rock\n", "nope");
    ASSERT_FALSE(bad);
    EXPECT_EQ(bad.error().code(), ErrorCode::kInvalidArgument);
}

TEST(LabelsTest, RejectsMalformedCsv) {
    EXPECT_EQ(parse_labels_csv("").error().code(), ErrorCode::kCorruption);
    EXPECT_EQ(parse_labels_csv("index,name\n0,\"rock\n").error().code(), ErrorCode::kCorruption);
    EXPECT_EQ(parse_labels_csv("index,name\n0,rock,extra\n").error().code(),
              ErrorCode::kCorruption);
    EXPECT_EQ(parse_labels_csv("index,name\n1,rock\n").error().code(), ErrorCode::kCorruption);
}

TEST(LabelsTest, ParsesJsonList) {
    auto labels = parse_labels_json(R"(["rock", "Hip-Hop"])");
    ASSERT_TRUE(labels);
    EXPECT_EQ(*labels, (std::vector<std::string>{"rock", "Hip-Hop"}));
    EXPECT_FALSE(parse_labels_json("{\"a\":1}"));
    EXPECT_FALSE(parse_labels_json("[1]"));
}

TEST(LabelsTest, MissingFileIsNotFound) {
    auto labels = read_labels_csv("/nonexistent/labels.csv");
    ASSERT_FALSE(labels);
    EXPECT_EQ(labels.error().code(), ErrorCode::kNotFound);
}

TEST(LabelsTest, ReadsSharedLabelFiles) {
    EARSHOT_REQUIRE_SHARED();
    const auto dir = testing::models_dir();
    auto yamnet = read_labels_csv(dir / "yamnet/original/yamnet_class_map.csv");
    ASSERT_TRUE(yamnet) << yamnet.error().to_string();
    ASSERT_EQ(yamnet->size(), 521u);
    EXPECT_EQ((*yamnet)[0], "Speech");
    EXPECT_EQ((*yamnet)[494], "Silence");
    auto mn04 = read_labels_csv(dir / "mn04_as/original/class_labels_indices.csv");
    ASSERT_TRUE(mn04) << mn04.error().to_string();
    ASSERT_EQ(mn04->size(), 527u);
    EXPECT_EQ((*mn04)[1], "Male speech, man speaking");
    auto msd = read_labels_csv(dir / "msd_musicnn/original/labels_MSD.csv");
    ASSERT_TRUE(msd) << msd.error().to_string();
    ASSERT_EQ(msd->size(), 50u);
    EXPECT_EQ((*msd)[0], "rock");
}

}  // namespace
}  // namespace earshot
