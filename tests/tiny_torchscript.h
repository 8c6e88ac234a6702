// Writes a tiny random-weight TorchScript embedding model for the tests of the generic
// "torchscript:PATH" model, with libtorch itself (no Python, no file in the repo):
//   DIR/tiny_model.pt       TorchScript archive, model card embedded as the extra file
//                           "model_card.json" (read by src/models/torchscript_model.cpp)
//   DIR/tiny_model.pt.json  the same card as a sidecar file
// The module maps log-mel patches [P,1,48 frames,32 mels] (input_layout "NCHW_time_mel") to
// [P,8] embeddings: conv 3x3 (1->4) + ReLU, conv 3x3 stride 2 (4->8) + ReLU, mean over
// (time, mel), linear 8->8. Weights come from torch::manual_seed(1234).
#pragma once

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>

#include <torch/script.h>
#include <torch/torch.h>

namespace earshot::testing {

inline constexpr const char* kTinyModelCard = R"json({
  "name": "tiny-random-1",
  "description": "tiny random-weight test model (tests/tiny_torchscript.h)",
  "license": "MIT",
  "dim": 8,
  "sample_rate_hz": 16000,
  "frontend": {
    "sample_rate_hz": 16000,
    "preemphasis": 0.0,
    "stft": {"n_fft": 512, "window_length": 400, "hop_length": 160, "window": "hann_periodic",
             "placement": "start", "framing": "none", "spectrum": "magnitude"},
    "mel": {"n_mels": 32, "fmin_hz": 125.0, "fmax_hz": 7500.0, "scale": "htk",
            "triangles": "mel", "norm": "none"},
    "round_mel_to_f16": false,
    "log": {"kind": "ln", "mul": 1.0, "add": 0.001, "shift": 0.0, "divisor": 1.0}
  },
  "patch_frames": 48,
  "patch_hop_frames": 24,
  "input_layout": "NCHW_time_mel"
}
)json";

// Returns DIR/tiny_model.pt after writing it and its sidecar card. Another seed gives the same
// model with other weights (a model trained again).
inline std::filesystem::path write_tiny_torchscript(const std::filesystem::path& dir,
                                                    std::uint64_t seed = 1234) {
    torch::manual_seed(seed);
    torch::jit::Module m("Tiny");
    auto uniform = [](std::initializer_list<std::int64_t> shape, double fan_in) {
        const double b = 1.0 / std::sqrt(fan_in);  // PyTorch's default init range
        return torch::empty(shape).uniform_(-b, b);
    };
    m.register_parameter("w1", uniform({4, 1, 3, 3}, 9), false);
    m.register_parameter("b1", uniform({4}, 9), false);
    m.register_parameter("w2", uniform({8, 4, 3, 3}, 36), false);
    m.register_parameter("b2", uniform({8}, 36), false);
    m.register_parameter("fc_w", uniform({8, 8}, 8), false);
    m.register_parameter("fc_b", uniform({8}, 8), false);
    m.define(R"jit(
def forward(self, x):
    x = torch.relu(torch.conv2d(x, self.w1, self.b1, [1, 1], [1, 1]))
    x = torch.relu(torch.conv2d(x, self.w2, self.b2, [2, 2], [1, 1]))
    return torch.matmul(x.mean([2, 3]), self.fc_w.t()) + self.fc_b
)jit");
    m.eval();
    std::filesystem::create_directories(dir);
    const auto pt = dir / "tiny_model.pt";
    m.save(pt.string(), {{"model_card.json", kTinyModelCard}});
    std::ofstream(pt.string() + ".json") << kTinyModelCard;
    return pt;
}

}  // namespace earshot::testing
