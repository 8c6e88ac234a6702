#!/usr/bin/env python3
# Usage: /usr/bin/python3 tools/check_converters.py [--shared DIR] [--only shipped|vggish]
#   --shared DIR  the shared folder holding models/ (default: $EARSHOT_SHARED_DIR, else
#                 <repo>/../shared)
#   --only        run one group: "shipped" (convert_mn04.py / convert_musicnn.py on the upstream
#                 originals in DIR/models/*/original, compared with the shipped weights.safetensors)
#                 or "vggish" (convert_vggish.py on a synthetic torchvggish-layout state dict made
#                 here with torch.manual_seed(1234)); default both
#
# Runs each converter through its command line into a temporary folder and checks the result.
# Output: one line per check, "PASS <name>: <detail>" or "FAIL <name>: <detail>", then a last line
# "N passed, M failed". Exit status 0 if M == 0, else 1. Run by CTest (tests/tools, label golden).
# Tolerances: tensors copied from the originals must be bit-identical; front-end tensors computed by
# the converters (window, mel matrices) within 1e-7 absolute.
import argparse
import os
import subprocess
import sys
import tempfile

import numpy as np
import torch

TOOLS = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, TOOLS)
from safetensors_io import read_safetensors  # noqa: E402

COMPUTED_ATOL = 1e-7

results = []


def check(name, ok, detail):
    results.append(ok)
    print(f"{'PASS' if ok else 'FAIL'} {name}: {detail}", flush=True)
    return ok


def run_tool(script, args):
    p = subprocess.run([sys.executable, os.path.join(TOOLS, script)] + args, capture_output=True, text=True)
    return p.returncode, p.stdout.strip(), p.stderr.strip()


def compare_files(name, produced, shipped, computed):
    """Tensor-by-tensor comparison; `computed` = names the converter computes itself."""
    try:
        _, meta_a, a = read_safetensors(produced)
        _, meta_b, b = read_safetensors(shipped)
    except (OSError, ValueError) as e:
        return check(name, False, f"cannot read: {e}")
    check(f"{name} names+order", list(a) == list(b), f"{len(a)} tensors produced, {len(b)} shipped")
    worst_copied, worst_computed, bad = 0.0, 0.0, []
    for k, ref in b.items():
        if k not in a or a[k].shape != ref.shape:
            bad.append(f"{k}: shape {None if k not in a else list(a[k].shape)} vs {list(ref.shape)}")
            continue
        d = float(np.max(np.abs(a[k].astype(np.float64) - ref))) if ref.size else 0.0
        if k in computed:
            worst_computed = max(worst_computed, d)
            if d > COMPUTED_ATOL:
                bad.append(f"{k}: max|d| {d:.3g} > {COMPUTED_ATOL}")
        else:
            worst_copied = max(worst_copied, d)
            if not np.array_equal(a[k].view(np.uint32), ref.view(np.uint32)):
                bad.append(f"{k}: not bit-identical (max|d| {d:.3g})")
    check(f"{name} tensors", not bad,
          f"copied max|d| {worst_copied:.3g} (bit-exact required), computed max|d| {worst_computed:.3g} "
          f"(<= {COMPUTED_ATOL})" + (f"; {len(bad)} bad: {'; '.join(bad[:5])}" if bad else ""))
    diff_keys = sorted(k for k in set(meta_a) | set(meta_b) if meta_a.get(k) != meta_b.get(k))
    check(f"{name} metadata", not diff_keys, f"{len(meta_b)} keys" + (f", differing: {diff_keys}" if diff_keys else ""))
    with open(produced, "rb") as f1, open(shipped, "rb") as f2:
        same = f1.read() == f2.read()
    check(f"{name} bytes", same, "byte-identical to the shipped file" if same else "files differ in bytes")


