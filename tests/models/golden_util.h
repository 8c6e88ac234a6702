// Helpers for the models' golden (parity) tests: reference tensors from
// ../shared/models/<model>/reference/*.safetensors, the acceptance checks of MODELS.md §3.2
// (identical shapes, allclose with rtol 1e-3 and a per-tensor atol, per-row cosine) and the
// top-3 classes listed in expected.md. Test-only; includes torch.
#pragma once

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <torch/torch.h>

#include "core/matrix.h"
#include "core/safetensors.h"
#include "features/patcher.h"
#include "models/torch_util.h"

namespace earshot::testing {

inline const std::vector<std::string>& reference_clips() {
    static const std::vector<std::string> clips = {"silence", "sine1k", "noise", "speech", "music"};
    return clips;
}

// Loads a safetensors file; ADD_FAILURE and an empty object when it cannot be read.
inline SafeTensors load_reference(const std::filesystem::path& path) {
    auto st = load_safetensors(path);
    if (!st) {
        ADD_FAILURE() << "cannot load " << path << ": " << st.error().to_string();
        return {};
    }
    return std::move(*st);
}

// Tensor `name` as torch; ADD_FAILURE and an undefined tensor when absent.
inline torch::Tensor reference_tensor(const SafeTensors& st, const std::string& name) {
    auto t = detail::load_tensor(st, name);
    if (!t) {
        ADD_FAILURE() << "reference tensor " << name << ": " << t.error().to_string();
        return {};
    }
    return *t;
}

inline torch::Tensor to_tensor(const Matrix& m) {
    return detail::from_matrix(m);
}

// Patches [P][H][W] as NCHW [P,1,H,W] (copy).
inline torch::Tensor to_tensor(const Patches& p) {
    auto t = torch::empty(
        {static_cast<std::int64_t>(p.n_patches), 1, static_cast<std::int64_t>(p.patch_frames),
         static_cast<std::int64_t>(p.n_mels)},
        torch::kFloat32);
    std::copy(p.data.begin(), p.data.end(), t.data_ptr<float>());
    return t;
}

inline double max_abs_diff(const torch::Tensor& a, const torch::Tensor& b) {
    if (a.numel() == 0) {
        return 0.0;
    }
    return (a.to(torch::kDouble) - b.to(torch::kDouble)).abs().max().item<double>();
}

// MODELS.md §3.2 criteria 1 and 2: same shape, allclose(out, ref, rtol 1e-3, atol). Prints and
// returns max |Δ| (-1 on a shape mismatch).
inline double expect_allclose(const torch::Tensor& out,
                              const torch::Tensor& ref,
                              double atol,
                              const std::string& what) {
    if (!out.defined() || !ref.defined()) {
        ADD_FAILURE() << what << ": undefined tensor";
        return -1.0;
    }
    if (out.sizes() != ref.sizes()) {
        ADD_FAILURE() << what << ": shape " << out.sizes() << ", reference " << ref.sizes();
        return -1.0;
    }
    const double max_abs = max_abs_diff(out, ref);
    EXPECT_TRUE(torch::allclose(out, ref, /*rtol=*/1e-3, atol))
        << what << ": max |delta| " << max_abs << " (atol " << atol << ", rtol 1e-3)";
    const auto n_over_atol = ((out - ref).abs() > atol).sum().item<std::int64_t>();
    std::printf("[parity] %-44s max|d| = %.3g (%lld of %lld > atol)\n", what.c_str(), max_abs,
                static_cast<long long>(n_over_atol), static_cast<long long>(out.numel()));
    return max_abs;
}

// MODELS.md §3.2 criterion 3: per-row cosine >= min_cos (rows of [P,D]).
inline void expect_row_cosine(const torch::Tensor& out,
                              const torch::Tensor& ref,
                              double min_cos,
                              const std::string& what) {
    if (!out.defined() || !ref.defined() || out.sizes() != ref.sizes())
        return;  // reported above
    const auto a = out.to(torch::kDouble);
    const auto b = ref.to(torch::kDouble);
    const auto dot = (a * b).sum(1);
    const auto norms = a.norm(2, 1) * b.norm(2, 1);
    for (std::int64_t i = 0; i < a.size(0); ++i) {
        const double n = norms[i].item<double>();
        // Two all-zero rows are identical; cosine is undefined there.
        const double cos = n > 0.0 ? dot[i].item<double>() / n : 1.0;
        EXPECT_GE(cos, min_cos) << what << " row " << i;
    }
}

// Class indices of the 3 largest mean scores (mean over rows of [P,C]), descending.
inline std::vector<std::int64_t> top3_of_mean(const torch::Tensor& scores) {
    const auto mean = scores.to(torch::kDouble).mean(0);
    const auto idx = std::get<1>(mean.topk(3));
    return {idx[0].item<std::int64_t>(), idx[1].item<std::int64_t>(), idx[2].item<std::int64_t>()};
}

// Parses "## <clip>" sections and their "Top-3 (...): 494 Silence = 1.0000; 0 Speech = ..."
// lines of a reference/expected.md: clip -> class indices.
inline std::map<std::string, std::vector<std::int64_t>> read_expected_top3(
    const std::filesystem::path& path) {
    std::map<std::string, std::vector<std::int64_t>> out;
    std::ifstream in(path);
    if (!in) {
        ADD_FAILURE() << "cannot read " << path;
        return out;
    }
    std::string line;
    std::string clip;
    while (std::getline(in, line)) {
        if (line.rfind("## ", 0) == 0) {
            clip = line.substr(3);
        } else if (line.rfind("Top-3", 0) == 0 && !clip.empty()) {
            std::string rest = line.substr(line.find("):") + 2);
            std::vector<std::int64_t> idx;
            std::size_t pos = 0;
            while (pos < rest.size()) {
                std::size_t end = rest.find(';', pos);
                if (end == std::string::npos) {
                    end = rest.size();
                }
                idx.push_back(std::stoll(rest.substr(pos, end - pos)));
                pos = end + 1;
            }
            out[clip] = idx;
        }
    }
    return out;
}

}  // namespace earshot::testing
