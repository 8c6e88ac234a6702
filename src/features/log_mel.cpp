// Log-mel front end with FFTW (float). See log_mel.h and ../shared/models/MODELS.md §4.1, §5.1,
// §6.1 for the three front ends this reproduces.
//
// References for the formulas:
// - Windows: torch.hann_window / tf.signal.hann_window (0.5 - 0.5 cos(2πn/M)).
// - HTK mel-domain triangles: TensorFlow linear_to_mel_weight_matrix
//   https://github.com/tensorflow/tensorflow/blob/v2.11.0/tensorflow/python/ops/signal/mel_ops.py#L89-L215
//   and torchaudio.compliance.kaldi.get_mel_banks
//   https://github.com/pytorch/audio/blob/v0.13.1/torchaudio/compliance/kaldi.py#L435-L512
// - Slaney scale and Hz-domain triangles: librosa.filters.mel
//   https://github.com/librosa/librosa/blob/0.7.2/librosa/filters.py#L112-L246
#include "features/log_mel.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <mutex>
#include <numbers>
#include <string>
#include <utility>
#include <vector>

#include <fftw3.h>

namespace earshot {
namespace {

// FFTW's planner is not thread-safe; every plan creation/destruction goes through this mutex.
std::mutex& fftw_planner_mutex() {
    static std::mutex m;
    return m;
}

double hz_to_mel(double hz, MelScale scale) {
    if (scale == MelScale::kHtk)
        return 1127.0 * std::log(1.0 + hz / 700.0);
    // Slaney (Auditory Toolbox): linear below 1 kHz, logarithmic above.
    constexpr double kFSp = 200.0 / 3.0;
    constexpr double kMinLogHz = 1000.0;
    constexpr double kMinLogMel = kMinLogHz / kFSp;  // 15
    const double logstep = std::log(6.4) / 27.0;
    if (hz >= kMinLogHz)
        return kMinLogMel + std::log(hz / kMinLogHz) / logstep;
    return hz / kFSp;
}

double mel_to_hz(double mel, MelScale scale) {
    if (scale == MelScale::kHtk)
        return 700.0 * (std::exp(mel / 1127.0) - 1.0);
    constexpr double kFSp = 200.0 / 3.0;
    constexpr double kMinLogHz = 1000.0;
    constexpr double kMinLogMel = kMinLogHz / kFSp;
    const double logstep = std::log(6.4) / 27.0;
    if (mel >= kMinLogMel)
        return kMinLogHz * std::exp(logstep * (mel - kMinLogMel));
    return kFSp * mel;
}

// Owns an fftwf_malloc'ed buffer.
template <typename T>
struct FftwBuffer {
    T* ptr = nullptr;
    explicit FftwBuffer(std::size_t n) : ptr(static_cast<T*>(fftwf_malloc(sizeof(T) * n))) {}
    ~FftwBuffer() { fftwf_free(ptr); }
    FftwBuffer(const FftwBuffer&) = delete;
    FftwBuffer& operator=(const FftwBuffer&) = delete;
};

enum class Stage { kSpectrum, kMel, kLog };

class LogMelFrontendImpl final : public LogMelFrontend {
public:
    LogMelFrontendImpl(FrontendConfig config, fftwf_plan plan)
        : config_(std::move(config)),
          plan_(plan),
          mel_(make_mel_matrix(config_.mel, config_.sample_rate_hz, config_.stft.n_fft)),
          window_(make_window(config_.stft.window, config_.stft.window_length)) {
        const int n_fft = config_.stft.n_fft;
        const int length = config_.stft.window_length;
        window_offset_ = config_.stft.placement == WindowPlacement::kCenter
                             ? static_cast<std::size_t>((n_fft - length) / 2)
                             : 0;
        // Non-zero column range of every band, so the mel product skips the zeros.
        band_begin_.resize(mel_.n_rows);
        band_end_.resize(mel_.n_rows);
        for (std::size_t m = 0; m < mel_.n_rows; ++m) {
            std::size_t b = 0;
            std::size_t e = 0;
            for (std::size_t k = 0; k < mel_.n_cols; ++k) {
                if (mel_.at(m, k) != 0.0f) {
                    if (e == 0)
                        b = k;
                    e = k + 1;
                }
            }
            band_begin_[m] = b;
            band_end_[m] = e;
        }
    }

