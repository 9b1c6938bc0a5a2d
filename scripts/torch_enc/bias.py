"""PyTorch counterparts of the attention-bias encodings (encodings/alibi.c,
t5.c, kerple.c, fire.c), for scripts/torch_reference.py.

Each class mirrors its C twin exactly: same options and defaults, same
parameter layout in the flat `enc` tensor, float64 inside where the C code
uses double, float32 out. bias(enc, qpos, kpos) takes positions [B, Tq] and
[B, Tk] and returns [B, H, Tq, Tk], added to the scaled logits. Emulated low
precision is not mirrored. See additive.py for the shared interface.

Run `python3 scripts/torch_enc/bias.py [path/to/test_enc_bias]` to compare
against the C code (the test program's --dump cases).
"""
import math
import os
import sys

import torch

try:
    from .additive import SiteEncoding, check_against_c, opt_int, opt_num, read_dump
except ImportError:  # run as a script
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from additive import SiteEncoding, check_against_c, opt_int, opt_num, read_dump


class BiasEncoding(SiteEncoding):
    """Base: an encoding acting at the logit-bias site only."""


def alibi_slopes(n):
    """Press et al.'s get_slopes(n)."""
    def power_of_two(n):
        start = 2 ** (-2 ** -(math.log2(n) - 3))
        return [start * start ** i for i in range(n)]
    if math.log2(n).is_integer():
        return power_of_two(n)
    c = 2 ** math.floor(math.log2(n))
    return power_of_two(c) + alibi_slopes(2 * c)[0::2][:n - c]


class Alibi(BiasEncoding):
    """-m_h (i - j) causal, -m_h |i - j| bidirectional."""
    name = "alibi"

    def setup(self, opts):
        self.register_buffer("slopes", torch.tensor(alibi_slopes(self.heads), dtype=torch.float32),
                             persistent=False)

    def bias(self, enc, qpos, kpos):
        dist = qpos.to(torch.float32)[:, :, None] - kpos.to(torch.float32)[:, None, :]
        if not self.causal:
            dist = dist.abs()
        return -self.slopes[None, :, None, None] * dist[:, None]


def t5_bucket(rel, bidirectional, buckets, max_distance):
    """HF T5 _relative_position_bucket(rel = key - query), in float64."""
    offset = torch.zeros_like(rel)
    B = buckets
    if bidirectional:
        B = buckets // 2
        offset = (rel > 0).long() * B
        n = rel.abs()
    else:
        n = (-rel).clamp(min=0)
    E = B // 2
    nf = n.clamp(min=1).to(torch.float64)
    large = E + torch.floor(torch.log(nf / E) / math.log(max_distance / E) * (B - E)).long()
    large = large.clamp(max=B - 1)
    return offset + torch.where(n < E, n, large)


class T5(BiasEncoding):
    """b[H][buckets] in enc; bias = b[h, bucket(p_j - p_i)]."""
    name = "t5"
    valid_options = ("buckets", "max_distance")

    def setup(self, opts):
        self.buckets = opt_int(opts, "buckets", 32)
        self.max_distance = opt_int(opts, "max_distance", 128)
        if self.buckets < 4 or self.buckets % 2:
            raise ValueError(f"t5: option buckets={self.buckets} must be even and >= 4")
        B = self.buckets if self.causal else self.buckets // 2
        if self.max_distance <= B // 2:
            raise ValueError(f"t5: option max_distance={self.max_distance} must exceed {B // 2}")
        self.n_params = self.heads * self.buckets

    def init_params(self, generator=None):
        return torch.randn(self.n_params, generator=generator) * 0.02

    def bias(self, enc, qpos, kpos):
        rel = kpos[:, None, :] - qpos[:, :, None]
        bucket = t5_bucket(rel, not self.causal, self.buckets, self.max_distance)
        table = enc.view(self.heads, self.buckets)
        return table[:, bucket].permute(1, 0, 2, 3)


