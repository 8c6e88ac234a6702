// MFCC and spectral statistics. Formulas follow librosa 0.10 feature/spectral.py (centroid,
// bandwidth p = 2, flatness with power = 2 and amin = 1e-10, rolloff) and HTK deltas
// (Young et al., The HTK Book 3.4, §5.9, eq. 5.16).
#include "features/mfcc.h"

#include <algorithm>
#include <cmath>
#include <numbers>
#include <utility>

namespace earshot {

Matrix make_dct_matrix(int n_out, int n_in) {
    Matrix d(static_cast<std::size_t>(n_out), static_cast<std::size_t>(n_in));
    const double pi = std::numbers::pi;
    for (int j = 0; j < n_out; ++j) {
        const double s = std::sqrt((j == 0 ? 1.0 : 2.0) / n_in);
        for (int m = 0; m < n_in; ++m) {
            d.at(static_cast<std::size_t>(j), static_cast<std::size_t>(m)) =
                static_cast<float>(s * std::cos(pi * j * (2 * m + 1) / (2.0 * n_in)));
        }
    }
    return d;
}

Matrix compute_deltas(const Matrix& x, int width) {
    Matrix d(x.n_rows, x.n_cols);
    if (x.n_rows == 0 || width < 1)
        return d;
    double denom = 0.0;
    for (int n = 1; n <= width; ++n) denom += 2.0 * n * n;
    const auto last = static_cast<std::ptrdiff_t>(x.n_rows) - 1;
    for (std::size_t t = 0; t < x.n_rows; ++t) {
        for (std::size_t j = 0; j < x.n_cols; ++j) {
            double acc = 0.0;
            for (int n = 1; n <= width; ++n) {
                const auto ti = static_cast<std::ptrdiff_t>(t);
                const auto plus = static_cast<std::size_t>(std::min(ti + n, last));
                const auto minus = static_cast<std::size_t>(std::max<std::ptrdiff_t>(ti - n, 0));
                acc += n * (static_cast<double>(x.at(plus, j)) - x.at(minus, j));
            }
            d.at(t, j) = static_cast<float>(acc / denom);
        }
    }
    return d;
}

MfccExtractor::MfccExtractor(MfccConfig config, std::unique_ptr<LogMelFrontend> frontend)
    : config_(std::move(config)),
      frontend_(std::move(frontend)),
      dct_(make_dct_matrix(config_.n_mfcc, config_.n_mels)) {}

MfccExtractor::~MfccExtractor() = default;

Result<std::unique_ptr<MfccExtractor>> MfccExtractor::make(const MfccConfig& config) {
    if (config.n_mfcc < 1 || config.n_mfcc > config.n_mels) {
        return make_error(ErrorCode::kInvalidArgument, "mfcc config: need 1 <= n_mfcc <= n_mels");
    }
    if (config.delta_width < 1) {
        return make_error(ErrorCode::kInvalidArgument, "mfcc config: delta_width must be >= 1");
    }
    if (!(config.log_floor > 0.0)) {
        return make_error(ErrorCode::kInvalidArgument, "mfcc config: log_floor must be > 0");
    }
    if (!(config.rolloff_fraction > 0.0 && config.rolloff_fraction <= 1.0)) {
        return make_error(ErrorCode::kInvalidArgument,
                          "mfcc config: rolloff_fraction must be in (0, 1]");
    }
    FrontendConfig fc;
    fc.sample_rate_hz = config.sample_rate_hz;
    fc.stft.n_fft = config.n_fft;
    fc.stft.window_length = config.window_length;
    fc.stft.hop_length = config.hop_length;
    fc.stft.window = WindowKind::kHannPeriodic;
    fc.stft.placement = WindowPlacement::kStart;
    fc.stft.framing = Framing::kNone;
    fc.stft.spectrum = SpectrumKind::kPower;
    fc.mel.n_mels = config.n_mels;
    fc.mel.fmin_hz = config.fmin_hz;
    fc.mel.fmax_hz = config.fmax_hz;
    fc.mel.scale = MelScale::kHtk;
    fc.mel.triangles = MelTriangles::kMelDomain;
    fc.mel.norm = MelNorm::kNone;
    auto frontend = LogMelFrontend::make(fc);
    if (!frontend)
        return tl::unexpected(frontend.error().with_context("mfcc"));
    return std::unique_ptr<MfccExtractor>(new MfccExtractor(config, std::move(*frontend)));
}

std::vector<std::string> MfccExtractor::feature_names() const {
    std::vector<std::string> names;
    for (int j = 0; j < config_.n_mfcc; ++j) names.push_back("mfcc_" + std::to_string(j));
    for (int j = 0; j < config_.n_mfcc; ++j) names.push_back("delta_" + std::to_string(j));
    for (const char* s : {"centroid_hz", "bandwidth_hz", "flatness", "rolloff_hz", "zcr"}) {
        names.emplace_back(s);
    }
    return names;
}

std::vector<std::string> MfccExtractor::summary_names() const {
    std::vector<std::string> names;
    const auto base = feature_names();
    for (const auto& n : base) names.push_back("mean_" + n);
    for (const auto& n : base) names.push_back("std_" + n);
    return names;
}

std::size_t MfccExtractor::n_frames(std::size_t n_samples) const {
    const auto length = static_cast<std::size_t>(config_.window_length);
    return 1 +
           (std::max(n_samples, length) - length) / static_cast<std::size_t>(config_.hop_length);
}

Result<Matrix> MfccExtractor::frame_features(std::span<const float> audio) const {
    const auto length = static_cast<std::size_t>(config_.window_length);
    std::vector<float> padded;
    if (audio.size() < length) {
        padded.assign(length, 0.0f);
        std::copy(audio.begin(), audio.end(), padded.begin());
        audio = padded;
    }
    EARSHOT_ASSIGN_OR_RETURN(Matrix power, frontend_->spectrum(audio));
    const std::size_t t_frames = power.n_rows;
    const std::size_t n_bins = power.n_cols;
    const auto n_mfcc = static_cast<std::size_t>(config_.n_mfcc);
    const auto n_mels = static_cast<std::size_t>(config_.n_mels);
    const Matrix& mel = frontend_->mel_matrix();
    const double bin_hz = static_cast<double>(config_.sample_rate_hz) / config_.n_fft;
    const auto hop = static_cast<std::size_t>(config_.hop_length);

    Matrix mfcc(t_frames, n_mfcc);
    Matrix out(t_frames, n_frame_features());
    std::vector<double> log_mel(n_mels);
    std::vector<double> mag(n_bins);
    for (std::size_t t = 0; t < t_frames; ++t) {
        const float* p = power.row(t);
        // MFCC: DCT-II of ln(mel + floor).
        for (std::size_t m = 0; m < n_mels; ++m) {
            double acc = 0.0;
            for (std::size_t k = 0; k < n_bins; ++k)
                acc += static_cast<double>(mel.at(m, k)) * p[k];
            log_mel[m] = std::log(acc + config_.log_floor);
        }
        for (std::size_t j = 0; j < n_mfcc; ++j) {
            double acc = 0.0;
            for (std::size_t m = 0; m < n_mels; ++m) acc += dct_.at(j, m) * log_mel[m];
            mfcc.at(t, j) = static_cast<float>(acc);
        }
        // Spectral statistics on the magnitude (flatness on the power).
        double sum_mag = 0.0;
        double sum_f_mag = 0.0;
        double sum_log_power = 0.0;
        double sum_power = 0.0;
        for (std::size_t k = 0; k < n_bins; ++k) {
            mag[k] = std::sqrt(static_cast<double>(p[k]));
            sum_mag += mag[k];
            sum_f_mag += mag[k] * bin_hz * static_cast<double>(k);
            const double pk = std::max(static_cast<double>(p[k]), 1e-10);  // librosa amin
            sum_log_power += std::log(pk);
            sum_power += pk;
        }
        double centroid = 0.0;
        double bandwidth = 0.0;
        double rolloff = 0.0;
        if (sum_mag > 0.0) {
            centroid = sum_f_mag / sum_mag;
            double var = 0.0;
            for (std::size_t k = 0; k < n_bins; ++k) {
                const double d = bin_hz * static_cast<double>(k) - centroid;
                var += mag[k] * d * d;
            }
            bandwidth = std::sqrt(var / sum_mag);
            const double target = config_.rolloff_fraction * sum_mag;
            double cum = 0.0;
            for (std::size_t k = 0; k < n_bins; ++k) {
                cum += mag[k];
                if (cum >= target) {
                    rolloff = bin_hz * static_cast<double>(k);
                    break;
                }
            }
        }
        const auto nb = static_cast<double>(n_bins);
        const double flatness = std::exp(sum_log_power / nb) / (sum_power / nb);
        // Zero-crossing rate of the frame's raw samples.
        std::size_t crossings = 0;
        const float* x = audio.data() + t * hop;
        for (std::size_t n = 1; n < length; ++n) {
            if (std::signbit(x[n]) != std::signbit(x[n - 1]))
                ++crossings;
        }
        const double zcr =
            length > 1 ? static_cast<double>(crossings) / static_cast<double>(length - 1) : 0.0;
        float* row = out.row(t);
        const std::size_t s = 2 * n_mfcc;
        row[s + 0] = static_cast<float>(centroid);
        row[s + 1] = static_cast<float>(bandwidth);
        row[s + 2] = static_cast<float>(flatness);
        row[s + 3] = static_cast<float>(rolloff);
        row[s + 4] = static_cast<float>(zcr);
    }
    const Matrix deltas = compute_deltas(mfcc, config_.delta_width);
    for (std::size_t t = 0; t < t_frames; ++t) {
        std::copy(mfcc.row(t), mfcc.row(t) + n_mfcc, out.row(t));
        std::copy(deltas.row(t), deltas.row(t) + n_mfcc, out.row(t) + n_mfcc);
    }
    return out;
}

Result<std::vector<float>> MfccExtractor::summary(std::span<const float> audio) const {
    EARSHOT_ASSIGN_OR_RETURN(Matrix f, frame_features(audio));
    const std::size_t d = f.n_cols;
    std::vector<double> mean(d, 0.0);
    std::vector<double> sq(d, 0.0);
    for (std::size_t t = 0; t < f.n_rows; ++t) {
        for (std::size_t j = 0; j < d; ++j) mean[j] += f.at(t, j);
    }
    const auto n = static_cast<double>(f.n_rows);
    for (auto& m : mean) m /= n;
    for (std::size_t t = 0; t < f.n_rows; ++t) {
        for (std::size_t j = 0; j < d; ++j) {
            const double c = f.at(t, j) - mean[j];
            sq[j] += c * c;
        }
    }
    std::vector<float> out(2 * d);
    for (std::size_t j = 0; j < d; ++j) {
        out[j] = static_cast<float>(mean[j]);
        out[d + j] = static_cast<float>(std::sqrt(sq[j] / n));
    }
    return out;
}

}  // namespace earshot
