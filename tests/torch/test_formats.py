"""Emulated number formats against PyTorch's own casts, bit for bit.

Run from the repository root:  BUILD=build /usr/bin/python3 tests/torch/test_formats.py

Millions of float32 values (random bit patterns over the whole range, every
bf16 / fp16 halfway point with its neighbours, subnormals, overflow
thresholds, NaN, +-inf, +-0) go through `$BUILD/tests/test_format --round`
and through torch's `.to(dtype).float()`; the results must match bit for bit
(any NaN matches any NaN). bf16 toward zero is also checked against plain
truncation of the low 16 bits. fp8 is compared when this torch has the
float8 dtypes, with the overflow policy its casts turn out to use.
"""
import os
import subprocess
import sys
import tempfile

import numpy as np
import torch

BUILD = os.environ.get("BUILD", "build")
TOOL = os.path.join(BUILD, "tests", "test_format")
passed = failed = 0


def bits(a):
    return np.ascontiguousarray(a, dtype=np.float32).view(np.uint32)


def floats(u):
    return np.ascontiguousarray(u, dtype=np.uint32).view(np.float32)


def harness_round(x, name, *options):
    with tempfile.TemporaryDirectory() as tmp:
        src, dst = os.path.join(tmp, "in.f32"), os.path.join(tmp, "out.f32")
        x.astype("<f4").tofile(src)
        subprocess.run([TOOL, "--round", name, src, dst, *options], check=True)
        return np.fromfile(dst, dtype="<f4")


def compare(label, x, got, want):
    """Count one check: got and want agree bit for bit, NaN matching NaN."""
    global passed, failed
    gb, wb = bits(got), bits(want)
    both_nan = np.isnan(got) & np.isnan(want)
    bad = np.nonzero((gb != wb) & ~both_nan)[0]
    if bad.size == 0:
        passed += 1
        print(f"ok    {label}: {x.size} values match")
        return
    failed += 1
    print(f"FAIL  {label}: {bad.size} of {x.size} values differ; first ones:")
    for i in bad[:8]:
        print(f"      in 0x{bits(x)[i]:08x} ({x[i]!r}): harness 0x{gb[i]:08x} ({got[i]!r}), "
              f"reference 0x{wb[i]:08x} ({want[i]!r})")


def torch_cast(x, dtype):
    return torch.from_numpy(x.copy()).to(dtype).float().numpy()


def neighbours(u):
    """u and the float32 patterns one ulp either side (same sign)."""
    u = u.astype(np.uint64)
    out = np.concatenate([u, u + 1, u - 1]) & 0xFFFFFFFF
    return out.astype(np.uint32)


def specials():
    u = np.array([0x00000000, 0x80000000, 0x7F800000, 0xFF800000,    # +-0, +-inf
                  0x7FC00000, 0xFFC00000, 0x7F800001, 0xFF800001,    # NaNs
                  0x7FBFFFFF, 0x7FFFFFFF, 0xFFFFFFFF, 0x7F80FFFF,    # NaNs with payloads
                  0x7F7FFFFF, 0xFF7FFFFF, 0x00000001, 0x80000001,    # extremes
                  0x007FFFFF, 0x00800000, 0x7F7F7FFF, 0x7F7F8000,    # bf16 overflow edge
                  0x7F7F8001, 0x7F7EFFFF], dtype=np.uint32)
    edges = np.array([65504, 65519, 65519.996, 65520, 65520.004, 65535, 65536, 1e5,
                      2048, 2049, 2050, 2051, 256, 257, 258, 259, 448, 464, 465, 480,
                      57344, 61439, 61440, 2.0 ** -24, 2.0 ** -25, 3 * 2.0 ** -25,
                      2.0 ** -14, 2.0 ** -15, 2.0 ** -133, 2.0 ** -134, 2.0 ** -126,
                      3.3895e38, 3.39e38, 3.4e38], dtype=np.float32)
    return np.concatenate([floats(u), edges, -edges])


def test_values(rng):
    parts = [floats(rng.integers(0, 2 ** 32, size=3_000_000, dtype=np.uint64).astype(np.uint32))]
    # every bf16 pattern's upper halfway point (an exact tie), +-1 ulp
    h = np.arange(1 << 16, dtype=np.uint32) << 16
    parts.append(floats(neighbours(h | 0x8000)))
    # every fp16 value's midpoint to the next one away from zero, +-1 ulp
    f16 = np.arange(1 << 16, dtype=np.uint16).view(np.float16)
    lo = f16.astype(np.float32)
    with np.errstate(over="ignore", invalid="ignore"):
        hi = np.nextafter(f16, np.copysign(np.float16(np.inf), f16)).astype(np.float32)
        mid = ((lo.astype(np.float64) + hi.astype(np.float64)) / 2).astype(np.float32)
    ok = np.isfinite(mid) & np.isfinite(lo)
    parts.append(floats(neighbours(bits(mid[ok]))))
    # float32 subnormals, and small normals where fp16 goes subnormal
    sub = rng.integers(1, 1 << 23, size=200_000, dtype=np.uint64).astype(np.uint32)
    parts.append(floats(sub | (rng.integers(0, 2, size=sub.size, dtype=np.uint32) << 31)))
    small = (rng.integers(0x30000000, 0x39000000, size=200_000, dtype=np.uint64)
             .astype(np.uint32))
    parts.append(floats(small))
    parts.append(specials())
    return np.concatenate(parts).astype(np.float32)


def test_fp8(x):
    for attr, name in (("float8_e4m3fn", "e4m3"), ("float8_e5m2", "e5m2")):
        dtype = getattr(torch, attr, None)
        if dtype is None:
            print(f"note  torch {torch.__version__} has no torch.{attr}: {name} not compared")
            continue
        # which overflow policy do this torch's casts use?
        probe = torch_cast(np.array([1e6, np.inf], dtype=np.float32), dtype)
        if np.isnan(probe[0]):
            policy = "nan"
        elif np.isinf(probe[0]):
            policy = "inf"
        else:
            policy = "saturate"
        print(f"note  torch.{attr} overflows to {policy}")
        with np.errstate(invalid="ignore", over="ignore"):
            want = torch_cast(x, dtype)
        got = harness_round(x, name, "rne", policy)
        if policy == "saturate" or (policy == "nan" and not np.isnan(probe[1])):
            # torch may treat +-inf apart from finite overflow: compare finite inputs only
            keep = ~np.isinf(x)
            compare(f"{name} ({policy}, finite inputs)", x[keep], got[keep], want[keep])
        else:
            compare(f"{name} ({policy})", x, got, want)


def main():
    if not os.access(TOOL, os.X_OK):
        print(f"missing {TOOL}: build it first (make BUILD={BUILD} all)")
        print("0 passed, 1 failed")
        return 1
    rng = np.random.default_rng(20241105)
    x = test_values(rng)
    print(f"{x.size} float32 values, torch {torch.__version__}")
    for name, dtype in (("bf16", torch.bfloat16), ("fp16", torch.float16)):
        compare(f"{name} (rne)", x, harness_round(x, name), torch_cast(x, dtype))
    # toward zero in bf16 is truncation of the low half (NaN aside)
    trunc = np.where(np.isnan(x), np.float32(np.nan), floats(bits(x) & 0xFFFF0000))
    compare("bf16 (rtz) vs truncation", x, harness_round(x, "bf16", "rtz"), trunc)
    test_fp8(x)
    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
