#include "features/patcher.h"

#include <algorithm>

#include "core/check.h"

namespace earshot {

Matrix Patches::patch_matrix(std::size_t p) const {
    EARSHOT_CHECK(p < n_patches);
    Matrix m(patch_frames, n_mels);
    const auto src = patch(p);
    std::copy(src.begin(), src.end(), m.data.begin());
    return m;
}

Patches make_patches(const Matrix& frames, std::size_t patch_frames, std::size_t hop_frames) {
    EARSHOT_CHECK(patch_frames > 0 && hop_frames > 0);
    Patches out;
    out.patch_frames = patch_frames;
    out.n_mels = frames.n_cols;
    if (frames.n_rows < patch_frames)
        return out;
    out.n_patches = 1 + (frames.n_rows - patch_frames) / hop_frames;
    out.data.resize(out.n_patches * out.patch_size());
    for (std::size_t p = 0; p < out.n_patches; ++p) {
        const float* src = frames.row(p * hop_frames);
        std::copy(src, src + out.patch_size(), out.data.begin() + p * out.patch_size());
    }
    return out;
}

Patches make_patches_padded(const Matrix& frames,
                            std::size_t patch_frames,
                            std::size_t hop_frames,
                            float pad_value) {
    EARSHOT_CHECK(patch_frames > 0 && hop_frames > 0);
    if (frames.n_rows >= patch_frames)
        return make_patches(frames, patch_frames, hop_frames);
    Patches out;
    out.patch_frames = patch_frames;
    out.n_mels = frames.n_cols;
    out.n_patches = 1;
    out.data.assign(out.patch_size(), pad_value);
    std::copy(frames.data.begin(), frames.data.end(), out.data.begin());
    return out;
}

std::size_t yamnet_padded_length(std::size_t n) {
    if (n <= kYamnetMinSamples)
        return kYamnetMinSamples;
    const std::size_t k =
        (n - kYamnetMinSamples + kYamnetPatchHopSamples - 1) / kYamnetPatchHopSamples;
    return kYamnetMinSamples + k * kYamnetPatchHopSamples;
}

std::vector<float> yamnet_pad_waveform(std::span<const float> audio) {
    std::vector<float> out(yamnet_padded_length(audio.size()), 0.0f);
    std::copy(audio.begin(), audio.end(), out.begin());
    return out;
}

Patches make_yamnet_patches(const Matrix& frames) {
    return make_patches(frames, kYamnetPatchFrames, kYamnetPatchHopFrames);
}

Patches make_musicnn_patches(const Matrix& frames) {
    return make_patches_padded(frames, kMusicnnPatchFrames, kMusicnnPatchFrames, 0.0f);
}

}  // namespace earshot
