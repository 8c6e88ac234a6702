// Turns log-mel frames into network inputs ("patches") and applies the waveform padding rules of
// the pretrained models (../shared/models/MODELS.md §4.1 step 1 and 7, §6.1 step 6).
//
// Layouts:
// - frames: Matrix [T][n_mels] (row t = frame t), as returned by LogMelFrontend::compute().
// - Patches::data: flat float32 [P][patch_frames][n_mels], C order: patch p, frame i, band j at
//   data[(p * patch_frames + i) * n_mels + j]. This is exactly NCHW [P,1,patch_frames,n_mels]
//   (H = time, W = mel) as YAMNet and musicnn expect. Patch p = frames [p*hop, p*hop+patch_frames).
// All functions are pure and thread-safe.
#pragma once

#include <cstddef>
#include <span>
#include <vector>

#include "core/matrix.h"

namespace earshot {

struct Patches {
    std::size_t n_patches = 0;     // P
    std::size_t patch_frames = 0;  // frames per patch (H)
    std::size_t n_mels = 0;        // bands per frame (W)
    std::vector<float> data;       // P * patch_frames * n_mels floats, layout above

    std::size_t patch_size() const { return patch_frames * n_mels; }
    std::span<const float> patch(std::size_t p) const {
        return {data.data() + p * patch_size(), patch_size()};
    }
    // Patch p as a [patch_frames][n_mels] matrix (a copy).
    Matrix patch_matrix(std::size_t p) const;
};

// Generic sliding patches: P = 1 + (T - patch_frames) / hop_frames for T >= patch_frames; a
// trailing partial patch is dropped and T < patch_frames gives P = 0.
// REQUIRES: patch_frames > 0, hop_frames > 0.
Patches make_patches(const Matrix& frames, std::size_t patch_frames, std::size_t hop_frames);

// Like make_patches(), but when T < patch_frames the frames are padded at the end with rows of
// pad_value to one full patch (P = 1). T = 0 with n_cols > 0 gives one patch of pad_value.
// REQUIRES: patch_frames > 0, hop_frames > 0.
Patches make_patches_padded(const Matrix& frames,
                            std::size_t patch_frames,
                            std::size_t hop_frames,
                            float pad_value);

// ---- YAMNet (§4.1) ----
inline constexpr std::size_t kYamnetMinSamples = 15600;      // 95 hops * 160 + 400 = one patch
inline constexpr std::size_t kYamnetPatchHopSamples = 7680;  // 48 hops = 0.48 s
inline constexpr std::size_t kYamnetPatchFrames = 96;
inline constexpr std::size_t kYamnetPatchHopFrames = 48;

// Waveform length after YAMNet's zero padding at the end: 15600 if n < 15600, otherwise
// 15600 + k*7680 with k = ceil((n - 15600) / 7680). The log-mel of the padded waveform has
// T = 96 + 48k frames and gives P = 1 + k patches.
std::size_t yamnet_padded_length(std::size_t n);
// Copy of audio zero-padded at the end to yamnet_padded_length(audio.size()).
std::vector<float> yamnet_pad_waveform(std::span<const float> audio);
// Patches of 96 frames, hop 48, from the log-mel of a padded waveform: [P][96][64].
Patches make_yamnet_patches(const Matrix& frames);

// ---- musicnn (§6.1 step 6) ----
inline constexpr std::size_t kMusicnnPatchFrames = 187;  // 3 s at 16 kHz, hop 256

// Non-overlapping 187-frame patches (hop 187), trailing partial patch dropped; if T < 187 the
// log-mel is zero-padded at the end (0 = log10(10000*0+1), digital silence) to P = 1.
// Result [P][187][96].
Patches make_musicnn_patches(const Matrix& frames);

}  // namespace earshot
