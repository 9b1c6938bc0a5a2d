"""PyTorch counterparts of the additive-input encodings (encodings/integer.c,
binary.c, sinusoidal.c, learned.c), for scripts/torch_reference.py.

Each class mirrors its C twin exactly: same options and defaults, same
parameter layout in the flat `enc` tensor, values computed in float64 where
the C code uses double and returned as float32. Emulated low precision
(precision sites) is not mirrored: these are the fp32 references.

Interface (shared with bias.py and rotary.py):
    X(cfg, opts, n_params_out=None)  cfg: d, heads, d_head, causal, max_len
                                 opts: flattened option dict as the C side got it;
                                 n_params is also appended to n_params_out (or
                                 written to its slot 0) when a list is given
    .n_params, .logit_scale
    .input(enc, pos, T) -> [B, T, d] added to the token embeddings, or None
    .qk(enc, x, pos, is_key) -> None
    .bias(enc, qpos, kpos) -> None
    .init_params(generator=None) -> a fresh float32 [n_params] tensor drawn
        like the C init (same distribution, not the same bits)

Run `python3 scripts/torch_enc/additive.py [path/to/test_enc_additive]` to
compare against the C code (the test program's --dump cases).
"""
import math

import torch


def opt_num(opts, key, default):
    v = opts.get(key, default)
    if isinstance(v, str):
        raise ValueError(f"option '{key}' must be a number, got \"{v}\"")
    return float(v)


def opt_int(opts, key, default):
    v = opt_num(opts, key, default)
    if v != int(v):
        raise ValueError(f"option '{key}' must be an integer, got {v:g}")
    return int(v)


def opt_bool(opts, key, default):
    v = opts.get(key, default)
    if isinstance(v, str):
        if v.lower() in ("true", "1"):
            return True
        if v.lower() in ("false", "0"):
            return False
        raise ValueError(f"option '{key}' must be a boolean, got \"{v}\"")
    if v not in (0, 1):
        raise ValueError(f"option '{key}'={v} must be a boolean (0/1)")
    return bool(v)


def check_options(name, opts, valid):
    for k in opts:
        if k not in valid:
            raise ValueError(f"encoding '{name}': unknown option '{k}' "
                             f"(valid options: {', '.join(valid) or 'none'})")


def report_n_params(n_params_out, n):
    """Hand n_params back through the caller's list (append, or set slot 0)."""
    if n_params_out is None:
        return
    if len(n_params_out) == 0:
        n_params_out.append(n)
    else:
        n_params_out[0] = n


class SiteEncoding(torch.nn.Module):
    """Base of the one-site encodings here and in bias.py: checks the options,
    reads the geometry, lets setup(opts) parse its own options and set
    n_params; every site is absent (None) until a subclass defines it."""
    name = ""
    valid_options = ()
    logit_scale = 1.0

    def __init__(self, cfg, opts, n_params_out=None):
        super().__init__()
        check_options(self.name, opts, self.valid_options)
        self.d = int(cfg["d"])
        self.heads = int(cfg["heads"])
        self.causal = bool(cfg["causal"])
        self.max_len = int(cfg["max_len"])
        self.n_params = 0
        self.setup(opts)
        report_n_params(n_params_out, self.n_params)

    def setup(self, opts):
        pass

    def init_params(self, generator=None):
        return torch.zeros(self.n_params)

    def input(self, enc, pos, T):
        return None

    def qk(self, enc, x, pos, is_key):
        return None

    def bias(self, enc, qpos, kpos):
        return None


class AdditiveEncoding(SiteEncoding):
    """Base: an encoding acting at the input site only."""

    def input(self, enc, pos, T):
        raise NotImplementedError


class Integer(AdditiveEncoding):
    """x[t, c] += p."""
    name = "integer"

    def input(self, enc, pos, T):
        return pos.to(torch.float32)[..., None].expand(*pos.shape, self.d)


class IntegerNorm(AdditiveEncoding):
    """x[t, c] += p / T (T = the sequence length the hook is given)."""
    name = "integer_norm"

    def input(self, enc, pos, T):
        v = pos.to(torch.float32) / float(T)
        return v[..., None].expand(*pos.shape, self.d)