    ~LogMelFrontendImpl() override {
        std::lock_guard<std::mutex> lock(fftw_planner_mutex());
        fftwf_destroy_plan(plan_);
    }
    LogMelFrontendImpl(const LogMelFrontendImpl&) = delete;
    LogMelFrontendImpl& operator=(const LogMelFrontendImpl&) = delete;

    const FrontendConfig& config() const override { return config_; }
    const Matrix& mel_matrix() const override { return mel_; }
    const std::vector<float>& window() const override { return window_; }

    std::size_t n_frames(std::size_t n_samples) const override {
        std::size_t n = n_samples;
        if (config_.preemphasis > 0.0) {
            if (n == 0)
                return 0;
            n -= 1;
        }
        const auto hop = static_cast<std::size_t>(config_.stft.hop_length);
        if (config_.stft.framing == Framing::kNone) {
            const auto frame = frame_span();
            if (n < frame)
                return 0;
            return 1 + (n - frame) / hop;
        }
        // Reflect padding needs n > n_fft/2 (torch.stft / np.pad reflect).
        if (n <= static_cast<std::size_t>(config_.stft.n_fft / 2))
            return 0;
        return 1 + n / hop;
    }

    Result<Matrix> spectrum(std::span<const float> audio) const override {
        return run(audio, Stage::kSpectrum);
    }
    Result<Matrix> mel(std::span<const float> audio) const override {
        return run(audio, Stage::kMel);
    }
    Result<Matrix> compute(std::span<const float> audio) const override {
        return run(audio, Stage::kLog);
    }

private:
    // Samples covered by one frame for Framing::kNone: the window, placed at window_offset_.
    std::size_t frame_span() const {
        return config_.stft.placement == WindowPlacement::kStart
                   ? static_cast<std::size_t>(config_.stft.window_length)
                   : static_cast<std::size_t>(config_.stft.n_fft);
    }

    Result<Matrix> run(std::span<const float> audio, Stage stage) const {
        // 1. Optional pre-emphasis (valid 2-tap convolution, one sample shorter).
        std::vector<float> emphasised;
        std::span<const float> x = audio;
        if (config_.preemphasis > 0.0 && !audio.empty()) {
            const auto a = static_cast<float>(config_.preemphasis);
            emphasised.resize(audio.size() - 1);
            for (std::size_t n = 0; n + 1 < audio.size(); ++n) {
                emphasised[n] = audio[n + 1] - a * audio[n];
            }
            x = emphasised;
        }
        const std::size_t t_frames = n_frames(audio.size());
        if (t_frames == 0) {
            return make_error(ErrorCode::kInvalidArgument,
                              "log-mel: input of " + std::to_string(audio.size()) +
                                  " samples is too short for this front end (pad it first)");
        }

        const auto n_fft = static_cast<std::size_t>(config_.stft.n_fft);
        const std::size_t n_bins = n_fft / 2 + 1;
        const std::size_t length = window_.size();
        const auto hop = static_cast<std::size_t>(config_.stft.hop_length);
        const bool reflect = config_.stft.framing == Framing::kCenterReflect;
        const auto half = static_cast<std::ptrdiff_t>(n_fft / 2);
        const auto n_x = static_cast<std::ptrdiff_t>(x.size());
        const bool power = config_.stft.spectrum == SpectrumKind::kPower;

        FftwBuffer<float> in(n_fft);
        FftwBuffer<fftwf_complex> out(n_bins);
        std::fill(in.ptr, in.ptr + n_fft, 0.0f);

        const std::size_t n_cols = stage == Stage::kSpectrum ? n_bins : mel_.n_rows;
        Matrix result(t_frames, n_cols);
        std::vector<float> spec(n_bins);

        for (std::size_t t = 0; t < t_frames; ++t) {
            // 2. Frame, window and place in the n_fft buffer (zeros elsewhere stay zero).
            for (std::size_t j = 0; j < length; ++j) {
                const std::size_t pos = window_offset_ + j;  // position in the n_fft frame
                float sample = 0.0f;
                if (reflect) {
                    auto q = static_cast<std::ptrdiff_t>(t * hop + pos) - half;
                    if (q < 0)
                        q = -q;
                    if (q >= n_x)
                        q = 2 * (n_x - 1) - q;
                    sample = x[static_cast<std::size_t>(q)];
                } else {
                    sample = x[t * hop + pos];
                }
                in.ptr[pos] = sample * window_[j];
            }
            // 3. Real FFT and magnitude / power.
            fftwf_execute_dft_r2c(plan_, in.ptr, out.ptr);
            float* dst = stage == Stage::kSpectrum ? result.row(t) : spec.data();
            for (std::size_t k = 0; k < n_bins; ++k) {
                const float re = out.ptr[k][0];
                const float im = out.ptr[k][1];
                const float p = re * re + im * im;
                dst[k] = power ? p : std::sqrt(p);
            }
            if (stage == Stage::kSpectrum)
                continue;
            // 4. Mel (double accumulation), optional f16 rounding, log.
            float* row = result.row(t);
            for (std::size_t m = 0; m < mel_.n_rows; ++m) {
                const float* w = mel_.row(m);
                double acc = 0.0;
                for (std::size_t k = band_begin_[m]; k < band_end_[m]; ++k) {
                    acc += static_cast<double>(w[k]) * static_cast<double>(spec[k]);
                }
                auto v = static_cast<float>(acc);
                if (config_.round_mel_to_f16)
                    v = round_to_f16(v);
                row[m] = stage == Stage::kLog ? apply_log(v) : v;
            }
        }
        return result;
    }

