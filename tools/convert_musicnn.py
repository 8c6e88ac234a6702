#!/usr/bin/env python3
# Usage: /usr/bin/python3 tools/convert_musicnn.py ORIGINAL.h5 OUT.safetensors [--labels CSV]
#                                                  [--variant msd|mtt]
#   ORIGINAL.h5  musicnn Keras checkpoint, e.g. ../shared/models/msd_musicnn/original/MSD_musicnn.h5
#                (upstream: github.com/Quint-e/musicnn_keras musicnn_keras/keras_checkpoints/
#                {MSD,MTT}_musicnn.h5, a Keras port of github.com/jordipons/musicnn)
#   --labels CSV the 50 tag names (index,name); default: labels_MSD.csv / labels_MTT.csv next to
#                ORIGINAL.h5
#   --variant    msd or mtt; default: from the file name (MSD_musicnn.h5 -> msd)
#
# Output: OUT.safetensors in the layout of ../shared/models/MODELS.md §1.1 / §6.3 (written by
# tools/safetensors_io.py): every weight of the h5's model_weights group, in the model's layer
# order (attribute layer_names, then each layer's weight_names), named "<keras layer>.<param>"
# ("conv2d/kernel_1:0" -> "conv2d.kernel"), values and Keras layouts unchanged (Conv2D kernel HWIO,
# Dense kernel [in,out]); then
#   frontend.mel_fb [96,257] librosa-0.7-style Slaney mel filterbank (htk=False, norm=1, 0-8000 Hz,
#                            n_fft 512, 16 kHz), computed in float64, stored float32
#   frontend.window [512]    torch.hann_window(512, periodic=True)
# and the metadata of the shipped files (model, description, source, license, sample_rate,
# embedding_dim, embedding, num_classes, labels (JSON list), scores, frontend.*, bn_eps (checked
# against every BatchNormalization epsilon in the h5's model_config), layout, format).
# For the shipped originals the output is byte-identical to ../shared/models/*_musicnn/weights.safetensors
# (tools/check_converters.py).
# stdout: one line "wrote OUT.safetensors: N tensors, B bytes". Errors go to stderr, exit status 1.
#
# Runs with Debian's /usr/bin/python3 + python3-h5py + python3-numpy + python3-torch 1.13.1.
import argparse
import csv
import hashlib
import json
import os
import re
import sys

import h5py
import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from safetensors_io import write_safetensors  # noqa: E402

SAMPLE_RATE = 16000
N_FFT = 512
N_MELS = 96
F_MAX = 8000.0

# sha256 of the upstream h5 -> provenance string (../shared/models/*_musicnn/SOURCES.txt).
KNOWN_SOURCES = {
    "412a832c8527a813e084ba6f2cc7d068ecbbf1b68bda8c1de2e7de0d1f5fe7d1": (
        "github.com/Quint-e/musicnn_keras@ad6cfb80517dadb9ef70ac73a5375074f7c8258f:"
        "musicnn_keras/keras_checkpoints/MSD_musicnn.h5 (blob 3a54bfe0feff17be35a73c81e230309319796b5c, "
        "sha256 412a832c8527a813e084ba6f2cc7d068ecbbf1b68bda8c1de2e7de0d1f5fe7d1); "
        "Keras port of github.com/jordipons/musicnn MSD_musicnn"
    ),
    "1a66a2e58e862e894c088bd7789b05874becf994f275c54d9575dab83fab4ebe": (
        "github.com/Quint-e/musicnn_keras@ad6cfb80517dadb9ef70ac73a5375074f7c8258f:"
        "musicnn_keras/keras_checkpoints/MTT_musicnn.h5 (blob ff364ed78b75e2e275f13f4f91b0b3645903716f, "
        "sha256 1a66a2e58e862e894c088bd7789b05874becf994f275c54d9575dab83fab4ebe); "
        "Keras port of github.com/jordipons/musicnn MTT_musicnn"
    ),
}

DESCRIPTIONS = {
    "msd": "musicnn MSD_musicnn (Pons & Serra 2019), Million Song Dataset top-50 tags",
    "mtt": "musicnn MTT_musicnn (Pons & Serra 2019), MagnaTagATune top-50 tags",
}


