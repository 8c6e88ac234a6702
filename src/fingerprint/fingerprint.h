// Audio fingerprints: is this the same recording (another encode, bitrate, sample rate, channel
// count, gain, a few seconds trimmed), and at which time offset? Two parts per item, both
// computed from mono audio resampled to kFingerprintRateHz (docs/dedup.md):
//  - the Chromaprint fingerprint (raw uint32 words, one per kChromaprintItemS seconds), compared
//    by the share of equal bits at the best time offset; reliable from about 3 s of sound on;
//  - a band signature for short sounds (one-shots), where Chromaprint has too few words: log
//    energies in semitone-wide bands (110 Hz .. 5 kHz) over 46 ms frames of the first 3 s after
//    the onset, compared by correlation. A correlation alone groups the same note of different
//    presets, so callers add an embedding-distance and duration check (engine/dedup.h).
// Pure functions, thread-safe.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "core/status.h"

namespace earshot {

// Bumped whenever computing a fingerprint changes; stored with each fingerprint, and fingerprints
// of another version are recomputed (reindex --fingerprints) rather than compared.
inline constexpr int kFingerprintVersion = 2;
inline constexpr int kFingerprintRateHz = 11025;  // Chromaprint's own working rate
inline constexpr double kChromaprintItemS = 4096.0 / 3.0 / kFingerprintRateHz;  // 0.1238 s
inline constexpr int kSignatureBands = 66;                            // semitones from 110 Hz
inline constexpr double kSignatureHopS = 512.0 / kFingerprintRateHz;  // 46 ms
inline constexpr double kSignatureMaxS = 3.0;

struct Fingerprint {
    int version = kFingerprintVersion;
    double duration_s = 0.0;  // of the fingerprinted audio
    // Chromaprint (CHROMAPRINT_ALGORITHM_DEFAULT) raw words; empty for audio under ~1.5 s.
    std::vector<std::uint32_t> chromaprint;
    // Band signature: n_frames × kSignatureBands log energies (dB, floored 40 dB under the
    // loudest cell), row-major, frame i starting at onset_s + i * kSignatureHopS.
    std::vector<float> signature;
    double onset_s = 0.0;     // first frame within 30 dB of the loudest frame
    double sounding_s = 0.0;  // from onset_s to the last frame within 40 dB of the loudest

    std::size_t n_signature_frames() const { return signature.size() / kSignatureBands; }
};

// Fingerprints mono samples at any rate (resampled to kFingerprintRateHz).
// kInvalidArgument for a rate outside 1000..384000 Hz or no samples; kInternal if Chromaprint
// fails.
Result<Fingerprint> compute_fingerprint(std::span<const float> samples, int sample_rate_hz);

// Storage form (docs/formats.md, "Fingerprints"): "EFP1", version, duration, onset, sounding
// (little-endian), the Chromaprint words, the signature quantised to int8 steps of 0.5 dB.
std::vector<std::uint8_t> encode_fingerprint(const Fingerprint& fp);
// kCorruption for bytes that are not an encoded fingerprint.
Result<Fingerprint> decode_fingerprint(std::span<const std::uint8_t> bytes);

struct ChromaprintMatch {
    double bit_agreement = 0.0;  // share of equal bits over the overlap at the best offset
    double offset_s = 0.0;       // b's time t is a's time t + offset_s
    double overlap_s = 0.0;      // length of the compared overlap
};
// Slides b over a (every offset with an overlap of at least min_overlap_words and half of the
// shorter fingerprint) and returns the best. bit_agreement 0 when no offset qualifies.
ChromaprintMatch compare_chromaprint(std::span<const std::uint32_t> a,
                                     std::span<const std::uint32_t> b,
                                     std::size_t min_overlap_words = 16);

struct SignatureMatch {
    double correlation = 0.0;  // Pearson correlation of the overlapping frames, best lag
    // At that lag, the correlation of the bands' movements: each band's mean over the frames
    // removed first, so a steady spectrum (noise transposed to another note) does not count.
    double detail_correlation = 0.0;
    double offset_s = 0.0;  // as ChromaprintMatch, from the onsets and the lag
};
// Correlates the band signatures over lags of up to ±2 frames. correlation 0 if either is empty.
SignatureMatch compare_signatures(const Fingerprint& a, const Fingerprint& b);

// Thresholds of same_recording() (docs/dedup.md says how they were chosen).
struct SameRecordingOptions {
    double min_bit_agreement = 0.80;       // Chromaprint: share of equal bits
    double min_correlation = 0.95;         // short sounds: band-signature correlation
    double min_detail_correlation = 0.90;  // short sounds: the same, each band's mean removed
    // Short sounds: cosine distance of the two items' embeddings must be at most this (the
    // caller supplies it; a negative distance means "unknown" and fails the check).
    double max_embedding_distance = 0.25;
    double max_sounding_ratio = 1.15;  // short sounds: longer / shorter sounding duration
};

// Sounds shorter than this (sounding_s) are compared by their band signatures.
inline constexpr double kShortSoundS = 3.0;

struct SameRecording {
    bool same = false;
    bool by_chromaprint = false;  // which test decided
    double similarity = 0.0;      // bit agreement or correlation
    double offset_s = 0.0;        // b's time t is a's time t + offset_s
};
// Decides whether a and b are the same recording: by Chromaprint when both sound for at least
// kShortSoundS and have enough words, else by band signature + embedding distance + duration.
SameRecording same_recording(const Fingerprint& a,
                             const Fingerprint& b,
                             double embedding_distance,
                             const SameRecordingOptions& options = {});

}  // namespace earshot