class Binary(AdditiveEncoding):
    """Component c gets bit (c mod bits) of p (bit 0 = LSB) times scale
    (default 1/sqrt(d)); signed maps {0, 1} to {-scale, +scale}."""
    name = "binary"
    valid_options = ("bits", "signed", "scale")

    def setup(self, opts):
        self.bits = opt_int(opts, "bits", min(16, self.d))
        self.signed = opt_bool(opts, "signed", 0)
        self.scale = opt_num(opts, "scale", 1.0 / math.sqrt(self.d))
        if not (self.scale > 0 and math.isfinite(self.scale)):
            raise ValueError(f"binary: option scale={self.scale:g} must be a positive number")
        if not 1 <= self.bits <= 30:
            raise ValueError(f"binary: option bits={self.bits} must be in [1, 30]")
        if self.bits > self.d:
            raise ValueError(f"binary: option bits={self.bits} exceeds the width d={self.d}")

    def input(self, enc, pos, T):
        shift = torch.arange(self.d, device=pos.device) % self.bits
        bit = ((pos.clamp(min=0)[..., None] >> shift) & 1).to(torch.float32)
        hi = torch.tensor(self.scale, dtype=torch.float32)  # rounded once, as in C
        return (2 * bit - 1) * hi if self.signed else bit * hi


def sincos_code(p, base, width):
    """[..., width]: (sin(p w_k), cos(p w_k)) interleaved, w_k = base^(-2k/width),
    computed in float64 and returned as float32."""
    k = torch.arange(width // 2, dtype=torch.float64, device=p.device)
    w = torch.pow(torch.tensor(base, dtype=torch.float64), -2.0 * k / width)
    a = p.to(torch.float64)[..., None] * w
    return torch.stack((torch.sin(a), torch.cos(a)), dim=-1).flatten(-2).to(torch.float32)


class Sinusoidal(AdditiveEncoding):
    """scale * (PE(p, 2k) = sin(p w_k), PE(p, 2k+1) = cos(p w_k)), w_k =
    base^(-2k/d), scale 1/sqrt(d) by default (docs/model.md)."""
    name = "sinusoidal"
    valid_options = ("base", "scale")

    def setup(self, opts):
        self.base = opt_num(opts, "base", 10000.0)
        self.scale = opt_num(opts, "scale", 1.0 / math.sqrt(self.d))
        if self.d % 2:
            raise ValueError(f"sinusoidal: the width d={self.d} must be even")
        if not (self.base > 0 and math.isfinite(self.base)):
            raise ValueError(f"sinusoidal: option base={self.base:g} must be a positive number")

    def input(self, enc, pos, T):
        return self.scale * sincos_code(pos, self.base, self.d)


class Sinusoidal2D(Sinusoidal):
    """pos [B, T, 2]: components [0, d/2) code x, [d/2, d) code y, each with
    width d/2."""
    name = "sinusoidal2d"

    def setup(self, opts):
        super().setup(opts)
        if self.d % 4:
            raise ValueError(f"sinusoidal2d: the width d={self.d} must be divisible by 4")

    def input(self, enc, pos, T):
        half = self.d // 2
        return self.scale * torch.cat((sincos_code(pos[..., 0], self.base, half),
                                       sincos_code(pos[..., 1], self.base, half)), dim=-1)


class Learned(AdditiveEncoding):
    """E[size, d] row-major in enc; x[t] += E[p] (p clamped into the table, as
    the C hook does; the C prepare() refuses p >= size before that)."""
    name = "learned"
    valid_options = ("size",)
    default_size = None  # max_len

    def setup(self, opts):
        dflt = self.max_len if self.default_size is None else self.default_size
        self.size = opt_int(opts, "size", dflt)
        if self.size < 1:
            raise ValueError(f"{self.name}: option size={self.size} must be at least 1")
        self.n_params = self.size * self.d

    def init_params(self, generator=None):
        return torch.randn(self.n_params, generator=generator) * 0.02

    def input(self, enc, pos, T):
        table = enc.view(self.size, self.d)
        return table[pos.clamp(0, self.size - 1)]


class Abacus(Learned):
    """Learned table indexed by digit place (+ random offset while training)."""
    name = "abacus"
    default_size = 128


ENCODINGS = {
    "integer": Integer,
    "integer_norm": IntegerNorm,
    "binary": Binary,
    "sinusoidal": Sinusoidal,
    "learned": Learned,
    "abacus": Abacus,
    "sinusoidal2d": Sinusoidal2D,
}


def read_dump(binary):
    """The cases a C test program writes with `--dump` (one JSON object a line)."""
    import json
    import os
    import subprocess
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "cases.jsonl")
        subprocess.run([binary, "--dump", path], check=True)
        return [json.loads(line) for line in open(path)]


