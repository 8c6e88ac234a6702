#!/usr/bin/env python3
# Usage (library, imported by tools/convert_*.py and tools/check_converters.py):
#   from safetensors_io import write_safetensors, read_safetensors
#   write_safetensors(path, [(name, float32 numpy array), ...], {"key": "value", ...})
#   header, metadata, tensors = read_safetensors(path)   # tensors: {name: float32 ndarray}
# Usage (command line): python3 tools/safetensors_io.py FILE.safetensors
#   prints one line per tensor, "name<TAB>F32<TAB>[d0, d1, ...]", then one "# key = value" line
#   per metadata entry.
#
# Our own minimal reader/writer of the safetensors container as written in
# ../shared/models/MODELS.md §1.1 (no `safetensors` package on Debian bookworm):
#   bytes 0-7: N, u64 little-endian; bytes 8..8+N: UTF-8 JSON, padded with spaces so that 8+N is a
#   multiple of 8; JSON = {"__metadata__": {str: str}, name: {"dtype": "F32", "shape": [...],
#   "data_offsets": [begin, end]}, ...} in the order given (metadata first, compact separators);
#   then the tensors, little-endian float32, C order, back to back without gaps.
# This is byte-for-byte the layout of the shipped weights.safetensors files (tools/check_converters.py
# checks it). Only F32 is supported, like src/core/safetensors.h.
import json
import struct
import sys

import numpy as np


def write_safetensors(path, tensors, metadata=None):
    """Writes [(name, array)] in that order; arrays are converted to little-endian float32."""
    header = {}
    if metadata:
        for k, v in metadata.items():
            if not isinstance(k, str) or not isinstance(v, str):
                raise TypeError(f"metadata must map str to str, got {k!r}: {v!r}")
        header["__metadata__"] = dict(metadata)
    blobs = []
    offset = 0
    for name, array in tensors:
        if name in header:
            raise ValueError(f"duplicate tensor name {name!r}")
        a = np.ascontiguousarray(np.asarray(array), dtype="<f4")
        header[name] = {
            "dtype": "F32",
            "shape": [int(d) for d in a.shape],
            "data_offsets": [offset, offset + a.nbytes],
        }
        blobs.append(a.tobytes(order="C"))
        offset += a.nbytes
    text = json.dumps(header, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    text += b" " * ((8 - (8 + len(text)) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for b in blobs:
            f.write(b)


def read_safetensors(path):
    """Returns (header dict without metadata, metadata dict, {name: float32 ndarray}).

    Checks the layout rules of MODELS.md §1.1 and raises ValueError when one is broken."""
    with open(path, "rb") as f:
        data = f.read()
    if len(data) < 8:
        raise ValueError(f"{path}: shorter than 8 bytes")
    (n,) = struct.unpack("<Q", data[:8])
    if 8 + n > len(data):
        raise ValueError(f"{path}: header size {n} past the end of the file")
    header = json.loads(data[8 : 8 + n].decode("utf-8"))
    metadata = header.pop("__metadata__", {})
    base = 8 + n
    tensors = {}
    expected_begin = 0
    for name, info in header.items():
        if info["dtype"] != "F32":
            raise ValueError(f"{path}: {name}: dtype {info['dtype']}, only F32 is supported")
        begin, end = info["data_offsets"]
        count = int(np.prod(info["shape"], dtype=np.int64))
        if begin != expected_begin or end - begin != 4 * count or base + end > len(data):
            raise ValueError(f"{path}: {name}: bad data_offsets {info['data_offsets']}")
        expected_begin = end
        tensors[name] = np.frombuffer(data, dtype="<f4", count=count, offset=base + begin).reshape(
            info["shape"]
        )
    if base + expected_begin != len(data):
        raise ValueError(f"{path}: {len(data) - base - expected_begin} trailing bytes")
    return header, metadata, tensors


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: python3 tools/safetensors_io.py FILE.safetensors")
    hdr, meta, _ = read_safetensors(sys.argv[1])
    for tensor_name, tensor_info in hdr.items():
        print(f"{tensor_name}\t{tensor_info['dtype']}\t{tensor_info['shape']}")
    for key, value in meta.items():
        print(f"# {key} = {value}")
