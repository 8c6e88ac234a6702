// Fingerprints (fingerprint/fingerprint.h) on generated audio: copies made by real encoders
// (MP3, Opus, Vorbis through libavcodec), other rates and channel counts, gain and trimming are
// the same recording at the right offset; other tunes and other notes are not; the storage form
// round-trips and rejects damaged bytes.
#include "fingerprint/fingerprint.h"

#include <cmath>

#include <gtest/gtest.h>

#include "../audio/encode_fixture.h"
#include "audio/decoder.h"
#include "synth.h"
#include "test_support.h"

namespace earshot {
namespace {

namespace fs = std::filesystem;
using testing::TempDir;

constexpr int kRate = 44100;

// Encodes x (mono at kRate) per spec, with gain (dB) and the first trim_s seconds dropped, then
// decodes and fingerprints it as indexing does (mono at 16 kHz).
Fingerprint copy_fingerprint(const TempDir& dir,
                             const std::vector<float>& x,
                             const testing::FixtureSpec& spec,
                             const std::string& name,
                             double gain_db = 0.0,
                             double trim_s = 0.0) {
    const fs::path path = dir / name;
    auto st = testing::write_transformed_copy(path, x, kRate, spec, gain_db, trim_s);
    EXPECT_TRUE(st) << name << ": " << st.error().to_string();
    DecodeOptions opts;
    opts.target_sample_rate_hz = 16000;
    auto audio = decode_audio(path, opts);
    EXPECT_TRUE(audio) << name << ": " << audio.error().to_string();
    auto fp = compute_fingerprint(audio->samples, audio->sample_rate_hz);
    EXPECT_TRUE(fp) << fp.error().to_string();
    return *fp;
}

Fingerprint fingerprint_of(const std::vector<float>& x, int rate = kRate) {
    auto fp = compute_fingerprint(x, rate);
    EXPECT_TRUE(fp) << fp.error().to_string();
    return *fp;
}

using testing::fixture_spec;

TEST(FingerprintTest, TranscodedTrimmedAndGainedCopiesAreTheSameRecordingAtTheRightOffset) {
    TempDir dir;
    const auto tune = testing::make_tune(1234, 25.0, kRate);
    const Fingerprint original = fingerprint_of(tune);
    EXPECT_GT(original.chromaprint.size(), 150u);
    EXPECT_GT(original.sounding_s, 20.0);
    struct Case {
        std::string name;
        testing::FixtureSpec spec;
        double gain_db;
        double trim_s;
    };
    const std::vector<Case> cases = {
        {"mp3_64k_trim3.mp3", fixture_spec("mp3", "libmp3lame", 44100, 2, 64000), 0.0, 3.0},
        {"opus_32k.opus", fixture_spec("opus", "libopus", 48000, 1, 32000), -6.0, 0.0},
        {"vorbis_22k_trim1.ogg", fixture_spec("ogg", "libvorbis", 22050, 2), 6.0, 1.3},
        {"wav_8k.wav", fixture_spec("wav", "pcm_s16le", 8000, 1), 0.0, 0.0},
    };
    for (const auto& c : cases) {
        const Fingerprint copy = copy_fingerprint(dir, tune, c.spec, c.name, c.gain_db, c.trim_s);
        const auto m = same_recording(original, copy, /*embedding_distance=*/-1.0);
        EXPECT_TRUE(m.same) << c.name << ": bit agreement " << m.similarity;
        EXPECT_TRUE(m.by_chromaprint) << c.name;
        // copy's time t is the original's t + trim: within one Chromaprint word (0.124 s), plus
        // the encoders' delay (MP3 and Opus pad the start by a few ms).
        EXPECT_NEAR(m.offset_s, c.trim_s, 0.15) << c.name;
        // And symmetric.
        const auto back = same_recording(copy, original, -1.0);
        EXPECT_TRUE(back.same) << c.name;
        EXPECT_NEAR(back.offset_s, -c.trim_s, 0.15) << c.name;
    }
}

TEST(FingerprintTest, DifferentTunesAreNotTheSameRecording) {
    const Fingerprint a = fingerprint_of(testing::make_tune(1, 20.0, kRate));
    for (std::uint32_t seed : {2u, 3u, 4u}) {
        const Fingerprint b = fingerprint_of(testing::make_tune(seed, 20.0, kRate));
        const auto m = same_recording(a, b, /*embedding_distance=*/0.0);
        EXPECT_FALSE(m.same) << "seed " << seed << ": " << m.similarity;
        EXPECT_LT(m.similarity, 0.75) << "seed " << seed;
    }
}

TEST(FingerprintTest, ShortSoundCopiesMatchByBandSignature) {
    TempDir dir;
    const auto note = testing::make_note(261.6, 1.5, kRate);
    const Fingerprint original = fingerprint_of(note);
    EXPECT_LT(original.sounding_s, kShortSoundS);
    EXPECT_GT(original.n_signature_frames(), 20u);
    for (const auto& [name, s, gain] :
         {std::tuple{std::string("n.mp3"), fixture_spec("mp3", "libmp3lame", 44100, 1, 96000), 0.0},
          std::tuple{std::string("n.opus"), fixture_spec("opus", "libopus", 48000, 2, 48000), -6.0},
          std::tuple{std::string("n.wav"), fixture_spec("wav", "pcm_s16le", 22050, 2), 6.0}}) {
        const Fingerprint copy = copy_fingerprint(dir, note, s, name, gain);
        const auto m = same_recording(original, copy, /*embedding_distance=*/0.005);
        EXPECT_TRUE(m.same) << name << ": correlation " << m.similarity << ", sounding "
                            << original.sounding_s << " vs " << copy.sounding_s;
        EXPECT_FALSE(m.by_chromaprint);
        EXPECT_NEAR(m.offset_s, 0.0, 0.06) << name;
        // The embedding check is required: a far embedding says no.
        EXPECT_FALSE(same_recording(original, copy, 0.4).same) << name;
        EXPECT_FALSE(same_recording(original, copy, -1.0).same) << name;
    }
}

TEST(FingerprintTest, OtherNotesOfTheSameSoundAreNotTheSameRecording) {
    // Same timbre and envelope, another pitch: even with identical embeddings (distance 0) the
    // semitone-resolution bands tell them apart.
    const Fingerprint c4 = fingerprint_of(testing::make_note(261.6, 1.5, kRate));
    for (double semitones : {1.0, 2.0, 7.0, 12.0}) {
        const double f = 261.6 * std::pow(2.0, semitones / 12.0);
        const Fingerprint other = fingerprint_of(testing::make_note(f, 1.5, kRate));
        const auto m = same_recording(c4, other, 0.0);
        EXPECT_FALSE(m.same) << semitones << " semitones: correlation " << m.similarity;
    }
    // A note of another length (durations disagree) is not the same either.
    const Fingerprint longer = fingerprint_of(testing::make_note(261.6, 2.5, kRate, 1.0));
    EXPECT_FALSE(same_recording(c4, longer, 0.0).same);
}

TEST(FingerprintTest, EncodedFormRoundTripsAndRejectsDamage) {
    const Fingerprint fp = fingerprint_of(testing::make_tune(7, 6.0, kRate));
    const auto bytes = encode_fingerprint(fp);
    auto back = decode_fingerprint(bytes);
    ASSERT_TRUE(back) << back.error().to_string();
    EXPECT_EQ(back->version, fp.version);
    EXPECT_EQ(back->chromaprint, fp.chromaprint);
    EXPECT_DOUBLE_EQ(back->duration_s, fp.duration_s);
    EXPECT_DOUBLE_EQ(back->onset_s, fp.onset_s);
    ASSERT_EQ(back->signature.size(), fp.signature.size());
    for (std::size_t i = 0; i < fp.signature.size(); ++i)
        EXPECT_NEAR(back->signature[i], fp.signature[i], 0.26) << i;  // 0.5 dB steps
    EXPECT_GT(compare_signatures(fp, *back).correlation, 0.999);

    for (std::size_t cut : {0ul, 3ul, 10ul, bytes.size() - 1}) {
        auto bad = decode_fingerprint(std::span(bytes).first(cut));
        ASSERT_FALSE(bad) << cut;
        EXPECT_EQ(bad.error().code(), ErrorCode::kCorruption);
    }
    auto wrong_magic = bytes;
    wrong_magic[0] = 'X';
    EXPECT_EQ(decode_fingerprint(wrong_magic).error().code(), ErrorCode::kCorruption);
}

TEST(FingerprintTest, InvalidInputIsRejectedAndSilenceHasNoSignature) {
    EXPECT_EQ(compute_fingerprint({}, 16000).error().code(), ErrorCode::kInvalidArgument);
    std::vector<float> x(1000, 0.0f);
    EXPECT_EQ(compute_fingerprint(x, 100).error().code(), ErrorCode::kInvalidArgument);
    auto silent = compute_fingerprint(std::vector<float>(16000 * 2, 0.0f), 16000);
    ASSERT_TRUE(silent);
    EXPECT_TRUE(silent->signature.empty());
    EXPECT_FALSE(same_recording(*silent, *silent, 0.0).same);
}

}  // namespace
}  // namespace earshot