def check_against_c(label, self_check, compare_with_c, test_program):
    """Command-line entry of a family's reference: closed forms, then the
    comparison with the C test program named on the command line (or found
    in $BUILD/tests). Returns the exit status."""
    import os
    import sys

    failed = self_check()
    print(f"{label}: closed forms ok")
    binary = sys.argv[1] if len(sys.argv) > 1 else None
    if binary is None:
        cand = os.path.join(os.environ.get("BUILD", "build"), "tests", test_program)
        binary = cand if os.path.exists(cand) else None
    if binary:
        failed += compare_with_c(binary)
    else:
        print(f"no {test_program} binary given: skipped the comparison with C")
    print(f"{label}: {'all agree' if not failed else f'{failed} case(s) disagree'}")
    return 1 if failed else 0


def compare_with_c(binary):
    """Run `binary --dump` and compare values and parameter gradients."""
    import json

    cases = read_dump(binary)
    failed = 0
    for c in cases:
        if c["name"] not in ENCODINGS:  # the C test dumps it, nothing here reimplements it
            print(f"  FAIL {c['name']}: encoding '{c['name']}' has no PyTorch twin in {__file__}")
            failed += 1
            continue
        out_n = []
        enc_mod = ENCODINGS[c["name"]](c["cfg"], c["opts"], out_n)
        assert enc_mod.n_params == c["n_params"] == out_n[0], (c["name"], enc_mod.n_params)
        enc = torch.tensor(c["params"], dtype=torch.float32, requires_grad=True)
        T, pd = c["T"], c["pos_dims"]
        pos = torch.tensor(c["pos"], dtype=torch.long).view(1, T, pd) if pd == 2 else \
            torch.tensor(c["pos"], dtype=torch.long).view(1, T)
        out = enc_mod.input(enc, pos, T)
        want = torch.tensor(c["out"]).view(1, T, -1)
        err = (out - want).abs().max().item()
        gerr = 0.0
        if enc_mod.n_params:
            (out * torch.tensor(c["dout"]).view(1, T, -1)).sum().backward()
            gerr = (enc.grad - torch.tensor(c["dparams"])).abs().max().item()
        ok = err < 1e-6 and gerr < 1e-5
        failed += not ok
        print(f"  {'ok  ' if ok else 'FAIL'} {c['name']:<14} {json.dumps(c['opts']):<28} "
              f"value err {err:.2g}  grad err {gerr:.2g}")
    return failed


def self_check():
    """Closed forms that need no C build."""
    cfg = {"d": 8, "heads": 2, "d_head": 4, "causal": 1, "max_len": 16}
    pos = torch.tensor([[0, 1, 5, 1000]])
    s = Sinusoidal(cfg, {"scale": 1.0}, [])
    pe = s.input(torch.zeros(0), pos, 4)
    assert abs(pe[0, 1, 0].item() - math.sin(1)) < 1e-7
    assert abs(pe[0, 1, 2].item() - math.sin(0.1)) < 1e-7
    assert torch.allclose(pe.norm(dim=-1), torch.full((1, 4), 2.0))
    dflt = Sinusoidal(cfg, {}, []).input(torch.zeros(0), pos, 4)  # amplitude 1/sqrt(d)
    assert torch.allclose(dflt.norm(dim=-1), torch.full((1, 4), 2.0 / math.sqrt(8)))
    b = Binary(cfg, {"bits": 4, "scale": 1.0}, []).input(None, torch.tensor([[5]]), 1)
    assert b.tolist() == [[[1, 0, 1, 0, 1, 0, 1, 0]]]
    i = Integer(cfg, {}, []).input(None, pos, 4)
    assert torch.allclose(i.norm(dim=-1), pos.float() * math.sqrt(8))
    return 0


if __name__ == "__main__":
    import sys
    sys.exit(check_against_c("additive.py", self_check, compare_with_c, "test_enc_additive"))
