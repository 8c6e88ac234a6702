#!/usr/bin/env python3
# Usage: /usr/bin/python3 tools/convert_mn04.py ORIGINAL.pt OUT.safetensors [--labels CSV]
#   ORIGINAL.pt  EfficientAT mn04_as state dict (torch.save of model.state_dict()), e.g.
#                ../shared/models/mn04_as/original/mn04_as_mAP_432.pt
#                (upstream: github.com/fschmid56/EfficientAT/releases/download/v0.0.1/mn04_as_mAP_432.pt)
#   --labels CSV class_labels_indices.csv (index,mid,display_name): checked to have one row per
#                classifier output and stored as metadata key "labels" (JSON list of display names).
#                Without it the output is byte-identical to ../shared/models/mn04_as/weights.safetensors.
#
# Output: OUT.safetensors in the layout of ../shared/models/MODELS.md §1.1 / §5.3 (written by
# tools/safetensors_io.py): every floating-point tensor of the state dict under its state-dict name,
# in state-dict order, values unchanged (float32); the 46 int64 `num_batches_tracked` counters dropped;
# then the eval-time front-end buffers of EfficientAT's AugmentMelSTFT (MODELS.md §5.1):
#   frontend.preemphasis [2]       = [-0.97, 1]
#   frontend.window      [800]     = torch.hann_window(800, periodic=False)
#   frontend.mel_basis   [128,513] = torchaudio 0.13.1 compliance.kaldi.get_mel_banks(128, 1024,
#                                    32000, 0, 15000) padded with one zero (Nyquist) column,
#                                    recomputed here with the same float32 torch ops (no torchaudio)
# and the metadata keys of the shipped file (model, description, source, license, sample_rate,
# embedding_dim, embedding, num_classes, scores, frontend.*, bn_eps, layout, format).
# stdout: one line "wrote OUT.safetensors: N tensors, B bytes". Errors go to stderr, exit status 1.
#
# Runs with Debian's /usr/bin/python3 + python3-torch 1.13.1 + python3-numpy. Note: libtorch's
# torch::pickle_load cannot read raw state_dict pickles; Python's torch.load can, hence this tool.
import argparse
import csv
import hashlib
import json
import math
import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from safetensors_io import write_safetensors  # noqa: E402

N_MELS = 128
N_FFT = 1024
SAMPLE_RATE = 32000
F_MIN = 0.0
F_MAX = 15000.0  # eval-time fmax of AugmentMelSTFT (training jitters it)
WIN_LENGTH = 800
NUM_CLASSES = 527

KNOWN_SHA256 = "899a8c6217063f6941793102a2780b3dd788ab11fce468d9cf5f0577c453321c"
KNOWN_SOURCE = (
    "github.com/nikih94/swch-audio-classification@2b362d97544673ef1da403b44ecbe1174d8619ec:"
    "resources/mn04_as_mAP_432.pt (= EfficientAT release v0.0.1 asset, "
    "github.com/fschmid56/EfficientAT), sha256 " + KNOWN_SHA256
)


def kaldi_mel_banks(num_bins, window_length_padded, sample_freq, low_freq, high_freq):
    """torchaudio 0.13.1 compliance/kaldi.py get_mel_banks (vtln_warp_factor = 1), same ops.

    ref: github.com/pytorch/audio/blob/v0.13.1/torchaudio/compliance/kaldi.py#L398-L490"""

    def mel_scale_scalar(freq):
        return 1127.0 * math.log(1.0 + freq / 700.0)

    def mel_scale(freq):
        return 1127.0 * (1.0 + freq / 700.0).log()

    num_fft_bins = window_length_padded / 2
    nyquist = 0.5 * sample_freq
    if high_freq <= 0.0:
        high_freq += nyquist
    assert 0.0 <= low_freq < nyquist and 0.0 < high_freq <= nyquist and low_freq < high_freq
    fft_bin_width = sample_freq / window_length_padded
    mel_low_freq = mel_scale_scalar(low_freq)
    mel_high_freq = mel_scale_scalar(high_freq)
    mel_freq_delta = (mel_high_freq - mel_low_freq) / (num_bins + 1)
    bin_ = torch.arange(num_bins).unsqueeze(1)
    left_mel = mel_low_freq + bin_ * mel_freq_delta
    center_mel = mel_low_freq + (bin_ + 1.0) * mel_freq_delta
    right_mel = mel_low_freq + (bin_ + 2.0) * mel_freq_delta
    mel = mel_scale(fft_bin_width * torch.arange(num_fft_bins)).unsqueeze(0)
    up_slope = (mel - left_mel) / (center_mel - left_mel)
    down_slope = (right_mel - mel) / (right_mel - center_mel)
    return torch.max(torch.zeros(1), torch.min(up_slope, down_slope))