def check_shipped(shared, tmp):
    models = os.path.join(shared, "models")
    # mn04
    orig = os.path.join(models, "mn04_as", "original", "mn04_as_mAP_432.pt")
    out = os.path.join(tmp, "mn04_as.safetensors")
    rc, so, se = run_tool("convert_mn04.py", [orig, out])
    if check("convert_mn04 runs", rc == 0, so or se):
        compare_files("mn04_as", out, os.path.join(models, "mn04_as", "weights.safetensors"),
                      {"frontend.preemphasis", "frontend.window", "frontend.mel_basis"})
    out_l = os.path.join(tmp, "mn04_as_labels.safetensors")
    csv_path = os.path.join(models, "mn04_as", "original", "class_labels_indices.csv")
    rc, so, se = run_tool("convert_mn04.py", [orig, out_l, "--labels", csv_path])
    if check("convert_mn04 --labels runs", rc == 0, so or se):
        import json

        _, meta, t = read_safetensors(out_l)
        labels = json.loads(meta.get("labels", "[]"))
        check("mn04_as --labels metadata", len(labels) == 527 and labels[0] == "Speech",
              f"{len(labels)} labels, first {labels[:1]}")
    # musicnn
    for variant in ("msd", "mtt"):
        folder = os.path.join(models, f"{variant}_musicnn")
        orig = os.path.join(folder, "original", f"{variant.upper()}_musicnn.h5")
        out = os.path.join(tmp, f"{variant}_musicnn.safetensors")
        rc, so, se = run_tool("convert_musicnn.py", [orig, out])
        if check(f"convert_musicnn {variant} runs", rc == 0, so or se):
            compare_files(f"{variant}_musicnn", out, os.path.join(folder, "weights.safetensors"),
                          {"frontend.mel_fb", "frontend.window"})


def torchvggish_layout_state_dict():
    """A module with torchvggish's VGG parameter layout (vggish.py make_layers + embeddings)."""
    torch.manual_seed(1234)
    layers, cin = [], 1
    for v in [64, "M", 128, "M", 256, 256, "M", 512, 512, "M"]:
        if v == "M":
            layers.append(torch.nn.MaxPool2d(2, 2))
        else:
            layers += [torch.nn.Conv2d(cin, v, 3, padding=1), torch.nn.ReLU(True)]
            cin = v
    model = torch.nn.Module()
    model.features = torch.nn.Sequential(*layers)
    model.embeddings = torch.nn.Sequential(
        torch.nn.Linear(512 * 4 * 6, 4096), torch.nn.ReLU(True), torch.nn.Linear(4096, 4096),
        torch.nn.ReLU(True), torch.nn.Linear(4096, 128), torch.nn.ReLU(True))
    return model.state_dict()


