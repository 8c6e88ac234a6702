#!/usr/bin/env python3
# Usage: /usr/bin/python3 tools/convert_vggish.py STATE_DICT.pth OUT.safetensors [--pca PCA.pth]
#   STATE_DICT.pth  torchvggish VGG state dict, e.g. vggish-10086976.pth from
#                   github.com/harritaylor/torchvggish/releases/download/v0.1/vggish-10086976.pth
#                   (keys features.{0,3,6,8,11,13}.{weight,bias}, embeddings.{0,2,4}.{weight,bias};
#                   a full VGGish state dict that also holds pproc.* PCA tensors works too)
#   --pca PCA.pth   the PCA parameters, e.g. vggish_pca_params-970ea276.pth from
#                   github.com/harritaylor/torchvggish/releases/download/v0.1/vggish_pca_params-970ea276.pth
#                   (dict with pca_eigen_vectors [128,128] and pca_means [128], numpy or torch);
#                   required unless STATE_DICT.pth already holds pproc.{_pca_matrix|pca_matrix|
#                   pca_eigen_vectors} and pproc.{_pca_means|pca_means}
#
# Output: OUT.safetensors (layout of ../shared/models/MODELS.md §1.1, written by
# tools/safetensors_io.py) for src/models/vggish_model.cpp, tensors in this order:
#   features.{0,3,6,8,11,13}.weight  OIHW conv 3x3: [64,1,3,3] [128,64,3,3] [256,128,3,3]
#                                     [256,256,3,3] [512,256,3,3] [512,512,3,3]; .bias [out]
#   embeddings.{0,2,4}.weight        [4096,12288] [4096,4096] [128,4096] ([out,in]); .bias [out]
#   pproc._pca_matrix [128,128]      PCA eigenvectors (rows = output dims)
#   pproc._pca_means  [128,1]        PCA means (column vector)
#   frontend.window   [400]          periodic Hann, 0.5 - 0.5 cos(2 pi n / 400)
#   frontend.mel      [257,64]       VGGish mel_features.spectrogram_to_mel_matrix(64, 257, 16000,
#                                    125, 7500): HTK mel-domain triangles, DC row zero (float64 -> f32)
# Values are copied unchanged (cast to float32; torchvggish itself loads the PCA as float32).
# Metadata: model, description, source (file names + sha256), license, sample_rate,
# embedding_dim, embedding, postprocess, frontend.*, layout, format.
# stdout: one line "wrote OUT.safetensors: N tensors, B bytes"; a warning on stderr if a file
# name carries a torch.hub hash prefix (name-<hex>.pth) that its sha256 does not start with.
# Errors go to stderr, exit status 1.
#
# Parity of vggish_model.cpp with the official model is NOT verified in this project (the
# weights are not in ../shared); tools/check_converters.py only checks names, shapes and values
# of this conversion on a synthetic state dict.
import argparse
import hashlib
import os
import re
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from safetensors_io import write_safetensors  # noqa: E402

# torchvggish make_layers(): [64, M, 128, M, 256, 256, M, 512, 512, M] -> Sequential indices of
# the convs (ReLU and MaxPool in between have no parameters). Sync with src/models/vggish_model.cpp
# (kConvSpecs, kLinearSpecs, pproc._pca_matrix / pproc._pca_means).
# ref: github.com/harritaylor/torchvggish/blob/1bedc9d7d9f46339bf90ba2f6f6e7638f6feba2e/torchvggish/vggish.py
CONVS = [(0, 1, 64), (3, 64, 128), (6, 128, 256), (8, 256, 256), (11, 256, 512), (13, 512, 512)]
LINEARS = [(0, 512 * 4 * 6, 4096), (2, 4096, 4096), (4, 4096, 128)]
EMBEDDING_SIZE = 128
PCA_MATRIX_KEYS = ["pproc._pca_matrix", "pproc.pca_matrix", "pproc.pca_eigen_vectors", "pca_eigen_vectors"]
PCA_MEANS_KEYS = ["pproc._pca_means", "pproc.pca_means", "pca_means"]


def expected_shapes():
    """[(name, shape)] of the network tensors, in output order."""
    out = []
    for idx, cin, cout in CONVS:
        out += [(f"features.{idx}.weight", (cout, cin, 3, 3)), (f"features.{idx}.bias", (cout,))]
    for idx, fin, fout in LINEARS:
        out += [(f"embeddings.{idx}.weight", (fout, fin)), (f"embeddings.{idx}.bias", (fout,))]
    return out


def hertz_to_mel(f):
    return 1127.0 * np.log(1.0 + f / 700.0)


def vggish_mel_matrix(num_mel_bins=64, num_spectrogram_bins=257, sample_rate=16000, lower=125.0, upper=7500.0):
    """tensorflow/models research/audioset/vggish/mel_features.py spectrogram_to_mel_matrix."""
    nyquist = sample_rate / 2.0
    bins_mel = hertz_to_mel(np.linspace(0.0, nyquist, num_spectrogram_bins))
    edges = np.linspace(hertz_to_mel(lower), hertz_to_mel(upper), num_mel_bins + 2)
    m = np.empty((num_spectrogram_bins, num_mel_bins))
    for i in range(num_mel_bins):
        lo, center, hi = edges[i : i + 3]
        m[:, i] = np.maximum(0.0, np.minimum((bins_mel - lo) / (center - lo), (hi - bins_mel) / (hi - center)))
    m[0, :] = 0.0
    return m.astype(np.float32)