# librosa 0.7 filters.mel / core.time_frequency (ISC), re-written in numpy float64.
# ref: github.com/librosa/librosa/blob/0.7.2/librosa/filters.py#L132-L237 (mel) and
#      github.com/librosa/librosa/blob/0.7.2/librosa/core/time_frequency.py (hz_to_mel, mel_to_hz)
def hz_to_mel_slaney(f):
    f = np.asanyarray(f, dtype=np.float64)
    f_sp = 200.0 / 3
    mels = f / f_sp
    min_log_hz = 1000.0
    min_log_mel = min_log_hz / f_sp
    logstep = np.log(6.4) / 27.0
    if f.ndim:
        log_t = f >= min_log_hz
        mels[log_t] = min_log_mel + np.log(f[log_t] / min_log_hz) / logstep
    elif f >= min_log_hz:
        mels = min_log_mel + np.log(f / min_log_hz) / logstep
    return mels


def mel_to_hz_slaney(m):
    m = np.asanyarray(m, dtype=np.float64)
    f_sp = 200.0 / 3
    freqs = f_sp * m
    min_log_hz = 1000.0
    min_log_mel = min_log_hz / f_sp
    logstep = np.log(6.4) / 27.0
    log_t = m >= min_log_mel
    freqs[log_t] = min_log_hz * np.exp(logstep * (m[log_t] - min_log_mel))
    return freqs