def frontend_tensors():
    """The AugmentMelSTFT eval-mode buffers, float32 (MODELS.md §5.1)."""
    preemphasis = torch.tensor([-0.97, 1.0], dtype=torch.float32)
    window = torch.hann_window(WIN_LENGTH, periodic=False)
    banks = kaldi_mel_banks(N_MELS, N_FFT, SAMPLE_RATE, F_MIN, F_MAX)
    # EfficientAT preprocess.py: torch.nn.functional.pad(mel_basis, (0, 1), value=0)
    mel_basis = torch.nn.functional.pad(banks, (0, 1), mode="constant", value=0)
    return [
        ("frontend.preemphasis", preemphasis.numpy()),
        ("frontend.window", window.numpy()),
        ("frontend.mel_basis", mel_basis.numpy()),
    ]


def metadata(source):
    return {
        "model": "mn04_as",
        "description": "EfficientAT MobileNetV3 width 0.4 (mn04_as, AudioSet mAP .432), 527 AudioSet classes",
        "source": source,
        "license": "MIT (EfficientAT (c) 2022 Florian Schmid; hosting repo (c) 2025 Niki Hrovatin)",
        "sample_rate": str(SAMPLE_RATE),
        "embedding_dim": "384",
        "embedding": "global average over (freq,time) of features.16 output (after Hardswish), one per input clip",
        "num_classes": str(NUM_CLASSES),
        "scores": "sigmoid(classifier.5(hardswish(classifier.2(embedding))))",
        "frontend.preemphasis": "y[n] = x[n+1] - 0.97*x[n], n=0..N-2 (output is 1 sample shorter; tensor frontend.preemphasis = [-0.97, 1])",
        "frontend.window": "symmetric Hann, 800 samples (tensor frontend.window), centred in the 1024 FFT frame (112 zeros each side)",
        "frontend.win_length": "800",
        "frontend.hop_length": "320",
        "frontend.n_fft": "1024",
        "frontend.center": "true, reflect padding of 512 samples on both sides of the pre-emphasised signal",
        "frontend.spectrum": "power re^2+im^2, 513 bins",
        "frontend.mel_scale": "kaldi/htk (1127*ln(1+f/700)), torchaudio.compliance.kaldi.get_mel_banks",
        "frontend.n_mels": "128",
        "frontend.f_min": "0",
        "frontend.f_max": "15000",
        "frontend.mel_norm": "none (triangles peak at 1); Nyquist bin column is zero",
        "frontend.mel_matrix": "tensor frontend.mel_basis [128,513]; mel = basis @ power[513,T]",
        "frontend.log": "ln(mel + 1e-5), then (x + 4.5) / 5",
        "frontend.patching": "none: the whole clip is one input [1,1,128,T]; T = 1 + (N-1)//320",
        "bn_eps": "0.001 (BatchNorm2d, not folded; running_mean/running_var stored)",
        "layout": "PyTorch state-dict names and layouts (OIHW conv, [out,in] linear); num_batches_tracked dropped",
        "format": "safetensors, all tensors F32 little-endian",
    }


def read_labels(path):
    with open(path, newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    if not rows or "display_name" not in rows[0]:
        raise ValueError(f"{path}: expected a CSV with columns index,mid,display_name")
    return [r["display_name"] for r in rows]


def convert(original, out, labels_csv=None):
    with open(original, "rb") as f:
        sha = hashlib.sha256(f.read()).hexdigest()
    state = torch.load(original, map_location="cpu")
    if isinstance(state, dict) and "state_dict" in state and "features.0.0.weight" not in state:
        state = state["state_dict"]  # a training checkpoint wrapping the state dict
    if "features.0.0.weight" not in state or "classifier.5.weight" not in state:
        raise ValueError(f"{original}: not an EfficientAT mn state dict (no features.0.0.weight)")
    tensors = []
    for name, value in state.items():
        if name.endswith("num_batches_tracked"):
            continue
        if not torch.is_floating_point(value):
            raise ValueError(f"{original}: {name}: unexpected dtype {value.dtype}")
        tensors.append((name, value.detach().to(torch.float32).contiguous().numpy()))
    num_classes = state["classifier.5.weight"].shape[0]
    if num_classes != NUM_CLASSES:
        raise ValueError(f"{original}: {num_classes} classes, mn04_as has {NUM_CLASSES}")
    tensors += frontend_tensors()
    source = KNOWN_SOURCE if sha == KNOWN_SHA256 else f"{os.path.basename(original)}, sha256 {sha}"
    meta = metadata(source)
    if labels_csv:
        labels = read_labels(labels_csv)
        if len(labels) != num_classes:
            raise ValueError(f"{labels_csv}: {len(labels)} labels, the classifier has {num_classes}")
        meta["labels"] = json.dumps(labels, ensure_ascii=False)
    write_safetensors(out, tensors, meta)
    return len(tensors)


def main():
    p = argparse.ArgumentParser(description="EfficientAT mn04_as state dict -> weights.safetensors")
    p.add_argument("original", help="mn04_as_mAP_432.pt (PyTorch state dict)")
    p.add_argument("out", help="output .safetensors")
    p.add_argument("--labels", help="class_labels_indices.csv to check and store as metadata")
    args = p.parse_args()
    try:
        n = convert(args.original, args.out, args.labels)
    except (OSError, ValueError, RuntimeError) as e:
        print(f"convert_mn04: {e}", file=sys.stderr)
        return 1
    print(f"wrote {args.out}: {n} tensors, {os.path.getsize(args.out)} bytes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
