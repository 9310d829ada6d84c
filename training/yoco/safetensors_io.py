# A small safetensors reader and writer (numpy + torch only; the `safetensors` package is not used).
# Format: 8-byte little-endian header length N, N bytes of JSON header padded with spaces so that
# N is a multiple of 8, then the tensors' bytes back to back in the header's order (no holes).
# Dtypes: F32, F16, BF16, I8, I32. Not a general implementation: no F64, no lazy mmap.
import json
import struct
from collections import OrderedDict

import numpy as np
import torch

# safetensors name -> (torch dtype, numpy dtype of the raw bytes, bytes per element)
DTYPES = {
    "F32": (torch.float32, np.dtype("<f4"), 4),
    "F16": (torch.float16, np.dtype("<f2"), 2),
    "BF16": (torch.bfloat16, np.dtype("<i2"), 2),  # numpy has no bfloat16: moved as raw int16
    "I8": (torch.int8, np.dtype("i1"), 1),
    "I32": (torch.int32, np.dtype("<i4"), 4),
}
_BY_TORCH = {t: name for name, (t, _, _) in DTYPES.items()}


def dtype_name(dtype):
    """The safetensors spelling of a torch dtype ("F32", "BF16" ...)."""
    if dtype not in _BY_TORCH:
        raise ValueError(f"safetensors: unsupported dtype {dtype}")
    return _BY_TORCH[dtype]


def _tensor_bytes(t):
    """Raw little-endian bytes of a CPU tensor, row-major."""
    t = t.detach().contiguous().cpu()
    if t.dtype == torch.bfloat16:
        t = t.view(torch.int16)  # same width; numpy cannot hold bf16
    return t.numpy().astype(t.numpy().dtype.newbyteorder("<"), copy=False).tobytes()


def encode(tensors, metadata=None):
    """Bytes of a safetensors file holding `tensors` (name -> tensor), in the given order."""
    header = OrderedDict()
    if metadata:
        header["__metadata__"] = {str(k): str(v) for k, v in metadata.items()}
    blobs, offset = [], 0
    for name, t in tensors.items():
        data = _tensor_bytes(t)
        header[name] = {"dtype": dtype_name(t.dtype), "shape": list(t.shape),
                        "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    text = json.dumps(header, separators=(",", ":")).encode("utf-8")
    text += b" " * (-len(text) % 8)  # pad with spaces: header length a multiple of 8
    return struct.pack("<Q", len(text)) + text + b"".join(blobs)


def save(path, tensors, metadata=None):
    with open(path, "wb") as f:
        f.write(encode(tensors, metadata))


def decode(buf, source="<bytes>"):
    """Parses safetensors bytes -> (OrderedDict name -> tensor (a copy), metadata dict).
    Checks what the C++ loader checks: header bounds, JSON object, known dtypes, byte counts,
    offsets in order without overlap and inside the data."""
    if len(buf) < 8:
        raise ValueError(f"{source}: file shorter than 8 bytes")
    (n,) = struct.unpack("<Q", buf[:8])
    if 8 + n > len(buf):
        raise ValueError(f"{source}: header length {n} past the end of the file")
    header = json.loads(buf[8:8 + n].decode("utf-8"))
    if not isinstance(header, dict):
        raise ValueError(f"{source}: header is not a JSON object")
    metadata = header.pop("__metadata__", {}) or {}
    data = memoryview(buf)[8 + n:]
    entries = sorted(header.items(), key=lambda kv: kv[1]["data_offsets"][0])
    out, end_prev = OrderedDict(), 0
    for name, e in entries:
        if e["dtype"] not in DTYPES:
            raise ValueError(f"{source}: tensor {name}: unknown dtype {e['dtype']}")
        tdtype, ndtype, size = DTYPES[e["dtype"]]
        begin, end = e["data_offsets"]
        shape = [int(s) for s in e["shape"]]
        count = int(np.prod(shape)) if shape else 1
        if begin < end_prev or end < begin or end > len(data):
            raise ValueError(f"{source}: tensor {name}: data offsets out of order or past the end")
        if end - begin != count * size:
            raise ValueError(f"{source}: tensor {name}: {end - begin} bytes for shape {shape}")
        arr = np.frombuffer(data[begin:end], dtype=ndtype).astype(ndtype.newbyteorder("="))
        t = torch.from_numpy(arr.copy()).reshape(shape)
        if tdtype == torch.bfloat16:
            t = t.view(torch.bfloat16)
        out[name] = t
        end_prev = end
    return out, metadata


def load(path):
    with open(path, "rb") as f:
        return decode(f.read(), str(path))


def header_of(path):
    """The parsed JSON header (with its key order) of a safetensors file, for checks."""
    with open(path, "rb") as f:
        (n,) = struct.unpack("<Q", f.read(8))
        return json.loads(f.read(n).decode("utf-8"), object_pairs_hook=OrderedDict), n