    float apply_log(float v) const {
        const LogConfig& lc = config_.log;
        // Float32 arithmetic in the order of the references (torch float32 ops).
        const float arg = static_cast<float>(lc.mul) * v + static_cast<float>(lc.add);
        float y = lc.kind == LogKind::kLn ? std::log(arg) : std::log10(arg);
        if (lc.shift != 0.0)
            y += static_cast<float>(lc.shift);
        if (lc.divisor != 1.0)
            y /= static_cast<float>(lc.divisor);
        return y;
    }

    FrontendConfig config_;
    fftwf_plan plan_;
    Matrix mel_;
    std::vector<float> window_;
    std::size_t window_offset_ = 0;
    std::vector<std::size_t> band_begin_;
    std::vector<std::size_t> band_end_;
};

Status validate(const FrontendConfig& c) {
    auto bad = [](const std::string& what) {
        return make_error(ErrorCode::kInvalidArgument, "log-mel config: " + what);
    };
    const StftConfig& s = c.stft;
    if (c.sample_rate_hz <= 0)
        return bad("sample_rate_hz must be > 0");
    if (s.n_fft < 2 || s.n_fft % 2 != 0)
        return bad("n_fft must be even and >= 2");
    if (s.window_length < 1 || s.window_length > s.n_fft) {
        return bad("window_length must be in [1, n_fft]");
    }
    if (s.hop_length < 1)
        return bad("hop_length must be >= 1");
    if (c.mel.n_mels < 1)
        return bad("n_mels must be >= 1");
    if (c.mel.fmin_hz < 0.0 || c.mel.fmin_hz >= c.mel.fmax_hz) {
        return bad("need 0 <= fmin_hz < fmax_hz");
    }
    if (c.mel.fmax_hz > c.sample_rate_hz / 2.0)
        return bad("fmax_hz must be <= sample_rate_hz/2");
    if (c.preemphasis < 0.0 || c.preemphasis >= 1.0)
        return bad("preemphasis must be in [0, 1)");
    if (c.log.divisor == 0.0)
        return bad("log divisor must be non-zero");
    if (c.log.add < 0.0 || c.log.mul <= 0.0)
        return bad("log needs mul > 0 and add >= 0");
    return ok_status();
}

}  // namespace

float round_to_f16(float x) {
    if (!std::isfinite(x) || x == 0.0f)
        return x;
    // Half: 10 mantissa bits, exponents -14..15; below 2^-14 the quantum is fixed at 2^-24.
    int e = 0;
    std::frexp(x, &e);  // |x| in [2^(e-1), 2^e)
    const int exponent = std::max(e - 1, -14);
    const float quantum = std::ldexp(1.0f, exponent - 10);
    // x / quantum and the product are exact (powers of two); nearbyint rounds half to even in
    // the default rounding mode.
    const float r = std::nearbyint(x / quantum) * quantum;
    constexpr float kMaxHalf = 65504.0f;
    if (std::fabs(r) > kMaxHalf)
        return std::copysign(HUGE_VALF, x);
    return r;
}

std::vector<float> make_window(WindowKind kind, int length) {
    std::vector<float> w(static_cast<std::size_t>(std::max(length, 0)));
    if (length <= 0)
        return w;
    if (length == 1) {
        w[0] = 1.0f;
        return w;
    }
    const double two_pi = 2.0 * std::numbers::pi;
    double denom = length;
    double alpha = 0.5;
    double beta = 0.5;
    switch (kind) {
        case WindowKind::kHannPeriodic:
            break;
        case WindowKind::kHannSymmetric:
            denom = length - 1;
            break;
        case WindowKind::kHammingPeriodic:
            alpha = 0.54;
            beta = 0.46;
            break;
    }
    for (int n = 0; n < length; ++n) {
        w[static_cast<std::size_t>(n)] =
            static_cast<float>(alpha - beta * std::cos(two_pi * n / denom));
    }
    return w;
}

namespace {

// torchaudio.compliance.kaldi.get_mel_banks (v0.13.1, kaldi.py#L435-L512, vtln_warp = 1) as
// evaluated by torch in float32: arange tensors and Python-float scalars (cast to float32 by the
// CPU kernels), mel = 1127 * log(1 + f/700) in float32. EfficientAT then pads the Nyquist column
// with 0 (preprocess.py AugmentMelSTFT).
Matrix make_mel_matrix_torchaudio_f32(const MelConfig& mel, int sample_rate_hz, int n_fft) {
    const auto n_bins = static_cast<std::size_t>(n_fft / 2 + 1);
    const auto n_mels = static_cast<std::size_t>(mel.n_mels);
    Matrix m(n_mels, n_bins);
    // Scalars are Python floats (double).
    const double mel_lo = 1127.0 * std::log(1.0 + mel.fmin_hz / 700.0);
    const double mel_hi = 1127.0 * std::log(1.0 + mel.fmax_hz / 700.0);
    const auto delta = static_cast<float>((mel_hi - mel_lo) / static_cast<double>(n_mels + 1));
    const auto lo = static_cast<float>(mel_lo);
    const auto bin_hz = static_cast<float>(static_cast<double>(sample_rate_hz) / n_fft);
    for (std::size_t i = 0; i < n_mels; ++i) {
        const auto b = static_cast<float>(i);
        const float left = b * delta + lo;
        const float center = (b + 1.0f) * delta + lo;
        const float right = (b + 2.0f) * delta + lo;
        for (std::size_t k = 0; k + 1 < n_bins; ++k) {
            const float f = static_cast<float>(k) * bin_hz;
            const float fm = 1127.0f * std::log(1.0f + f / 700.0f);
            const float up = (fm - left) / (center - left);
            const float down = (right - fm) / (right - center);
            m.at(i, k) = std::max(0.0f, std::min(up, down));
        }
    }
    return m;
}

}  // namespace

Matrix make_mel_matrix(const MelConfig& mel, int sample_rate_hz, int n_fft) {
    if (mel.arithmetic == MelArithmetic::kFloat32Torchaudio && mel.scale == MelScale::kHtk &&
        mel.triangles == MelTriangles::kMelDomain && mel.norm == MelNorm::kNone) {
        return make_mel_matrix_torchaudio_f32(mel, sample_rate_hz, n_fft);
    }
    const auto n_bins = static_cast<std::size_t>(n_fft / 2 + 1);
    const auto n_mels = static_cast<std::size_t>(mel.n_mels);
    Matrix m(n_mels, n_bins);
    const double mel_lo = hz_to_mel(mel.fmin_hz, mel.scale);
    const double mel_hi = hz_to_mel(mel.fmax_hz, mel.scale);
    // n_mels + 2 equally spaced edges in mel: e_i = lo + i * δ.
    const double delta = (mel_hi - mel_lo) / static_cast<double>(n_mels + 1);
    std::vector<double> edges_mel(n_mels + 2);
    std::vector<double> edges_hz(n_mels + 2);
    for (std::size_t i = 0; i < n_mels + 2; ++i) {
        edges_mel[i] = mel_lo + static_cast<double>(i) * delta;
        edges_hz[i] = mel_to_hz(edges_mel[i], mel.scale);
    }
    const double bin_hz = static_cast<double>(sample_rate_hz) / n_fft;
    for (std::size_t k = 0; k < n_bins; ++k) {
        const double f = bin_hz * static_cast<double>(k);
        const double fm = hz_to_mel(f, mel.scale);
        for (std::size_t i = 0; i < n_mels; ++i) {
            double w = 0.0;
            if (mel.triangles == MelTriangles::kMelDomain) {
                // TF linear_to_mel_weight_matrix / Kaldi get_mel_banks; the DC bin (TF) and the
                // Nyquist bin (Kaldi, fmax < rate/2) get 0 from the formula or below.
                const double up = (fm - edges_mel[i]) / (edges_mel[i + 1] - edges_mel[i]);
                const double down = (edges_mel[i + 2] - fm) / (edges_mel[i + 2] - edges_mel[i + 1]);
                w = std::max(0.0, std::min(up, down));
            } else {
                // librosa: triangles in Hz between the converted edges.
                const double up = (f - edges_hz[i]) / (edges_hz[i + 1] - edges_hz[i]);
                const double down = (edges_hz[i + 2] - f) / (edges_hz[i + 2] - edges_hz[i + 1]);
                w = std::max(0.0, std::min(up, down));
            }
            if (mel.norm == MelNorm::kSlaney)
                w *= 2.0 / (edges_hz[i + 2] - edges_hz[i]);
            m.at(i, k) = static_cast<float>(w);
        }
    }
    if (mel.triangles == MelTriangles::kMelDomain) {
        // TF zeroes the DC bin explicitly (bands_to_zero = 1) even when fmin = 0 would give it
        // weight 0 anyway; EfficientAT pads the Nyquist column with 0 (Kaldi has n_fft/2 bins).
        for (std::size_t i = 0; i < n_mels; ++i) {
            m.at(i, 0) = 0.0f;
            m.at(i, n_bins - 1) = 0.0f;
        }
    }
    return m;
}

Result<std::unique_ptr<LogMelFrontend>> LogMelFrontend::make(const FrontendConfig& config) {
    EARSHOT_RETURN_IF_ERROR(validate(config));
    const auto n_fft = static_cast<std::size_t>(config.stft.n_fft);
    fftwf_plan plan = nullptr;
    {
        std::lock_guard<std::mutex> lock(fftw_planner_mutex());
        FftwBuffer<float> in(n_fft);
        FftwBuffer<fftwf_complex> out(n_fft / 2 + 1);
        // FFTW_ESTIMATE leaves the buffers untouched; fftwf_malloc alignment matches the
        // per-call buffers used with fftwf_execute_dft_r2c.
        plan = fftwf_plan_dft_r2c_1d(config.stft.n_fft, in.ptr, out.ptr, FFTW_ESTIMATE);
    }
    if (plan == nullptr) {
        return make_error(ErrorCode::kInternal, "log-mel: FFTW could not plan a real FFT of " +
                                                    std::to_string(config.stft.n_fft));
    }
    return std::unique_ptr<LogMelFrontend>(new LogMelFrontendImpl(config, plan));
}

}  // namespace earshot
