// Classical frame features for the weight-free baseline model: MFCC (DCT-II, orthonormal, of an
// HTK log-mel), their deltas, and five spectral statistics, plus a fixed-length summary (mean and
// standard deviation of every per-frame feature) for a chunk of audio.
//
// Layout: frame_features() returns a Matrix [T][n_frame_features()], one row per 10 ms frame,
// columns in this order (n = n_mfcc, default 20 -> 45 columns):
//   [0, n)        mfcc_0 .. mfcc_{n-1}   DCT-II (ortho) of ln(mel_power + log_floor)
//   [n, 2n)       delta_0 .. delta_{n-1}  regression deltas over ±delta_width frames
//   2n + 0        spectral centroid, Hz        (magnitude-weighted mean frequency)
//   2n + 1        spectral bandwidth, Hz       (magnitude-weighted std around the centroid)
//   2n + 2        spectral flatness, [0, 1]    (geometric / arithmetic mean of the power)
//   2n + 3        spectral rolloff, Hz         (lowest bin holding rolloff_fraction of magnitude)
//   2n + 4        zero-crossing rate, [0, 1]   (sign changes / (frame length - 1))
// summary() returns 2 * n_frame_features() floats: all means first (same column order), then all
// population standard deviations. feature_names() / summary_names() name them.
// Audio: mono float32 in [-1, 1] at config().sample_rate_hz. An MfccExtractor is immutable after
// make() and all methods are thread-safe.
#pragma once

#include <cstddef>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "core/matrix.h"
#include "core/status.h"
#include "features/log_mel.h"

namespace earshot {

struct MfccConfig {
    int sample_rate_hz = 16000;
    int n_fft = 512;
    int window_length = 400;  // 25 ms at 16 kHz, periodic Hann at the start of the FFT frame
    int hop_length = 160;     // 10 ms; frames x[hop*t, hop*t + window_length), no centring
    int n_mels = 40;          // HTK mel, triangles in the mel domain, no normalisation
    double fmin_hz = 20.0;
    double fmax_hz = 8000.0;  // <= sample_rate_hz / 2
    int n_mfcc = 20;          // <= n_mels
    int delta_width = 2;      // N in d_t = Σ_n n (c_{t+n} - c_{t-n}) / (2 Σ_n n²), n = 1..N
    double log_floor = 1e-6;  // ln(mel_power + log_floor)
    double rolloff_fraction = 0.85;
};

class MfccExtractor {
public:
    // kInvalidArgument for inconsistent parameters (n_mfcc > n_mels, fmax > rate/2, ...).
    static Result<std::unique_ptr<MfccExtractor>> make(const MfccConfig& config = {});
    ~MfccExtractor();
    MfccExtractor(const MfccExtractor&) = delete;
    MfccExtractor& operator=(const MfccExtractor&) = delete;

    const MfccConfig& config() const { return config_; }
    std::size_t n_frame_features() const {
        return 2 * static_cast<std::size_t>(config_.n_mfcc) + 5;
    }
    std::size_t n_summary_features() const { return 2 * n_frame_features(); }
    // "mfcc_0", ..., "delta_0", ..., "centroid_hz", "bandwidth_hz", "flatness", "rolloff_hz",
    // "zcr".
    std::vector<std::string> feature_names() const;
    // "mean_<feature>" for every feature, then "std_<feature>".
    std::vector<std::string> summary_names() const;

    // Frames for n samples: 1 + (max(n, window_length) - window_length) / hop_length. Input
    // shorter than one window is zero-padded to one window, so any n (even 0) gives >= 1 frame.
    std::size_t n_frames(std::size_t n_samples) const;
    // Per-frame features, [n_frames][n_frame_features()] (layout at the top of this file).
    Result<Matrix> frame_features(std::span<const float> audio) const;
    // Mean and std over frames of frame_features(audio): n_summary_features() floats.
    Result<std::vector<float>> summary(std::span<const float> audio) const;

private:
    MfccExtractor(MfccConfig config, std::unique_ptr<LogMelFrontend> frontend);

    MfccConfig config_;
    std::unique_ptr<LogMelFrontend> frontend_;  // power spectrum + mel matrix
    Matrix dct_;                                // [n_mfcc][n_mels]
};

// Orthonormal DCT-II matrix [n_out][n_in]: row j = s_j cos(π j (2m + 1) / (2 n_in)), s_0 =
// sqrt(1/n_in), s_j = sqrt(2/n_in) (scipy.fft.dct(type=2, norm="ortho")). REQUIRES n_out <= n_in.
Matrix make_dct_matrix(int n_out, int n_in);

// Regression deltas of each column over time (rows), edges replicated (librosa/HTK style):
// d_t = Σ_{n=1..width} n (x_{t+n} - x_{t-n}) / (2 Σ n²). Same shape as x. REQUIRES width >= 1.
Matrix compute_deltas(const Matrix& x, int width);

}  // namespace earshot