def slaney_mel_fb(sr=SAMPLE_RATE, n_fft=N_FFT, n_mels=N_MELS, fmin=0.0, fmax=F_MAX):
    """[n_mels, 1 + n_fft//2] float32; triangles in Hz between Slaney mel points, area-normalised."""
    fftfreqs = np.linspace(0, float(sr) / 2, int(1 + n_fft // 2), endpoint=True)
    mel_f = mel_to_hz_slaney(
        np.linspace(hz_to_mel_slaney(fmin), hz_to_mel_slaney(fmax), n_mels + 2)
    )
    fdiff = np.diff(mel_f)
    ramps = np.subtract.outer(mel_f, fftfreqs)
    weights = np.zeros((n_mels, len(fftfreqs)), dtype=np.float64)
    for i in range(n_mels):
        lower = -ramps[i] / fdiff[i]
        upper = ramps[i + 2] / fdiff[i + 1]
        weights[i] = np.maximum(0, np.minimum(lower, upper))
    enorm = 2.0 / (mel_f[2 : n_mels + 2] - mel_f[:n_mels])
    weights *= enorm[:, np.newaxis]
    return weights.astype(np.float32)


def read_labels(path):
    with open(path, newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    if not rows or "name" not in rows[0]:
        raise ValueError(f"{path}: expected a CSV with columns index,name")
    return [r["name"] for r in rows]


def bn_epsilons(h5):
    config = h5.attrs.get("model_config")
    if config is None:
        return set()
    if isinstance(config, bytes):
        config = config.decode("utf-8")
    layers = json.loads(config)["config"]["layers"]
    return {l["config"]["epsilon"] for l in layers if l["class_name"] == "BatchNormalization"}


def metadata(variant, source, labels, bn_eps):
    return {
        "model": f"{variant}_musicnn",
        "description": DESCRIPTIONS[variant],
        "source": source,
        "license": "ISC (musicnn (c) 2019 Music Technology Group, Universitat Pompeu Fabra; Keras port (c) 2020 Elio Quinton)",
        "sample_rate": str(SAMPLE_RATE),
        "embedding_dim": "200",
        "embedding": "penultimate = bn_dense(relu(dense(...))) [P,200]; alternatives: max_pool / mean_pool [P,753]",
        "num_classes": str(len(labels)),
        "labels": json.dumps(labels),
        "scores": "taggram = sigmoid(dense_1(penultimate)) [P,50]",
        "frontend.window": "periodic Hann, 512 samples (tensor frontend.window)",
        "frontend.n_fft": "512",
        "frontend.hop_length": "256",
        "frontend.center": "true, reflect padding of 256 samples on both sides",
        "frontend.spectrum": "power |stft|^2, 257 bins",
        "frontend.mel_scale": "slaney (librosa default, htk=False)",
        "frontend.n_mels": "96",
        "frontend.f_min": "0",
        "frontend.f_max": "8000",
        "frontend.mel_norm": "slaney area normalisation 2/(f[i+2]-f[i])",
        "frontend.mel_matrix": "tensor frontend.mel_fb [96,257]; mel[T,96] = (mel_fb @ power[257,T]).T",
        "frontend.float16": "mel power is rounded to float16 (round-to-nearest-even) and back to float32 before the log",
        "frontend.log": "log10(10000 * mel + 1)",
        "frontend.patch_frames": "187",
        "frontend.patch_hop_frames": "187 (no overlap); trailing partial patch dropped; clips < 187 frames zero-padded (log domain) to 187",
        "bn_eps": f"{bn_eps} (Keras BatchNormalization; not folded; gamma/beta/moving_mean/moving_variance stored)",
        "layout": "Keras layouts kept as-is: Conv2D kernel HWIO [kh,kw,in,out]; Dense kernel [in,out]; for PyTorch: conv weight = kernel.permute(3,2,0,1), linear weight = kernel.T",
        "format": "safetensors, all tensors F32 little-endian",
    }


def param_name(weight_name):
    # "conv2d/kernel_1:0" -> "kernel"; "bn_dense/moving_mean:0" -> "moving_mean"
    return re.sub(r"_\d+$", "", weight_name.split("/")[-1].split(":")[0])


def convert(original, out, labels_csv=None, variant=None):
    base = os.path.basename(original)
    if variant is None:
        m = re.match(r"(?i)(msd|mtt)_musicnn", base)
        if not m:
            raise ValueError(f"{original}: cannot tell MSD from MTT by the name; pass --variant")
        variant = m.group(1).lower()
    if labels_csv is None:
        labels_csv = os.path.join(os.path.dirname(original), f"labels_{variant.upper()}.csv")
    labels = read_labels(labels_csv)
    with open(original, "rb") as f:
        sha = hashlib.sha256(f.read()).hexdigest()
    source = KNOWN_SOURCES.get(sha, f"{base}, sha256 {sha}")
    tensors = []
    with h5py.File(original, "r") as h5:
        eps = bn_epsilons(h5)
        if len(eps) != 1:
            raise ValueError(f"{original}: expected one BatchNormalization epsilon, got {eps}")
        weights = h5["model_weights"] if "model_weights" in h5 else h5
        for layer in weights.attrs["layer_names"]:
            layer = layer.decode() if isinstance(layer, bytes) else layer
            group = weights[layer]
            for wname in group.attrs.get("weight_names", []):
                wname = wname.decode() if isinstance(wname, bytes) else wname
                array = np.asarray(group[wname])
                if array.dtype != np.float32:
                    raise ValueError(f"{original}: {wname}: dtype {array.dtype}, expected float32")
                tensors.append((f"{layer}.{param_name(wname)}", array))
    n_classes = dict(tensors)["dense_1.kernel"].shape[1]
    if len(labels) != n_classes:
        raise ValueError(f"{labels_csv}: {len(labels)} labels, dense_1 has {n_classes} outputs")
    tensors.append(("frontend.mel_fb", slaney_mel_fb()))
    tensors.append(("frontend.window", torch.hann_window(N_FFT, periodic=True).numpy()))
    write_safetensors(out, tensors, metadata(variant, source, labels, eps.pop()))
    return len(tensors)


def main():
    p = argparse.ArgumentParser(description="musicnn Keras .h5 -> weights.safetensors")
    p.add_argument("original", help="MSD_musicnn.h5 or MTT_musicnn.h5")
    p.add_argument("out", help="output .safetensors")
    p.add_argument("--labels", help="tag names CSV (index,name)")
    p.add_argument("--variant", choices=["msd", "mtt"], help="default: from the file name")
    args = p.parse_args()
    try:
        n = convert(args.original, args.out, args.labels, args.variant)
    except (OSError, ValueError, KeyError) as e:
        print(f"convert_musicnn: {e}", file=sys.stderr)
        return 1
    print(f"wrote {args.out}: {n} tensors, {os.path.getsize(args.out)} bytes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
