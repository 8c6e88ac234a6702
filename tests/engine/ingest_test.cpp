// Ingest helpers (engine/ingest.h): item keys relative to a root and back, file times, and the
// segmenting an `index` run uses.
#include "engine/ingest.h"

#include <fstream>

#include <gtest/gtest.h>

#include "engine/audio_files.h"
#include "test_support.h"

namespace earshot {
namespace {

namespace fs = std::filesystem;
using testing::TempDir;

TEST(IngestTest, ItemKeyAndKeyFileRoundTrip) {
    TempDir dir;
    const fs::path root = dir / "library";
    fs::create_directories(root / "drums" / "kicks");
    const fs::path file = root / "drums" / "kicks" / "k 1.wav";
    std::ofstream(file) << "x";

    auto abs = item_key(file, {});
    ASSERT_TRUE(abs) << abs.error().to_string();
    EXPECT_EQ(*abs, catalog_path(file));
    EXPECT_EQ(key_file(*abs, {}), fs::path(*abs));

    auto rel = item_key(file, root);
    ASSERT_TRUE(rel) << rel.error().to_string();
    EXPECT_EQ(*rel, "drums/kicks/k 1.wav");
    EXPECT_EQ(catalog_path(key_file(*rel, root)), catalog_path(file));
    // The same library mounted elsewhere maps the key to its own file.
    EXPECT_EQ(key_file(*rel, "/mnt/other"), fs::path("/mnt/other/drums/kicks/k 1.wav"));
}

TEST(IngestTest, ItemKeyOutsideRootIsAnError) {
    TempDir dir;
    fs::create_directories(dir / "library");
    const fs::path outside = dir / "elsewhere.wav";
    std::ofstream(outside) << "x";
    auto key = item_key(outside, dir / "library");
    ASSERT_FALSE(key);
    EXPECT_EQ(key.error().code(), ErrorCode::kInvalidArgument);
    EXPECT_NE(key.error().message().find("is not under --root"), std::string::npos);
}

TEST(IngestTest, FileMtimeIsStableAndZeroForAMissingFile) {
    TempDir dir;
    const fs::path file = dir / "a.wav";
    EXPECT_EQ(file_mtime_ns(file), 0);
    std::ofstream(file) << "x";
    // (std::filesystem::file_time_type's epoch is not 1970 in libstdc++: the value is only
    // compared with the one stored for the file.)
    const auto t = file_mtime_ns(file);
    EXPECT_NE(t, 0);
    EXPECT_EQ(file_mtime_ns(file), t);
}

TEST(IngestTest, SegmentingDefaultsAndChecks) {
    ModelInfo long_segments;
    long_segments.segment_s = 10.0;  // like mn04: 4 s windows every 2 s by default
    ModelInfo short_segments;
    short_segments.segment_s = 0.96;

    IndexOptions options;
    auto d = ingest_segmenting(long_segments, options);
    ASSERT_TRUE(d);
    EXPECT_DOUBLE_EQ(d->window_s, 4.0);
    EXPECT_DOUBLE_EQ(d->hop_s, 2.0);
    auto own = ingest_segmenting(short_segments, options);
    ASSERT_TRUE(own);
    EXPECT_DOUBLE_EQ(own->window_s, 0.0);

    options.segment_s = 3.0;  // hop defaults to half the length
    auto w = ingest_segmenting(short_segments, options);
    ASSERT_TRUE(w);
    EXPECT_DOUBLE_EQ(w->window_s, 3.0);
    EXPECT_DOUBLE_EQ(w->hop_s, 1.5);

    options.segment_hop_s = 4.0;  // longer than the window
    auto bad = ingest_segmenting(short_segments, options);
    ASSERT_FALSE(bad);
    EXPECT_EQ(bad.error().code(), ErrorCode::kInvalidArgument);

    options.segment_s.reset();
    options.segment_hop_s = 1.0;  // a hop alone changes only windowed defaults
    auto hop = ingest_segmenting(long_segments, options);
    ASSERT_TRUE(hop);
    EXPECT_DOUBLE_EQ(hop->hop_s, 1.0);
    auto ignored = ingest_segmenting(short_segments, options);
    ASSERT_TRUE(ignored);
    EXPECT_DOUBLE_EQ(ignored->window_s, 0.0);
}

}  // namespace
}  // namespace earshot
