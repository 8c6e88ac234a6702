// Log-mel front end: waveform -> [n_frames][n_mels] float32 (row-major Matrix, frames in time
// order), computed with FFTW (float) from a FrontendConfig. The mel matrix is computed from the
// config's formulas (it reproduces the matrices stored in ../shared/models, see the tests).
// A LogMelFrontend is immutable after make() and compute() is thread-safe.
#pragma once

#include <memory>
#include <span>
#include <vector>

#include "core/matrix.h"
#include "core/status.h"
#include "features/frontend_config.h"

namespace earshot {

class LogMelFrontend {
public:
    // kInvalidArgument for inconsistent parameters (window_length > n_fft, fmax > rate/2, ...).
    static Result<std::unique_ptr<LogMelFrontend>> make(const FrontendConfig& config);
    virtual ~LogMelFrontend() = default;

    virtual const FrontendConfig& config() const = 0;
    // Mel filterbank, n_mels × (n_fft/2 + 1).
    virtual const Matrix& mel_matrix() const = 0;
    // Analysis window, window_length samples.
    virtual const std::vector<float>& window() const = 0;

    // Number of frames compute() returns for n input samples (before pre-emphasis).
    virtual std::size_t n_frames(std::size_t n_samples) const = 0;
    // Spectrum (magnitude or power per config), [n_frames][n_fft/2+1].
    // kInvalidArgument if the input is too short for the framing (callers pad first).
    virtual Result<Matrix> spectrum(std::span<const float> audio) const = 0;
    // Mel energies before the log (after f16 rounding if configured), [n_frames][n_mels].
    virtual Result<Matrix> mel(std::span<const float> audio) const = 0;
    // Log-mel, [n_frames][n_mels].
    virtual Result<Matrix> compute(std::span<const float> audio) const = 0;
};

// Builds the mel filterbank (n_mels × n_bins) for the given config and FFT size, as described in
// MelConfig. Exposed for tests and for models that want the matrix itself.
Matrix make_mel_matrix(const MelConfig& mel, int sample_rate_hz, int n_fft);
// Window of `length` samples per WindowKind (computed in double, stored as float).
std::vector<float> make_window(WindowKind kind, int length);

// x rounded to IEEE 754 binary16 (round to nearest, ties to even; overflow to ±inf; subnormals
// kept) and widened back to float, i.e. torch `x.to(kHalf).to(kFloat)` / numpy astype(float16).
float round_to_f16(float x);

}  // namespace earshot