class KerpleLog(BiasEncoding):
    """-r1 ln(1 + r2 |i - j|); enc = [u1[H], u2[H]], r = softplus(u)."""
    name = "kerple_log"
    valid_options = ("r1", "r2")
    power = False

    def setup(self, opts):
        self.r1 = opt_num(opts, "r1", 1.0)
        self.r2 = opt_num(opts, "r2", 1.0)
        if not self.r1 > 0:
            raise ValueError(f"{self.name}: option r1={self.r1:g} must be positive")
        if not (0 < self.r2 < 2 if self.power else self.r2 > 0):
            raise ValueError(f"{self.name}: option r2={self.r2:g} out of range")
        self.n_params = 2 * self.heads

    def init_params(self, generator=None):
        u1 = math.log(math.expm1(self.r1))
        u2 = math.log(self.r2 / (2 - self.r2)) if self.power else math.log(math.expm1(self.r2))
        return torch.tensor([u1] * self.heads + [u2] * self.heads, dtype=torch.float32)

    def coefs(self, enc):
        H = self.heads
        u = enc.to(torch.float64)
        r1 = torch.nn.functional.softplus(u[:H])
        r2 = 2 * torch.sigmoid(u[H:]) if self.power else torch.nn.functional.softplus(u[H:])
        return r1[None, :, None, None], r2[None, :, None, None]

    def distance(self, qpos, kpos):
        return (qpos[:, :, None] - kpos[:, None, :]).abs().to(torch.float64)[:, None]

    def bias(self, enc, qpos, kpos):
        r1, r2 = self.coefs(enc)
        n = self.distance(qpos, kpos)
        return (-r1 * torch.log1p(r2 * n)).to(torch.float32)


class KerplePower(KerpleLog):
    """-r1 |i - j|^r2; enc = [u1[H], a[H]], r1 = softplus(u1), r2 = 2 sigmoid(a)."""
    name = "kerple_power"
    power = True

    def bias(self, enc, qpos, kpos):
        r1, r2 = self.coefs(enc)
        n = self.distance(qpos, kpos)
        pos = n > 0  # 0^r2 = 0 with no gradient (avoids 0 * log 0)
        powed = torch.where(pos, torch.where(pos, n, torch.ones_like(n)) ** r2,
                            torch.zeros_like(n))
        return (-r1 * powed).to(torch.float32)


class Fire(BiasEncoding):
    """f(psi(r) / (psi(max(L, p_i)) + 1e-6)), psi(x) = ln(|c| x + 1), L = |l| init_L,
    r = max(i - j, 0) causal, |i - j| bidirectional, f = Linear(1, hidden) ReLU
    Linear(hidden, H). enc = [W1[hidden], b1[hidden], W2[H][hidden], b2[H], c, l]."""
    name = "fire"
    valid_options = ("hidden", "init_c", "init_L")

    def setup(self, opts):
        self.hidden = opt_int(opts, "hidden", 32)
        self.init_c = opt_num(opts, "init_c", 0.1)
        self.init_L = opt_num(opts, "init_L", self.max_len / 4.0 if self.max_len >= 4 else 1.0)
        if not 1 <= self.hidden <= 1024:
            raise ValueError(f"fire: option hidden={self.hidden} must be in [1, 1024]")
        if not (self.init_c > 0 and self.init_L > 0):
            raise ValueError("fire: options init_c and init_L must be positive")
        self.n_params = 2 * self.hidden + self.heads * self.hidden + self.heads + 2

    def init_params(self, generator=None):
        hid, H = self.hidden, self.heads
        first = torch.rand(2 * hid, generator=generator, dtype=torch.float64) * 2 - 1
        bound = 1 / math.sqrt(hid)
        second = (torch.rand(H * hid + H, generator=generator, dtype=torch.float64) * 2 - 1) * bound
        return torch.cat((first, second, torch.tensor([self.init_c, 1.0],
                                                      dtype=torch.float64))).to(torch.float32)

    def bias(self, enc, qpos, kpos):
        hid, H = self.hidden, self.heads
        p = enc.to(torch.float64)
        w1, b1 = p[:hid], p[hid:2 * hid]
        w2 = p[2 * hid:2 * hid + H * hid].view(H, hid)
        b2 = p[2 * hid + H * hid:2 * hid + H * hid + H]
        c = p[-2].abs()
        L = p[-1].abs() * self.init_L
        qf, kf = qpos.to(torch.float64), kpos.to(torch.float64)
        d = qf[:, :, None] - kf[:, None, :]
        r = d.clamp(min=0) if self.causal else d.abs()
        m = torch.maximum(qf, L)
        z = torch.log1p(c * r) / (torch.log1p(c * m) + 1e-6)[:, :, None]
        act = torch.relu(z[..., None] * w1 + b1)        # [B, Tq, Tk, hidden]
        out = act @ w2.T + b2                            # [B, Tq, Tk, H]
        return out.permute(0, 3, 1, 2).to(torch.float32)