def periodic_hann(n):
    return (0.5 - 0.5 * np.cos(2 * np.pi / n * np.arange(n))).astype(np.float32)


def as_array(value):
    if isinstance(value, torch.Tensor):
        return value.detach().cpu().to(torch.float32).numpy()
    return np.asarray(value, dtype=np.float32)


def sha256_of(path):
    with open(path, "rb") as f:
        digest = hashlib.sha256(f.read()).hexdigest()
    m = re.search(r"-([0-9a-f]{6,64})\.pth?$", os.path.basename(path))
    if m and not digest.startswith(m.group(1)):
        print(f"convert_vggish: warning: {path}: sha256 {digest} does not start with the hash "
              f"prefix {m.group(1)} in its name (damaged download?)", file=sys.stderr)
    return digest


def load_dict(path):
    d = torch.load(path, map_location="cpu")
    if isinstance(d, torch.nn.Module):
        d = d.state_dict()
    if not isinstance(d, dict):
        raise ValueError(f"{path}: expected a dict (state dict), got {type(d).__name__}")
    return d


def pick(d, keys):
    for k in keys:
        if k in d:
            return d[k]
    return None


def convert(state_path, out, pca_path=None):
    state = load_dict(state_path)
    sources = [f"{os.path.basename(state_path)} sha256 {sha256_of(state_path)}"]
    tensors = []
    for name, shape in expected_shapes():
        if name not in state:
            raise ValueError(f"{state_path}: missing {name} (not a torchvggish VGG state dict?)")
        a = as_array(state[name])
        if tuple(a.shape) != shape:
            raise ValueError(f"{state_path}: {name} has shape {list(a.shape)}, expected {list(shape)}")
        tensors.append((name, a))
    pca = state
    if pca_path:
        pca = load_dict(pca_path)
        sources.append(f"{os.path.basename(pca_path)} sha256 {sha256_of(pca_path)}")
    matrix, means = pick(pca, PCA_MATRIX_KEYS), pick(pca, PCA_MEANS_KEYS)
    if matrix is None or means is None:
        where = pca_path or state_path
        raise ValueError(f"{where}: no PCA parameters (keys {PCA_MATRIX_KEYS[-1]}, {PCA_MEANS_KEYS[-1]}); "
                         "pass --pca vggish_pca_params-970ea276.pth")
    matrix = as_array(matrix)
    means = as_array(means).reshape(-1, 1)  # torchvggish: params[PCA_MEANS_NAME].reshape(-1, 1)
    if matrix.shape != (EMBEDDING_SIZE, EMBEDDING_SIZE) or means.shape != (EMBEDDING_SIZE, 1):
        raise ValueError(f"PCA shapes {list(matrix.shape)} / {list(means.shape)}, expected [128,128] / [128,1]")
    tensors += [("pproc._pca_matrix", matrix), ("pproc._pca_means", means)]
    tensors += [("frontend.window", periodic_hann(400)), ("frontend.mel", vggish_mel_matrix())]
    meta = {
        "model": "vggish",
        "description": "Google VGGish (VGG-like CNN trained on YouTube-100M), 128-d per 0.96 s, PyTorch port torchvggish",
        "source": "; ".join(sources),
        "license": "Apache-2.0 (Google VGGish weights, tensorflow/models research/audioset/vggish; PyTorch port github.com/harritaylor/torchvggish)",
        "sample_rate": "16000",
        "embedding_dim": str(EMBEDDING_SIZE),
        "embedding": "embeddings.4 output after ReLU (torchvggish), then PCA: (x - pca_means^T) @ pca_matrix^T",
        "postprocess": "optional AudioSet quantisation: clip to [-2, 2], round((x + 2) * 255 / 4)",
        "frontend.window": "periodic Hann, 400 samples (tensor frontend.window) at the start of a 512 FFT frame",
        "frontend.hop_length": "160",
        "frontend.n_fft": "512",
        "frontend.center": "false (frames start at sample 0)",
        "frontend.spectrum": "magnitude |rfft|",
        "frontend.mel_scale": "htk (1127*ln(1+f/700)), mel-domain triangles, DC weight 0",
        "frontend.n_mels": "64",
        "frontend.f_min": "125",
        "frontend.f_max": "7500",
        "frontend.mel_matrix": "tensor frontend.mel [257,64]; logmel = ln(mag[T,257] @ mel + 0.01)",
        "frontend.log": "natural log, offset 0.01",
        "frontend.patch_frames": "96",
        "frontend.patch_hop_frames": "96 (no overlap)",
        "layout": "torchvggish state-dict names and layouts (OIHW conv, [out,in] linear); flatten NHWC before embeddings.0",
        "format": "safetensors, all tensors F32 little-endian",
    }
    write_safetensors(out, tensors, meta)
    return len(tensors)


def main():
    p = argparse.ArgumentParser(description="torchvggish state dict (+ PCA params) -> weights.safetensors")
    p.add_argument("state_dict", help="vggish-10086976.pth")
    p.add_argument("out", help="output .safetensors")
    p.add_argument("--pca", help="vggish_pca_params-970ea276.pth")
    args = p.parse_args()
    try:
        n = convert(args.state_dict, args.out, args.pca)
    except (OSError, ValueError, RuntimeError) as e:
        print(f"convert_vggish: {e}", file=sys.stderr)
        return 1
    print(f"wrote {args.out}: {n} tensors, {os.path.getsize(args.out)} bytes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
