// Parameters that describe a log-mel front end exactly (see ../shared/models/MODELS.md §4.1,
// §5.1, §6.1). One struct covers YAMNet (magnitude, HTK, ln(x+0.001)), EfficientAT mn04
// (pre-emphasis, power, Kaldi-style HTK triangles, (ln(x+1e-5)+4.5)/5) and musicnn (power,
// Slaney with area norm, float16 rounding, log10(10000x+1)). Plain value type.
#pragma once

namespace earshot {

enum class WindowKind {
    kHannPeriodic,   // w[n] = 0.5 - 0.5 cos(2πn/L)
    kHannSymmetric,  // w[n] = 0.5 - 0.5 cos(2πn/(L-1))
    kHammingPeriodic,
};

enum class WindowPlacement {
    kStart,   // window samples at the start of the n_fft frame, zeros after (TF/YAMNet)
    kCenter,  // window centred in the n_fft frame, (n_fft-L)/2 zeros each side (torch.stft)
};

enum class Framing {
    // frame t covers x[t*hop, t*hop + F) with F = window_length for kStart placement (YAMNet:
    // 400 samples zero-padded to 512) and F = n_fft for kCenter; T = 1 + (N - F)/hop (N >= F).
    kNone,
    kCenterReflect,  // reflect-pad n_fft/2 each side (edge excluded), T = 1 + N/hop
};

enum class SpectrumKind { kMagnitude, kPower };

enum class MelScale {
    kHtk,     // mel(f) = 1127 ln(1 + f/700)
    kSlaney,  // linear below 1 kHz (f / (200/3)), logarithmic above
};

enum class MelTriangles {
    kMelDomain,  // triangle weights computed on mel(f_k) (TF linear_to_mel, Kaldi)
    kHzDomain,   // edges converted back to Hz, weights computed on f_k (librosa)
};

enum class MelNorm { kNone, kSlaney /* 2/(f_{i+2}-f_i) area normalisation */ };

// Arithmetic used to build the mel matrix. kFloat64 reproduces TF's matrix as stored for YAMNet and
// librosa's (musicnn) exactly; kFloat32Torchaudio repeats
// torchaudio.compliance.kaldi.get_mel_banks' float32 tensor ops (mn04), whose rounding moves
// weights near the triangle feet by up to ~1e-5. kFloat32Torchaudio applies to HTK, kMelDomain, no
// norm (else kFloat64) and zeroes the Nyquist column like EfficientAT.
enum class MelArithmetic { kFloat64, kFloat32Torchaudio };

enum class LogKind {
    kLn,     // ln(mul*x + add)
    kLog10,  // log10(mul*x + add)
};

struct StftConfig {
    int n_fft = 512;
    int window_length = 400;
    int hop_length = 160;
    WindowKind window = WindowKind::kHannPeriodic;
    WindowPlacement placement = WindowPlacement::kStart;
    Framing framing = Framing::kNone;
    SpectrumKind spectrum = SpectrumKind::kMagnitude;
};

struct MelConfig {
    int n_mels = 64;
    double fmin_hz = 125.0;
    double fmax_hz = 7500.0;
    MelScale scale = MelScale::kHtk;
    MelTriangles triangles = MelTriangles::kMelDomain;
    MelNorm norm = MelNorm::kNone;
    MelArithmetic arithmetic = MelArithmetic::kFloat64;
};

// out = (log(mul * mel + add) + shift) / divisor
struct LogConfig {
    LogKind kind = LogKind::kLn;
    double mul = 1.0;
    double add = 0.001;
    double shift = 0.0;
    double divisor = 1.0;
};

struct FrontendConfig {
    int sample_rate_hz = 16000;
    double preemphasis = 0.0;  // > 0: y[n] = x[n+1] - a*x[n] (N-1 samples), before the STFT
    StftConfig stft;
    MelConfig mel;
    bool round_mel_to_f16 = false;  // mel -> IEEE half (round to nearest even) -> float, before log
    LogConfig log;
};

}  // namespace earshot