ENCODINGS = {
    "alibi": Alibi,
    "t5": T5,
    "kerple_log": KerpleLog,
    "kerple_power": KerplePower,
    "fire": Fire,
}


def compare_with_c(binary):
    """Run `binary --dump` and compare bias values and parameter gradients."""
    import json

    cases = read_dump(binary)
    failed = 0
    for c in cases:
        if c["name"] not in ENCODINGS:  # the C test dumps it, nothing here reimplements it
            print(f"  FAIL {c['name']}: encoding '{c['name']}' has no PyTorch twin in {__file__}")
            failed += 1
            continue
        out_n = []
        mod = ENCODINGS[c["name"]](c["cfg"], c["opts"], out_n)
        assert mod.n_params == c["n_params"] == out_n[0], (c["name"], mod.n_params)
        enc = torch.tensor(c["params"], dtype=torch.float32, requires_grad=True)
        qpos = torch.tensor(c["qpos"]).view(1, -1)
        kpos = torch.tensor(c["kpos"]).view(1, -1)
        out = mod.bias(enc, qpos, kpos)
        want = torch.tensor(c["out"]).view(out.shape)
        err = ((out - want).abs() / want.abs().clamp(min=1)).max().item()
        gerr = 0.0
        if mod.n_params:
            (out * torch.tensor(c["dout"]).view(out.shape)).sum().backward()
            g = torch.tensor(c["dparams"])
            gerr = ((enc.grad - g).abs() / g.abs().clamp(min=1)).max().item()
        ok = err < 1e-6 and gerr < 1e-5
        failed += not ok
        print(f"  {'ok  ' if ok else 'FAIL'} {c['name']:<13} causal={c['cfg']['causal']} "
              f"{json.dumps(c['opts']):<44} value err {err:.2g}  grad err {gerr:.2g}")
    return failed


def self_check():
    """Closed forms that need no C build."""
    assert alibi_slopes(8) == [2.0 ** -i for i in range(1, 9)]
    assert alibi_slopes(6) == [0.25, 0.0625, 0.015625, 0.00390625, 0.5, 0.125]
    ns = torch.tensor([0, 5, 15, 16, 17, 20, 23, 30, 45, 50, 64, 90, 100, 127, 128, 300])
    assert t5_bucket(-ns, False, 32, 128).tolist() == \
        [0, 5, 15, 16, 16, 17, 18, 20, 23, 24, 26, 29, 30, 31, 31, 31]
    assert t5_bucket(ns, True, 32, 128).tolist() == \
        [0, 21, 25, 26, 26, 26, 27, 27, 28, 29, 30, 30, 31, 31, 31, 31]
    cfg = {"d": 8, "heads": 2, "d_head": 4, "causal": 1, "max_len": 16}
    kp = KerplePower(cfg, {}, [])
    enc = kp.init_params().requires_grad_(True)
    pos = torch.tensor([[0, 1, 2]])
    kp.bias(enc, pos, pos).sum().backward()
    assert torch.isfinite(enc.grad).all(), "kerple_power gradient at distance 0"
    return 0


if __name__ == "__main__":
    sys.exit(check_against_c("bias.py", self_check, compare_with_c, "test_enc_bias"))
