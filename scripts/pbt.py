"""Read and write posbench tensor files (.pbt) with numpy.

Layout (docs/model.md, harness/io/tensorfile.c):
    b"PBTENS01" | uint64 LE header length J | J bytes JSON | data
JSON: {"meta": {...}, "tensors": [{"name", "dtype", "shape", "offset"}, ...]},
offsets in bytes from the end of the header, tensors little-endian and
contiguous. Like the C writer, write() aligns the data start and every tensor
to 64 bytes and replaces the file atomically (temp file + fsync + rename).

    meta, tensors = pbt.read("x.pbt")      # tensors: dict name -> np.ndarray
    pbt.write("y.pbt", meta, tensors)
"""

import json
import os
import struct
import tempfile

import numpy as np

MAGIC = b"PBTENS01"
ALIGN = 64
DTYPES = {"f32": np.dtype("<f4"), "i32": np.dtype("<i4")}


class PbtError(ValueError):
    """A malformed tensor file; the message starts with the file's path."""


def _align(x):
    return (x + ALIGN - 1) // ALIGN * ALIGN


def read(path):
    """Returns (meta dict, dict name -> numpy array, in file order)."""
    with open(path, "rb") as f:
        raw = f.read()
    if len(raw) < 16:
        raise PbtError(f"{path}: truncated: {len(raw)} bytes, shorter than the 16-byte preamble")
    if raw[:8] != MAGIC:
        raise PbtError(f"{path}: bad magic (not a posbench tensor file)")
    (J,) = struct.unpack("<Q", raw[8:16])
    if J > len(raw) - 16:
        raise PbtError(f"{path}: header length {J} exceeds the file size")
    try:
        header = json.loads(raw[16:16 + J].decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise PbtError(f"{path}: bad JSON header: {e}") from None
    if not isinstance(header, dict) or not isinstance(header.get("tensors"), list):
        raise PbtError(f"{path}: header has no \"tensors\" list")
    meta = header.get("meta", {})
    data = memoryview(raw)[16 + J:]
    tensors = {}
    for t in header["tensors"]:
        name = t.get("name")
        if t.get("dtype") not in DTYPES:
            raise PbtError(f"{path}: tensor '{name}': unknown dtype {t.get('dtype')!r} (valid: f32, i32)")
        dt = DTYPES[t["dtype"]]
        shape = tuple(int(s) for s in t["shape"])
        if any(s < 0 for s in shape):
            raise PbtError(f"{path}: tensor '{name}': negative shape {shape}")
        n = int(np.prod(shape, dtype=np.int64)) if shape else 1
        off = int(t["offset"])
        if off < 0 or off + n * dt.itemsize > len(data):
            raise PbtError(f"{path}: tensor '{name}': offset {off} + {n * dt.itemsize} bytes is out of range")
        if name in tensors:
            raise PbtError(f"{path}: tensor name '{name}' appears twice")
        arr = np.frombuffer(data, dtype=dt, count=n, offset=off).reshape(shape)
        tensors[name] = arr.astype(dt.newbyteorder("="), copy=True)
    return meta, tensors


def _as_array(name, value):
    a = value.detach().cpu().numpy() if hasattr(value, "detach") else np.asarray(value)
    if a.dtype.kind == "f":
        return "f32", np.ascontiguousarray(a, dtype="<f4")
    if a.dtype.kind in "iub":
        if a.size and (a.min() < -2**31 or a.max() >= 2**31):
            raise ValueError(f"tensor '{name}': values do not fit int32")
        return "i32", np.ascontiguousarray(a, dtype="<i4")
    raise ValueError(f"tensor '{name}': unsupported dtype {a.dtype}")


def write(path, meta, tensors):
    """Writes dict name -> array (numpy or torch; floats become f32, integers
    i32) atomically."""
    entries, blobs, off = [], [], 0
    for name, value in tensors.items():
        if len(name.encode()) > 63:
            raise ValueError(f"tensor name '{name}' is longer than 63 bytes")
        dtype, a = _as_array(name, value)
        if a.ndim > 4:
            raise ValueError(f"tensor '{name}': more than 4 dimensions")
        off = _align(off)
        entries.append({"name": name, "dtype": dtype, "shape": list(a.shape), "offset": off})
        blobs.append((off, a.tobytes()))
        off += a.nbytes
    header = json.dumps({"meta": meta, "tensors": entries}).encode() + b"\n"
    header += b" " * ((-(16 + len(header))) % ALIGN)
    data = bytearray(off)
    for o, b in blobs:
        data[o:o + len(b)] = b
    payload = MAGIC + struct.pack("<Q", len(header)) + header + bytes(data)
    d = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=os.path.basename(path) + ".tmp.", dir=d)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(payload)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


if __name__ == "__main__":
    import sys
    for p in sys.argv[1:]:
        m, ts = read(p)
        print(f"{p}: meta {json.dumps(m)}")
        for k, v in ts.items():
            print(f"  {k:24s} {str(v.dtype):8s} {list(v.shape)}")
