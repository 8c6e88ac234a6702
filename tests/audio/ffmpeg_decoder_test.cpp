// Tests for src/audio/ffmpeg_decoder.cpp. Every fixture is encoded at test time through the
// FFmpeg libraries (encode_fixture.h) into a TempDir; two real files come from ../shared.
#include <algorithm>
#include <cstdint>
#include <fstream>
#include <iterator>
#include <mutex>
#include <random>
#include <string>
#include <sys/resource.h>
#include <thread>
#include <vector>

#include <fmt/format.h>
#include <gtest/gtest.h>

#include "audio/decoder.h"
#include "core/log.h"
#include "encode_fixture.h"
#include "signal_stats.h"
#include "test_support.h"

namespace earshot {
namespace {

namespace fs = std::filesystem;
using testing::encode_fixture;
using testing::encode_sine_fixture;
using testing::FixtureSpec;
using testing::sine_amplitude;
using testing::TempDir;
using testing::tone_frequency_hz;

constexpr int kTargetRateHz = 16000;
constexpr const char* kMp4Demuxer = "mov,mp4,m4a,3gp,3g2,mj2";

FixtureSpec make_spec(std::string container, std::string codec, int rate_hz, int channels) {
    FixtureSpec spec;
    spec.container = std::move(container);
    spec.codec = std::move(codec);
    spec.sample_rate_hz = rate_hz;
    spec.channels = channels;
    return spec;
}

DecodeOptions options_at(int rate_hz = kTargetRateHz, double max_duration_s = 0.0) {
    DecodeOptions options;
    options.target_sample_rate_hz = rate_hz;
    options.max_duration_s = max_duration_s;
    return options;
}

std::vector<std::uint8_t> read_bytes(const fs::path& path) {
    std::ifstream in(path, std::ios::binary);
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

void write_bytes(const fs::path& path, std::span<const std::uint8_t> bytes) {
    std::ofstream out(path, std::ios::binary);
    out.write(reinterpret_cast<const char*>(bytes.data()),
              static_cast<std::streamsize>(bytes.size()));
}

// Collects log messages at warning level and above while alive.
class LogCapture {
public:
    LogCapture() {
        set_log_sink([this](LogLevel level, std::string_view message) {
            if (level < LogLevel::kWarning) {
                return;
            }
            std::lock_guard lock(mu_);
            messages_.emplace_back(message);
        });
    }
    ~LogCapture() { set_log_sink(nullptr); }
    std::vector<std::string> messages() const {
        std::lock_guard lock(mu_);
        return messages_;
    }

private:
    mutable std::mutex mu_;
    std::vector<std::string> messages_;
};

// ---------------------------------------------------------------------------------------------
// A 1 kHz sine through every container/codec, sample format, rate and channel count.

struct ToneCase {
    std::string name;  // test name suffix
    FixtureSpec spec;
    std::string extension;  // with the dot
    bool lossy = false;
    std::string codec;       // expected AudioInfo::codec
    std::string container;   // expected AudioInfo::container
    int bits = 0;            // expected AudioInfo::bits_per_sample
    double amplitude = 0.5;  // expected after the down-mix
};

// 5.1 through AAC: the codec low-passes the LFE channel (~120 Hz), so the 1 kHz tone
// survives in 5 of the 6 channels and their mean has 5/6 of the amplitude.
ToneCase lfe_band_limited(ToneCase c) {
    c.amplitude = 0.5 * 5.0 / 6.0;
    return c;
}

ToneCase tone_case(std::string name,
                   std::string container,
                   std::string codec,
                   std::string ext,
                   int rate_hz,
                   int channels,
                   bool lossy,
                   std::string expect_codec,
                   std::string expect_container,
                   int bits,
                   std::string sample_format = "",
                   int raw_bits = 0) {
    ToneCase c;
    c.name = std::move(name);
    c.spec.container = std::move(container);
    c.spec.codec = std::move(codec);
    c.spec.sample_rate_hz = rate_hz;
    c.spec.channels = channels;
    c.spec.sample_format = std::move(sample_format);
    c.spec.bits_per_raw_sample = raw_bits;
    c.extension = std::move(ext);
    c.lossy = lossy;
    c.codec = std::move(expect_codec);
    c.container = std::move(expect_container);
    c.bits = bits;
    return c;
}

ToneCase wav16(int rate_hz, int channels) {
    return tone_case(fmt::format("Wav16_{}Hz_{}ch", rate_hz, channels), "wav", "pcm_s16le", ".wav",
                     rate_hz, channels, false, "pcm_s16le", "wav", 16);
}

class FfmpegDecoderToneTest : public ::testing::TestWithParam<ToneCase> {};

TEST_P(FfmpegDecoderToneTest, SineComesOutAtOneKilohertzWithRightDurationAndAmplitude) {
    const ToneCase& c = GetParam();
    constexpr double kDurationS = 1.5;
    TempDir dir;
    const fs::path path = dir / ("tone" + c.extension);
    const Status encoded = encode_sine_fixture(path, c.spec, 1000.0, kDurationS, 0.5f);
    ASSERT_TRUE(encoded) << encoded.error().to_string();

    AudioInfo info;
    auto audio = decode_audio(path, options_at(), &info);
    ASSERT_TRUE(audio) << audio.error().to_string();
    EXPECT_EQ(audio->sample_rate_hz, kTargetRateHz);

    // Lossless: exact length (±1 sample of resampler rounding). Lossy codecs may keep a
    // little priming/padding that the container does not describe: allow 50 ms.
    const double expected_n = kDurationS * kTargetRateHz;
    const double n_tolerance = c.lossy ? 0.05 * kTargetRateHz : 1.0;
    EXPECT_NEAR(static_cast<double>(audio->samples.size()), expected_n, n_tolerance);
    EXPECT_NEAR(tone_frequency_hz(audio->samples, kTargetRateHz), 1000.0, c.lossy ? 2.0 : 0.5);
    EXPECT_NEAR(sine_amplitude(audio->samples), c.amplitude, c.lossy ? 0.05 : 0.01);

    EXPECT_EQ(info.sample_rate_hz, c.spec.sample_rate_hz);
    EXPECT_EQ(info.channels, c.spec.channels);
    EXPECT_EQ(info.codec, c.codec);
    EXPECT_EQ(info.container, c.container);
    EXPECT_EQ(info.bits_per_sample, c.bits);
    EXPECT_NEAR(info.duration_s, kDurationS, c.lossy ? 0.05 : 1e-3);
}

INSTANTIATE_TEST_SUITE_P(
    Formats,
    FfmpegDecoderToneTest,
    ::testing::Values(
        tone_case("Wav", "wav", "pcm_s16le", ".wav", 44100, 2, false, "pcm_s16le", "wav", 16),
        tone_case("Flac", "flac", "flac", ".flac", 44100, 2, false, "flac", "flac", 16),
        tone_case("OggVorbis", "ogg", "libvorbis", ".ogg", 44100, 2, true, "vorbis", "ogg", 0),
        tone_case("Opus", "opus", "libopus", ".opus", 48000, 2, true, "opus", "ogg", 0),
        tone_case("Mp3", "mp3", "libmp3lame", ".mp3", 44100, 2, true, "mp3", "mp3", 0),
        tone_case("M4aAac", "ipod", "aac", ".m4a", 44100, 2, true, "aac", kMp4Demuxer, 0)),
    [](const auto& tc) { return tc.param.name; });

INSTANTIATE_TEST_SUITE_P(
    WavSampleFormats,
    FfmpegDecoderToneTest,
    ::testing::Values(
        tone_case("U8", "wav", "pcm_u8", ".wav", 44100, 2, false, "pcm_u8", "wav", 8),
        tone_case("S16", "wav", "pcm_s16le", ".wav", 44100, 2, false, "pcm_s16le", "wav", 16),
        tone_case(
            "S24", "wav", "pcm_s24le", ".wav", 44100, 2, false, "pcm_s24le", "wav", 24, "s32", 24),
        tone_case("S32", "wav", "pcm_s32le", ".wav", 44100, 2, false, "pcm_s32le", "wav", 32),
        tone_case("F32", "wav", "pcm_f32le", ".wav", 44100, 2, false, "pcm_f32le", "wav", 32),
        tone_case("F64", "wav", "pcm_f64le", ".wav", 44100, 2, false, "pcm_f64le", "wav", 64),
        tone_case(
            "Flac24", "flac", "flac", ".flac", 96000, 2, false, "flac", "flac", 24, "s32", 24)),
    [](const auto& tc) { return tc.param.name; });

INSTANTIATE_TEST_SUITE_P(SampleRates,
                         FfmpegDecoderToneTest,
                         ::testing::Values(wav16(8000, 1),
                                           wav16(22050, 2),
                                           wav16(44100, 1),
                                           wav16(48000, 2),
                                           wav16(96000, 2),
                                           wav16(192000, 2)),
                         [](const auto& tc) { return tc.param.name; });

INSTANTIATE_TEST_SUITE_P(
    Channels,
    FfmpegDecoderToneTest,
    ::testing::Values(
        wav16(44100, 1),
        wav16(44100, 6),
        wav16(44100, 8),
        tone_case("Flac8ch", "flac", "flac", ".flac", 48000, 8, false, "flac", "flac", 16),
        // Not 5.1 Vorbis: libvorbisenc 1.3.7 leaks in its 6-channel set-up (LeakSanitizer).
        tone_case("Vorbis4ch", "ogg", "libvorbis", ".ogg", 48000, 4, true, "vorbis", "ogg", 0),
        tone_case("Opus6ch", "opus", "libopus", ".opus", 48000, 6, true, "opus", "ogg", 0),
        lfe_band_limited(
            tone_case("Aac6ch", "ipod", "aac", ".m4a", 48000, 6, true, "aac", kMp4Demuxer, 0)),
        tone_case("Mp3Mono22k", "mp3", "libmp3lame", ".mp3", 22050, 1, true, "mp3", "mp3", 0)),
    [](const auto& tc) { return tc.param.name; });

// ---------------------------------------------------------------------------------------------
// The named cases from the product issue.

TEST(FfmpegDecoderTest, DecodesStereo44kFlacToMono16k) {
    TempDir dir;
    const fs::path path = dir / "stereo.flac";
    FixtureSpec spec = make_spec("flac", "flac", 44100, 2);
    ASSERT_TRUE(encode_sine_fixture(path, spec, 1000.0, 2.0));
    AudioInfo info;
    auto audio = decode_audio(path, options_at(), &info);
    ASSERT_TRUE(audio) << audio.error().to_string();
    EXPECT_EQ(audio->sample_rate_hz, 16000);
    EXPECT_NEAR(static_cast<double>(audio->samples.size()), 32000.0, 1.0);
    EXPECT_NEAR(audio->duration_s(), 2.0, 1e-3);
    EXPECT_NEAR(tone_frequency_hz(audio->samples, 16000), 1000.0, 0.5);
    EXPECT_NEAR(sine_amplitude(audio->samples), 0.5, 0.01);
    EXPECT_EQ(info.channels, 2);
    EXPECT_EQ(info.sample_rate_hz, 44100);
}

TEST(FfmpegDecoderTest, DownmixAveragesChannelsSoOppositeContentCancels) {
    TempDir dir;
    const auto sine = testing::make_sine(1000.0, 1.0, 44100, 0.5f);
    std::vector<float> inverted(sine.size());
    std::transform(sine.begin(), sine.end(), inverted.begin(), [](float v) { return -v; });
    const std::vector<float> silence(sine.size(), 0.0f);
    FixtureSpec spec = make_spec("wav", "pcm_f32le", 44100, 1);

    spec.channels = 2;  // L = +sine, R = -sine: the mean is silence
    ASSERT_TRUE(encode_fixture(dir / "opposite.wav", spec, {sine, inverted}));
    auto opposite = decode_audio(dir / "opposite.wav", options_at());
    ASSERT_TRUE(opposite) << opposite.error().to_string();
    EXPECT_LT(testing::peak(opposite->samples), 1e-5f);

    // L = sine, R = silence: the mean is half the sine (an average, not a sum or a max).
    ASSERT_TRUE(encode_fixture(dir / "half.wav", spec, {sine, silence}));
    auto half = decode_audio(dir / "half.wav", options_at());
    ASSERT_TRUE(half);
    EXPECT_NEAR(sine_amplitude(half->samples), 0.25, 0.005);

    // 6 channels (5.1, LFE included) with +,-,+,-,+,- cancel too.
    spec.channels = 6;
    ASSERT_TRUE(
        encode_fixture(dir / "six.wav", spec, {sine, inverted, sine, inverted, sine, inverted}));
    auto six = decode_audio(dir / "six.wav", options_at());
    ASSERT_TRUE(six);
    EXPECT_LT(testing::peak(six->samples), 1e-5f);

    // Planar float (Vorbis decodes to fltp): one channel of three carries the tone -> 1/3.
    FixtureSpec vorbis = make_spec("ogg", "libvorbis", 44100, 3);
    ASSERT_TRUE(encode_fixture(dir / "third.ogg", vorbis, {silence, sine, silence}));
    auto third = decode_audio(dir / "third.ogg", options_at());
    ASSERT_TRUE(third) << third.error().to_string();
    EXPECT_NEAR(sine_amplitude(third->samples), 0.5 / 3.0, 0.02);
}

TEST(FfmpegDecoderTest, OutputRateFollowsOptions) {
    TempDir dir;
    FixtureSpec spec = make_spec("wav", "pcm_s16le", 44100, 1);
    ASSERT_TRUE(encode_sine_fixture(dir / "a.wav", spec, 1000.0, 1.0));
    for (int rate : {8000, 22050, 44100, 48000}) {
        auto audio = decode_audio(dir / "a.wav", options_at(rate));
        ASSERT_TRUE(audio) << audio.error().to_string();
        EXPECT_EQ(audio->sample_rate_hz, rate);
        EXPECT_NEAR(static_cast<double>(audio->samples.size()), rate, 1.0) << rate;
        EXPECT_NEAR(tone_frequency_hz(audio->samples, rate), 1000.0, 0.5) << rate;
    }
}

// ---------------------------------------------------------------------------------------------
// probe_audio and tags.

struct TagCase {
    std::string name;
    FixtureSpec spec;
    std::string extension;
};

class FfmpegDecoderTagTest : public ::testing::TestWithParam<TagCase> {};

TEST_P(FfmpegDecoderTagTest, ReadsTitleAndArtistBack) {
    const TagCase& c = GetParam();
    TempDir dir;
    const fs::path path = dir / ("tagged" + c.extension);
    FixtureSpec spec = c.spec;
    spec.title = "Sinfonía Nº 1 — Allegro";
    spec.artist = "Test Ensemble";
    const Status encoded = encode_sine_fixture(path, spec, 440.0, 0.5);
    ASSERT_TRUE(encoded) << encoded.error().to_string();

    auto info = probe_audio(path);
    ASSERT_TRUE(info) << info.error().to_string();
    EXPECT_EQ(info->title, spec.title);
    EXPECT_EQ(info->artist, spec.artist);

    AudioInfo decoded_info;
    ASSERT_TRUE(decode_audio(path, options_at(), &decoded_info));
    EXPECT_EQ(decoded_info.title, spec.title);
    EXPECT_EQ(decoded_info.artist, spec.artist);
}

TagCase tag_case(std::string name,
                 std::string container,
                 std::string codec,
                 std::string ext,
                 int rate_hz = 44100,
                 bool on_stream = false) {
    TagCase c;
    c.name = std::move(name);
    c.spec.container = std::move(container);
    c.spec.codec = std::move(codec);
    c.spec.sample_rate_hz = rate_hz;
    c.spec.channels = 2;
    c.spec.tags_on_stream = on_stream;
    c.extension = std::move(ext);
    return c;
}

// Vorbis comments come back as upper-case keys (TITLE, ARTIST): the look-up is case-insensitive.
// OggStreamTags puts the tags on the stream, not the container.
INSTANTIATE_TEST_SUITE_P(
    Formats,
    FfmpegDecoderTagTest,
    ::testing::Values(tag_case("Wav", "wav", "pcm_s16le", ".wav"),
                      tag_case("Flac", "flac", "flac", ".flac"),
                      tag_case("OggVorbis", "ogg", "libvorbis", ".ogg"),
                      tag_case("OggStreamTags", "ogg", "libvorbis", ".ogg", 44100, true),
                      tag_case("Opus", "opus", "libopus", ".opus", 48000),
                      tag_case("Mp3", "mp3", "libmp3lame", ".mp3"),
                      tag_case("M4a", "ipod", "aac", ".m4a")),
    [](const auto& tc) { return tc.param.name; });

TEST(FfmpegDecoderTest, ProbeReadsHeaderFactsWithoutTags) {
    TempDir dir;
    const fs::path path = dir / "hires.flac";
    FixtureSpec spec = make_spec("flac", "flac", 96000, 2);
    spec.sample_format = "s32";
    spec.bits_per_raw_sample = 24;
    ASSERT_TRUE(encode_sine_fixture(path, spec, 1000.0, 2.5));
    auto info = probe_audio(path);
    ASSERT_TRUE(info) << info.error().to_string();
    EXPECT_NEAR(info->duration_s, 2.5, 1e-3);
    EXPECT_EQ(info->sample_rate_hz, 96000);
    EXPECT_EQ(info->channels, 2);
    EXPECT_EQ(info->codec, "flac");
    EXPECT_EQ(info->container, "flac");
    EXPECT_EQ(info->bits_per_sample, 24);
    EXPECT_TRUE(info->title.empty());
    EXPECT_TRUE(info->artist.empty());
}

// ---------------------------------------------------------------------------------------------
// Chunked, in-memory and time-limited decoding.

TEST(FfmpegDecoderTest, ChunkedDecodeEqualsWholeDecode) {
    TempDir dir;
    const fs::path path = dir / "a.ogg";
    FixtureSpec spec = make_spec("ogg", "libvorbis", 44100, 2);
    ASSERT_TRUE(encode_sine_fixture(path, spec, 1000.0, 3.5));
    auto whole = decode_audio(path, options_at());
    ASSERT_TRUE(whole) << whole.error().to_string();

    std::vector<float> joined;
    std::vector<std::size_t> sizes;
    auto info = decode_audio_chunks(path, options_at(), [&](std::span<const float> chunk) {
        sizes.push_back(chunk.size());
        joined.insert(joined.end(), chunk.begin(), chunk.end());
        return ok_status();
    });
    ASSERT_TRUE(info) << info.error().to_string();
    EXPECT_EQ(joined, whole->samples);
    ASSERT_EQ(sizes.size(), 4u);  // 3 full seconds + the rest
    for (std::size_t i = 0; i + 1 < sizes.size(); ++i) {
        EXPECT_EQ(sizes[i], 16000u);
    }
    EXPECT_GT(sizes.back(), 0u);
    EXPECT_EQ(info->codec, "vorbis");
    EXPECT_NEAR(info->duration_s, 3.5, 0.05);
}

TEST(FfmpegDecoderTest, ChunkCallbackErrorStopsDecoding) {
    TempDir dir;
    FixtureSpec spec = make_spec("wav", "pcm_s16le", 16000, 1);
    ASSERT_TRUE(encode_sine_fixture(dir / "a.wav", spec, 1000.0, 5.0));
    int calls = 0;
    auto info = decode_audio_chunks(dir / "a.wav", options_at(), [&](std::span<const float>) {
        ++calls;
        return calls == 2 ? Status(make_error(ErrorCode::kUnavailable, "stop")) : ok_status();
    });
    ASSERT_FALSE(info);
    EXPECT_EQ(info.error().code(), ErrorCode::kUnavailable);
    EXPECT_EQ(calls, 2);
}

class FfmpegDecoderMemoryTest : public ::testing::TestWithParam<TagCase> {};

TEST_P(FfmpegDecoderMemoryTest, MemoryDecodeEqualsFileDecode) {
    const TagCase& c = GetParam();
    TempDir dir;
    const fs::path path = dir / ("a" + c.extension);
    ASSERT_TRUE(encode_sine_fixture(path, c.spec, 1000.0, 1.2));
    AudioInfo file_info;
    auto from_file = decode_audio(path, options_at(), &file_info);
    ASSERT_TRUE(from_file) << from_file.error().to_string();

    const std::vector<std::uint8_t> bytes = read_bytes(path);
    AudioInfo memory_info;
    auto from_memory =
        decode_audio_memory(bytes, "upload" + c.extension, options_at(), &memory_info);
    ASSERT_TRUE(from_memory) << from_memory.error().to_string();
    EXPECT_EQ(from_memory->samples, from_file->samples);
    EXPECT_EQ(memory_info.codec, file_info.codec);
    EXPECT_EQ(memory_info.container, file_info.container);
    EXPECT_DOUBLE_EQ(memory_info.duration_s, file_info.duration_s);
}

// m4a needs seeking (the moov atom is written at the end); mp3 without its extension too.
INSTANTIATE_TEST_SUITE_P(Formats,
                         FfmpegDecoderMemoryTest,
                         ::testing::Values(tag_case("Wav", "wav", "pcm_s16le", ".wav"),
                                           tag_case("Flac", "flac", "flac", ".flac"),
                                           tag_case("OggVorbis", "ogg", "libvorbis", ".ogg"),
                                           tag_case("Mp3", "mp3", "libmp3lame", ".mp3"),
                                           tag_case("M4a", "ipod", "aac", ".m4a")),
                         [](const auto& tc) { return tc.param.name; });

TEST(FfmpegDecoderTest, MemoryDecodeWorksWithoutAHelpfulName) {
    TempDir dir;
    FixtureSpec spec = make_spec("mp3", "libmp3lame", 44100, 2);
    ASSERT_TRUE(encode_sine_fixture(dir / "a.mp3", spec, 1000.0, 1.0));
    const auto bytes = read_bytes(dir / "a.mp3");
    auto audio = decode_audio_memory(bytes, "upload", options_at());
    ASSERT_TRUE(audio) << audio.error().to_string();
    EXPECT_NEAR(tone_frequency_hz(audio->samples, kTargetRateHz), 1000.0, 2.0);
}

TEST(FfmpegDecoderTest, MemoryDecodeRejectsGarbageWithItsName) {
    std::mt19937 rng(1234);
    std::vector<std::uint8_t> bytes(20000);
    for (auto& b : bytes) {
        b = static_cast<std::uint8_t>(rng());
    }
    auto audio = decode_audio_memory(bytes, "upload-42", options_at());
    ASSERT_FALSE(audio);
    EXPECT_EQ(audio.error().code(), ErrorCode::kNotSupported) << audio.error().to_string();
    EXPECT_NE(audio.error().message().find("upload-42"), std::string::npos);
    auto empty = decode_audio_memory({}, "nothing", options_at());
    ASSERT_FALSE(empty);
    EXPECT_EQ(empty.error().code(), ErrorCode::kNotSupported);
}

TEST(FfmpegDecoderTest, MaxDurationStopsDecodingEarly) {
    TempDir dir;
    FixtureSpec flac = make_spec("flac", "flac", 44100, 2);
    ASSERT_TRUE(encode_sine_fixture(dir / "a.flac", flac, 1000.0, 5.0));
    AudioInfo info;
    auto audio = decode_audio(dir / "a.flac", options_at(kTargetRateHz, 1.5), &info);
    ASSERT_TRUE(audio) << audio.error().to_string();
    EXPECT_EQ(audio->samples.size(), 24000u);
    EXPECT_NEAR(tone_frequency_hz(audio->samples, kTargetRateHz), 1000.0, 0.5);
    EXPECT_NEAR(info.duration_s, 5.0, 1e-3);  // the source's duration, from the header

    FixtureSpec vorbis = make_spec("ogg", "libvorbis", 48000, 1);
    ASSERT_TRUE(encode_sine_fixture(dir / "a.ogg", vorbis, 1000.0, 3.0));
    std::size_t total = 0;
    auto chunked = decode_audio_chunks(dir / "a.ogg", options_at(8000, 0.25),
                                       [&](std::span<const float> chunk) {
                                           total += chunk.size();
                                           return ok_status();
                                       });
    ASSERT_TRUE(chunked) << chunked.error().to_string();
    EXPECT_EQ(total, 2000u);

    // A limit longer than the file changes nothing.
    auto longer = decode_audio(dir / "a.flac", options_at(kTargetRateHz, 60.0));
    ASSERT_TRUE(longer);
    EXPECT_EQ(longer->samples.size(), 80000u);
}

// ---------------------------------------------------------------------------------------------
// Errors.

TEST(FfmpegDecoderTest, MissingFileIsNotFound) {
    TempDir dir;
    const fs::path path = dir / "nope.flac";
    auto audio = decode_audio(path, options_at());
    ASSERT_FALSE(audio);
    EXPECT_EQ(audio.error().code(), ErrorCode::kNotFound);
    EXPECT_NE(audio.error().message().find("nope.flac"), std::string::npos);
    auto info = probe_audio(path);
    ASSERT_FALSE(info);
    EXPECT_EQ(info.error().code(), ErrorCode::kNotFound);
}

TEST(FfmpegDecoderTest, TextFileIsNotSupported) {
    TempDir dir;
    const std::string text = "title,artist\nhello,world\nThis is not audio at all.\n";
    for (const char* name : {"notes.txt", "notes.csv", "notes.mp3", "notes.wav"}) {
        const fs::path path = dir / name;
        write_bytes(path,
                    std::span(reinterpret_cast<const std::uint8_t*>(text.data()), text.size()));
        auto audio = decode_audio(path, options_at());
        ASSERT_FALSE(audio) << name;
        EXPECT_EQ(audio.error().code(), ErrorCode::kNotSupported) << audio.error().to_string();
        EXPECT_NE(audio.error().message().find(name), std::string::npos);
        auto info = probe_audio(path);
        ASSERT_FALSE(info) << name;
        EXPECT_EQ(info.error().code(), ErrorCode::kNotSupported) << info.error().to_string();
    }
}

TEST(FfmpegDecoderTest, RandomBytesAreNotSupported) {
    TempDir dir;
    const unsigned seed = 1234;
    std::mt19937 rng(seed);
    std::vector<std::uint8_t> bytes(64 * 1024);
    for (auto& b : bytes) {
        b = static_cast<std::uint8_t>(rng());
    }
    for (const char* name : {"noise.bin", "noise.mp3", "noise.wav", "noise.ogg", "noise.m4a"}) {
        write_bytes(dir / name, bytes);
        auto audio = decode_audio(dir / name, options_at());
        ASSERT_FALSE(audio) << name;
        EXPECT_EQ(audio.error().code(), ErrorCode::kNotSupported)
            << audio.error().to_string() << " seed " << seed;
    }
}

TEST(FfmpegDecoderTest, ImageWithoutAudioIsNotSupported) {
    // A valid 1x1 RGBA PNG.
    const std::vector<std::uint8_t> png = {
        0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A, 0x00, 0x00, 0x00, 0x0D, 0x49, 0x48,
        0x44, 0x52, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x01, 0x08, 0x06, 0x00, 0x00,
        0x00, 0x1F, 0x15, 0xC4, 0x89, 0x00, 0x00, 0x00, 0x0D, 0x49, 0x44, 0x41, 0x54, 0x78,
        0x9C, 0x63, 0x00, 0x01, 0x00, 0x00, 0x05, 0x00, 0x01, 0x0D, 0x0A, 0x2D, 0xB4, 0x00,
        0x00, 0x00, 0x00, 0x49, 0x45, 0x4E, 0x44, 0xAE, 0x42, 0x60, 0x82};
    TempDir dir;
    write_bytes(dir / "cover.png", png);
    auto audio = decode_audio(dir / "cover.png", options_at());
    ASSERT_FALSE(audio);
    EXPECT_EQ(audio.error().code(), ErrorCode::kNotSupported) << audio.error().to_string();
    auto info = probe_audio(dir / "cover.png");
    ASSERT_FALSE(info);
    EXPECT_EQ(info.error().code(), ErrorCode::kNotSupported);
    auto memory = decode_audio_memory(png, "cover.png", options_at());
    ASSERT_FALSE(memory);
    EXPECT_EQ(memory.error().code(), ErrorCode::kNotSupported);
}

TEST(FfmpegDecoderTest, EmptyFileAndDirectoryAreNotSupported) {
    TempDir dir;
    write_bytes(dir / "empty.wav", {});
    auto empty = decode_audio(dir / "empty.wav", options_at());
    ASSERT_FALSE(empty);
    EXPECT_EQ(empty.error().code(), ErrorCode::kNotSupported);
    auto directory = decode_audio(dir.path(), options_at());
    ASSERT_FALSE(directory);
    EXPECT_EQ(directory.error().code(), ErrorCode::kNotSupported);
}

TEST(FfmpegDecoderTest, BadTargetRateIsInvalidArgument) {
    TempDir dir;
    FixtureSpec spec = make_spec("wav", "pcm_s16le", 16000, 1);
    ASSERT_TRUE(encode_sine_fixture(dir / "a.wav", spec, 1000.0, 0.2));
    for (int rate : {0, -16000, 999, 400000}) {
        auto audio = decode_audio(dir / "a.wav", options_at(rate));
        ASSERT_FALSE(audio) << rate;
        EXPECT_EQ(audio.error().code(), ErrorCode::kInvalidArgument);
    }
}

struct TruncationCase {
    std::string name;
    FixtureSpec spec;
    std::string extension;
    bool expect_partial;  // false: the container needs its tail (mp4 moov), a clean error is fine
    bool expect_warning;  // the header announced the full duration (wav, flac, mp3 Xing)
};

class FfmpegDecoderTruncationTest : public ::testing::TestWithParam<TruncationCase> {};

TEST_P(FfmpegDecoderTruncationTest, TruncatedFileDecodesPartiallyOrFailsCleanly) {
    const TruncationCase& c = GetParam();
    TempDir dir;
    const fs::path full = dir / ("full" + c.extension);
    ASSERT_TRUE(encode_sine_fixture(full, c.spec, 1000.0, 4.0));
    std::vector<std::uint8_t> bytes = read_bytes(full);

    // Cut in the middle of the data: a partial decode comes back with a warning (or a clean
    // kCorruption when the container cannot be opened without its tail).
    {
        LogCapture logs;
        std::vector<std::uint8_t> half(
            bytes.begin(), bytes.begin() + static_cast<std::ptrdiff_t>(bytes.size() / 2 + 37));
        write_bytes(dir / ("half" + c.extension), half);
        auto audio = decode_audio(dir / ("half" + c.extension), options_at());
        if (c.expect_partial) {
            ASSERT_TRUE(audio) << audio.error().to_string();
            // Ogg drops the incomplete page, which can hold up to ~1 s of Opus.
            EXPECT_GT(audio->duration_s(), 0.5);
            EXPECT_LT(audio->duration_s(), 3.0);
            EXPECT_NEAR(tone_frequency_hz(audio->samples, kTargetRateHz), 1000.0, 2.0);
            if (c.expect_warning) {
                EXPECT_FALSE(logs.messages().empty()) << "no warning about the truncation";
            }
        } else if (!audio) {
            EXPECT_EQ(audio.error().code(), ErrorCode::kCorruption) << audio.error().to_string();
            EXPECT_NE(audio.error().message().find("half"), std::string::npos);
        }
    }
    // Only the first bytes of the header: never a crash, an error or (rarely) a few samples.
    for (std::size_t keep : {std::size_t{4}, std::size_t{60}, std::size_t{300}}) {
        std::vector<std::uint8_t> head(bytes.begin(),
                                       bytes.begin() + static_cast<std::ptrdiff_t>(keep));
        write_bytes(dir / ("head" + c.extension), head);
        auto audio = decode_audio(dir / ("head" + c.extension), options_at());
        if (!audio) {
            EXPECT_TRUE(audio.error().code() == ErrorCode::kCorruption ||
                        audio.error().code() == ErrorCode::kNotSupported)
                << audio.error().to_string();
        }
    }
}

TruncationCase truncation_case(std::string name,
                               std::string container,
                               std::string codec,
                               std::string ext,
                               bool partial,
                               bool warning,
                               int rate_hz = 44100) {
    TruncationCase c;
    c.name = std::move(name);
    c.spec.container = std::move(container);
    c.spec.codec = std::move(codec);
    c.spec.sample_rate_hz = rate_hz;
    c.spec.channels = 2;
    c.extension = std::move(ext);
    c.expect_partial = partial;
    c.expect_warning = warning;
    return c;
}

INSTANTIATE_TEST_SUITE_P(
    Formats,
    FfmpegDecoderTruncationTest,
    ::testing::Values(truncation_case("Wav", "wav", "pcm_s16le", ".wav", true, true),
                      truncation_case("Flac", "flac", "flac", ".flac", true, true),
                      truncation_case("OggVorbis", "ogg", "libvorbis", ".ogg", true, false),
                      truncation_case("Opus", "opus", "libopus", ".opus", true, false, 48000),
                      truncation_case("Mp3", "mp3", "libmp3lame", ".mp3", true, true),
                      truncation_case("M4a", "ipod", "aac", ".m4a", false, false)),
    [](const auto& tc) { return tc.param.name; });

TEST(FfmpegDecoderTest, HeaderOnlyWavIsCorruption) {
    TempDir dir;
    FixtureSpec spec = make_spec("wav", "pcm_s16le", 16000, 1);
    ASSERT_TRUE(encode_sine_fixture(dir / "a.wav", spec, 1000.0, 1.0));
    auto bytes = read_bytes(dir / "a.wav");
    bytes.resize(bytes.size() - 32000);  // keep the header (and its INFO chunk) only
    write_bytes(dir / "b.wav", bytes);
    auto audio = decode_audio(dir / "b.wav", options_at());
    ASSERT_FALSE(audio);
    EXPECT_EQ(audio.error().code(), ErrorCode::kCorruption) << audio.error().to_string();
}

TEST(FfmpegDecoderTest, GarbageInTheMiddleOfAnMp3IsSkipped) {
    TempDir dir;
    FixtureSpec spec = make_spec("mp3", "libmp3lame", 44100, 2);
    ASSERT_TRUE(encode_sine_fixture(dir / "a.mp3", spec, 1000.0, 4.0));
    auto bytes = read_bytes(dir / "a.mp3");
    std::mt19937 rng(1234);
    for (std::size_t i = bytes.size() / 2; i < bytes.size() / 2 + 3000; ++i) {
        bytes[i] = static_cast<std::uint8_t>(rng());
    }
    write_bytes(dir / "b.mp3", bytes);
    auto audio = decode_audio(dir / "b.mp3", options_at());
    ASSERT_TRUE(audio) << audio.error().to_string();
    EXPECT_GT(audio->duration_s(), 3.5);
    EXPECT_LT(audio->duration_s(), 4.1);
}

// ---------------------------------------------------------------------------------------------
// Real files from ../shared/datasets.

TEST(FfmpegDecoderTest, DecodesRealVorbisFromGameMusic) {
    EARSHOT_REQUIRE_SHARED();
    const fs::path path = testing::datasets_dir() / "game_music/wesnoth/battle__e0.ogg";
    ASSERT_TRUE(fs::exists(path)) << path;
    auto probed = probe_audio(path);
    ASSERT_TRUE(probed) << probed.error().to_string();
    AudioInfo info;
    auto audio = decode_audio(path, options_at(), &info);
    ASSERT_TRUE(audio) << audio.error().to_string();
    EXPECT_EQ(info.codec, "vorbis");
    EXPECT_EQ(info.container, "ogg");
    EXPECT_EQ(info.sample_rate_hz, probed->sample_rate_hz);
    EXPECT_EQ(info.channels, probed->channels);
    EXPECT_NEAR(probed->duration_s, 30.0, 0.1);
    EXPECT_NEAR(audio->duration_s(), info.duration_s, 2.0 / kTargetRateHz);
    EXPECT_NEAR(audio->duration_s(), probed->duration_s, 0.05);
    EXPECT_GT(testing::rms(audio->samples), 0.01);
    EXPECT_LT(testing::peak(audio->samples), 1.5f);
}

TEST(FfmpegDecoderTest, DecodesRealFlacFromFluidR3) {
    EARSHOT_REQUIRE_SHARED();
    const fs::path path =
        testing::datasets_dir() / "gm_fluidr3/drums_tr_808/k025_n072_long_whistle_v064.flac";
    ASSERT_TRUE(fs::exists(path)) << path;
    AudioInfo info;
    auto audio = decode_audio(path, options_at(22050), &info);
    ASSERT_TRUE(audio) << audio.error().to_string();
    EXPECT_EQ(info.codec, "flac");
    EXPECT_EQ(info.bits_per_sample, 16);
    EXPECT_EQ(info.sample_rate_hz, 16000);
    EXPECT_NEAR(info.duration_s, 2.0, 1e-3);
    EXPECT_NEAR(static_cast<double>(audio->samples.size()), 2.0 * 22050, 1.0);
    EXPECT_GT(testing::peak(audio->samples), 0.01f);
}

// ---------------------------------------------------------------------------------------------
// Bounded memory and thread safety.

long peak_rss_kib() {
    rusage usage{};
    getrusage(RUSAGE_SELF, &usage);
    return usage.ru_maxrss;
}

TEST(FfmpegDecoderTest, TenMinuteFileDecodesInBoundedChunks) {
    // 10 min of 48 kHz stereo is 57.6 M source samples (230 MB as float); the decoder must
    // stream it, so chunk sizes stay at <= 1 s and the peak RSS barely moves. The fixture is
    // a FLAC of a quiet tone (encodes and decodes fast; the encoder streams too).
    constexpr int kSourceRate = 48000;
    constexpr std::int64_t kFrames = std::int64_t{600} * kSourceRate;
    TempDir dir;
    const fs::path path = dir / "long.flac";
    FixtureSpec spec = make_spec("flac", "flac", kSourceRate, 2);
    ASSERT_TRUE(encode_fixture(path, spec, kFrames, [](int channel, std::int64_t i) {
        // A 375 Hz square-ish wave: period 128 frames, cheap to generate, and FLAC-friendly.
        const float v = (i & 64) != 0 ? 0.25f : -0.25f;
        return channel == 0 ? v : 0.5f * v;
    }));

    const long rss_before = peak_rss_kib();
    std::size_t total = 0;
    std::size_t largest = 0;
    std::size_t n_chunks = 0;
    auto info = decode_audio_chunks(path, options_at(), [&](std::span<const float> chunk) {
        total += chunk.size();
        largest = std::max(largest, chunk.size());
        ++n_chunks;
        return ok_status();
    });
    const long rss_growth_kib = peak_rss_kib() - rss_before;
    ASSERT_TRUE(info) << info.error().to_string();
    EXPECT_EQ(total, std::size_t{600} * kTargetRateHz);
    EXPECT_EQ(largest, static_cast<std::size_t>(kTargetRateHz));
    EXPECT_EQ(n_chunks, 600u);
    EXPECT_NEAR(info->duration_s, 600.0, 1e-6);
    // The whole source as float would be ~225 MiB, the whole mono output ~37 MiB. (ASan's
    // quarantine of freed blocks inflates RSS, so the check only holds without it.)
#if !EARSHOT_ASAN
    EXPECT_LT(rss_growth_kib, 16 * 1024) << "peak RSS grew by " << rss_growth_kib << " KiB";
#else
    (void)rss_growth_kib;
#endif
}

TEST(FfmpegDecoderTest, ConcurrentDecodesGiveIdenticalResults) {
    TempDir dir;
    FixtureSpec spec = make_spec("ogg", "libvorbis", 44100, 2);
    ASSERT_TRUE(encode_sine_fixture(dir / "a.ogg", spec, 1000.0, 2.0));
    auto reference = decode_audio(dir / "a.ogg", options_at());
    ASSERT_TRUE(reference);
    std::vector<std::vector<float>> results(4);
    std::vector<std::thread> threads;
    for (std::size_t t = 0; t < results.size(); ++t) {
        threads.emplace_back([&, t] {
            auto audio = decode_audio(dir / "a.ogg", options_at());
            if (audio) {
                results[t] = std::move(audio->samples);
            }
        });
    }
    for (auto& th : threads) {
        th.join();
    }
    for (const auto& r : results) {
        EXPECT_EQ(r, reference->samples);
    }
}

}  // namespace
}  // namespace earshot
