#include "features/presets.h"

namespace earshot {

FrontendConfig yamnet_frontend_config() {
    FrontendConfig c;
    c.sample_rate_hz = 16000;
    c.preemphasis = 0.0;
    c.stft.n_fft = 512;
    c.stft.window_length = 400;
    c.stft.hop_length = 160;
    c.stft.window = WindowKind::kHannPeriodic;
    c.stft.placement = WindowPlacement::kStart;
    c.stft.framing = Framing::kNone;
    c.stft.spectrum = SpectrumKind::kMagnitude;
    c.mel.n_mels = 64;
    c.mel.fmin_hz = 125.0;
    c.mel.fmax_hz = 7500.0;
    c.mel.scale = MelScale::kHtk;
    c.mel.triangles = MelTriangles::kMelDomain;
    c.mel.norm = MelNorm::kNone;
    c.round_mel_to_f16 = false;
    c.log = LogConfig{LogKind::kLn, 1.0, 0.001, 0.0, 1.0};
    return c;
}

FrontendConfig mn04_frontend_config() {
    FrontendConfig c;
    c.sample_rate_hz = 32000;
    c.preemphasis = 0.97;
    c.stft.n_fft = 1024;
    c.stft.window_length = 800;
    c.stft.hop_length = 320;
    c.stft.window = WindowKind::kHannSymmetric;
    c.stft.placement = WindowPlacement::kCenter;
    c.stft.framing = Framing::kCenterReflect;
    c.stft.spectrum = SpectrumKind::kPower;
    c.mel.n_mels = 128;
    c.mel.fmin_hz = 0.0;
    c.mel.fmax_hz = 15000.0;  // eval-time setting (training jitters fmin/fmax)
    c.mel.scale = MelScale::kHtk;
    c.mel.triangles = MelTriangles::kMelDomain;
    c.mel.norm = MelNorm::kNone;
    c.mel.arithmetic = MelArithmetic::kFloat32Torchaudio;  // torchaudio get_mel_banks
    c.round_mel_to_f16 = false;
    c.log = LogConfig{LogKind::kLn, 1.0, 1e-5, 4.5, 5.0};  // EfficientAT AugmentMelSTFT
    return c;
}

FrontendConfig musicnn_frontend_config() {
    FrontendConfig c;
    c.sample_rate_hz = 16000;
    c.preemphasis = 0.0;
    c.stft.n_fft = 512;
    c.stft.window_length = 512;
    c.stft.hop_length = 256;
    c.stft.window = WindowKind::kHannPeriodic;
    c.stft.placement = WindowPlacement::kCenter;
    c.stft.framing = Framing::kCenterReflect;
    c.stft.spectrum = SpectrumKind::kPower;
    c.mel.n_mels = 96;
    c.mel.fmin_hz = 0.0;
    c.mel.fmax_hz = 8000.0;
    c.mel.scale = MelScale::kSlaney;
    c.mel.triangles = MelTriangles::kHzDomain;
    c.mel.norm = MelNorm::kSlaney;
    c.round_mel_to_f16 = true;  // upstream astype(float16) before the log
    c.log = LogConfig{LogKind::kLog10, 10000.0, 1.0, 0.0, 1.0};
    return c;
}

}  // namespace earshot
