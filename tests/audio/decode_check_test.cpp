// DecodeOptions::check (src/audio/decoder.h): called while decoding with the seconds decoded so
// far; an error it returns stops decoding at once (the server's --max-query-seconds).
#include <fstream>
#include <iterator>
#include <string>

#include <gtest/gtest.h>

#include "audio/decoder.h"
#include "encode_fixture.h"
#include "test_support.h"

namespace earshot {
namespace {

TEST(DecodeCheck, StopsDecodingAsSoonAsTheCheckFails) {
    testing::TempDir dir;
    testing::FixtureSpec spec;
    spec.container = "flac";
    spec.codec = "flac";
    spec.sample_rate_hz = 8000;
    const auto path = dir / "hour.flac";
    ASSERT_TRUE(testing::encode_fixture(path, spec, std::int64_t{3600} * 8000,
                                        [](int, std::int64_t) { return 0.0f; }));
    std::ifstream in(path, std::ios::binary);
    const std::string bytes{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};

    DecodeOptions opts;
    double last_seen = 0.0;
    int calls = 0;
    opts.check = [&](double decoded_s) -> Status {
        ++calls;
        EXPECT_GE(decoded_s, last_seen);  // increasing
        last_seen = decoded_s;
        if (decoded_s > 30.0)
            return make_error(ErrorCode::kInvalidArgument, "over the limit");
        return ok_status();
    };
    auto audio =
        decode_audio_memory(std::span<const std::uint8_t>(
                                reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size()),
                            "hour.flac", opts);
    ASSERT_FALSE(audio);
    EXPECT_EQ(audio.error().code(), ErrorCode::kInvalidArgument);
    EXPECT_EQ(audio.error().message(), "over the limit");
    // Stopped within one frame of the limit, not after the hour.
    EXPECT_GT(last_seen, 30.0);
    EXPECT_LT(last_seen, 31.0);
    EXPECT_GT(calls, 1);

    // A check that passes changes nothing.
    DecodeOptions plain;
    DecodeOptions checked;
    checked.max_duration_s = 5.0;
    plain.max_duration_s = 5.0;
    checked.check = [](double) { return ok_status(); };
    auto a = decode_audio(path, plain);
    auto b = decode_audio(path, checked);
    ASSERT_TRUE(a && b);
    EXPECT_EQ(a->samples, b->samples);
}

}  // namespace
}  // namespace earshot