def check_vggish(tmp):
    sd = torchvggish_layout_state_dict()
    rng = np.random.default_rng(1234)
    # vggish_pca_params-970ea276.pth holds numpy arrays: pca_eigen_vectors [128,128], pca_means [128]
    pca = {"pca_eigen_vectors": rng.standard_normal((128, 128)), "pca_means": rng.standard_normal(128)}
    sd_path, pca_path = os.path.join(tmp, "vggish_sd.pth"), os.path.join(tmp, "vggish_pca.pth")
    torch.save(sd, sd_path)
    torch.save(pca, pca_path)
    out = os.path.join(tmp, "vggish.safetensors")
    rc, so, se = run_tool("convert_vggish.py", [sd_path, out, "--pca", pca_path])
    if not check("convert_vggish runs", rc == 0, so or se):
        return
    _, meta, t = read_safetensors(out)
    expected = [
        ("features.0.weight", [64, 1, 3, 3]), ("features.0.bias", [64]),
        ("features.3.weight", [128, 64, 3, 3]), ("features.3.bias", [128]),
        ("features.6.weight", [256, 128, 3, 3]), ("features.6.bias", [256]),
        ("features.8.weight", [256, 256, 3, 3]), ("features.8.bias", [256]),
        ("features.11.weight", [512, 256, 3, 3]), ("features.11.bias", [512]),
        ("features.13.weight", [512, 512, 3, 3]), ("features.13.bias", [512]),
        ("embeddings.0.weight", [4096, 12288]), ("embeddings.0.bias", [4096]),
        ("embeddings.2.weight", [4096, 4096]), ("embeddings.2.bias", [4096]),
        ("embeddings.4.weight", [128, 4096]), ("embeddings.4.bias", [128]),
        ("pproc._pca_matrix", [128, 128]), ("pproc._pca_means", [128, 1]),
        ("frontend.window", [400]), ("frontend.mel", [257, 64]),
    ]
    got = [(k, list(v.shape)) for k, v in t.items()]
    check("vggish names+shapes", got == expected,
          f"{len(got)} tensors" + ("" if got == expected else f"; got {got}"))
    same = all(np.array_equal(t[k], sd[k].numpy()) for k in sd if k in t)
    check("vggish network values", same and all(k in t for k in sd), f"{len(sd)} state-dict tensors copied unchanged")
    pm = np.array_equal(t["pproc._pca_matrix"], pca["pca_eigen_vectors"].astype(np.float32))
    pv = np.array_equal(t["pproc._pca_means"][:, 0], pca["pca_means"].astype(np.float32))
    check("vggish PCA values", pm and pv, "pca_eigen_vectors -> pproc._pca_matrix, pca_means [128] -> [128,1]")
    w = t["frontend.window"]
    check("vggish window", abs(float(w[200]) - 1.0) < 1e-7 and w[0] == 0.0 and abs(float(w[100]) - 0.5) < 1e-7,
          "periodic Hann 400: w[0] = 0, w[100] = 0.5, w[200] = 1")
    mel = t["frontend.mel"]
    check("vggish mel", float(mel[0].max()) == 0.0 and abs(float(mel.max()) - 1.0) < 0.05 and (mel.sum(0) > 0).all(),
          f"DC row 0, peak {float(mel.max()):.4f}, every band non-empty")
    check("vggish metadata", meta.get("model") == "vggish" and meta.get("sample_rate") == "16000",
          f"model={meta.get('model')} sample_rate={meta.get('sample_rate')}")
    # PCA inside the state dict (a saved full VGGish module with pproc.* parameters)
    full = dict(sd)
    full["pproc.pca_matrix"] = torch.from_numpy(pca["pca_eigen_vectors"].astype(np.float32))
    full["pproc.pca_means"] = torch.from_numpy(pca["pca_means"].astype(np.float32).reshape(-1, 1))
    full_path = os.path.join(tmp, "vggish_full.pth")
    torch.save(full, full_path)
    out2 = os.path.join(tmp, "vggish_full.safetensors")
    rc, so, se = run_tool("convert_vggish.py", [full_path, out2])
    ok = rc == 0
    if ok:
        _, _, t2 = read_safetensors(out2)
        ok = all(np.array_equal(t[k], t2[k]) for k in t)
    check("vggish PCA from pproc.* keys", ok, so or se)
    # errors: no PCA at all, and a wrong shape
    rc, so, se = run_tool("convert_vggish.py", [sd_path, os.path.join(tmp, "x.safetensors")])
    check("vggish without PCA fails", rc == 1 and "--pca" in se, se)
    bad = dict(sd)
    bad["embeddings.0.weight"] = torch.zeros(4096, 512 * 6 * 4 + 1)
    bad_path = os.path.join(tmp, "vggish_bad.pth")
    torch.save(bad, bad_path)
    rc, so, se = run_tool("convert_vggish.py", [bad_path, os.path.join(tmp, "y.safetensors"), "--pca", pca_path])
    check("vggish wrong shape fails", rc == 1 and "embeddings.0.weight" in se, se)


def main():
    p = argparse.ArgumentParser(description="check tools/convert_*.py")
    default_shared = os.environ.get("EARSHOT_SHARED_DIR") or os.path.join(TOOLS, "..", "..", "shared")
    p.add_argument("--shared", default=default_shared)
    p.add_argument("--only", choices=["shipped", "vggish"])
    args = p.parse_args()
    with tempfile.TemporaryDirectory(prefix="earshot_convert_") as tmp:
        if args.only in (None, "shipped"):
            if check("shared models present", os.path.isdir(os.path.join(args.shared, "models")),
                     os.path.join(args.shared, "models")):
                check_shipped(args.shared, tmp)
        if args.only in (None, "vggish"):
            check_vggish(tmp)
    passed = sum(results)
    failed = len(results) - passed
    print(f"{passed} passed, {failed} failed")
    return 0 if failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
