#!/usr/bin/env python3
# Usage: python3 tools/make_tiny_torchscript.py [OUT_DIR]   (default: tests/data)
#
# Writes a tiny random-weight TorchScript embedding model for tests (Debian python3-torch 1.13.1,
# the same version as libtorch-dev, so the archive loads without version skew):
#   OUT_DIR/tiny_model.pt       TorchScript archive, model card embedded as the extra file
#                               "model_card.json" (read by src/models/torchscript_model.cpp)
#   OUT_DIR/tiny_model.pt.json  the same card as a sidecar file, for humans and for loaders
#                               that get an archive without the extra file
# The module maps log-mel patches [P,1,48 frames,32 mels] (input_layout "NCHW_time_mel") to
# [P,8] embeddings: conv 3x3 (1->4) + ReLU, conv 3x3 stride 2 (4->8) + ReLU, mean over (time, mel),
# Linear 8->8. Weights come from torch.manual_seed(1234), so the output is reproducible.
# Card fields (sync with src/models/torchscript_model.cpp): name, dim, sample_rate_hz, frontend
# (FrontendConfig fields, enum values as lowercase strings), patch_frames, patch_hop_frames,
# input_layout, description, license.
import json
import os
import sys

import torch

CARD = {
    "name": "tiny-random-1",
    "description": "tiny random-weight test model (tools/make_tiny_torchscript.py)",
    "license": "MIT",
    "dim": 8,
    "sample_rate_hz": 16000,
    "frontend": {
        "sample_rate_hz": 16000,
        "preemphasis": 0.0,
        "stft": {
            "n_fft": 512,
            "window_length": 400,
            "hop_length": 160,
            "window": "hann_periodic",
            "placement": "start",
            "framing": "none",
            "spectrum": "magnitude",
        },
        "mel": {
            "n_mels": 32,
            "fmin_hz": 125.0,
            "fmax_hz": 7500.0,
            "scale": "htk",
            "triangles": "mel",
            "norm": "none",
        },
        "round_mel_to_f16": False,
        "log": {"kind": "ln", "mul": 1.0, "add": 0.001, "shift": 0.0, "divisor": 1.0},
    },
    "patch_frames": 48,
    "patch_hop_frames": 24,
    "input_layout": "NCHW_time_mel",
}


class Tiny(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = torch.nn.Conv2d(1, 4, 3, padding=1)
        self.conv2 = torch.nn.Conv2d(4, 8, 3, stride=2, padding=1)
        self.fc = torch.nn.Linear(8, 8)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = torch.relu(self.conv1(x))
        x = torch.relu(self.conv2(x))
        return self.fc(x.mean(dim=(2, 3)))


def main():
    out_dir = sys.argv[1] if len(sys.argv) > 1 else "tests/data"
    os.makedirs(out_dir, exist_ok=True)
    torch.manual_seed(1234)
    model = torch.jit.script(Tiny().eval())
    card = json.dumps(CARD, indent=2, sort_keys=True) + "\n"
    pt = os.path.join(out_dir, "tiny_model.pt")
    torch.jit.save(model, pt, _extra_files={"model_card.json": card})
    with open(pt + ".json", "w") as f:
        f.write(card)
    print(f"{pt}: {os.path.getsize(pt)} bytes")


if __name__ == "__main__":
    main()
