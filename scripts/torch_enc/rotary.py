"""PyTorch versions of the rotary encodings: rope, xpos, rope2d_axial,
rope2d_mixed. They mirror encodings/rope.c, rope_scaling.c, xpos.c and
rope2d.c (see those files for the formulas and the papers):

- rotation of a pair (a, b) by phi: a' = a cos(phi) - b sin(phi),
  b' = a sin(phi) + b cos(phi), the same for q and k;
- frequencies and angles in float64, cos/sin (times the xPos scale) cast to
  float32, the rotation itself in float32, as the C tables are;
- rope pairing "interleaved" pairs dims (2k, 2k+1), "half" pairs
  (k, k + d_rot/2); the first d_rot = floor(fraction*d_head/2)*2 dims rotate;
- p-RoPE keeps round(p * d_rot/2) (half rounded up) highest frequencies;
- dynamic_ntk uses l = (largest position in the batch) + 1, the length the
  C model hands to prepare() for that batch; the C side follows l in both
  directions (a shorter batch after a longer one gets its own, smaller l),
  where HF's cache keeps the longest length seen while above L;
- rope2d_mixed's parameters are laid out [2][H][d_head/2] (fx, then fy).

No precision emulation here: this is the fp32 reference.
"""

import math

import torch


def _flatten(opts, prefix=""):
    """Options as the C side sees them: nested tables become dotted keys."""
    out = {}
    for key, value in (opts or {}).items():
        if isinstance(value, dict):
            out.update(_flatten(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


def _f32(v):
    """A Python float rounded to float32, as C stores e->logit_scale."""
    return float(torch.tensor(v, dtype=torch.float32))


def _rotate(x, cos, sin, ia, ib):
    """Pairs (x[..., ia[k]], x[..., ib[k]]) rotated by cos/sin [..., n]."""
    a, b = x[..., ia], x[..., ib]
    out = x.clone()
    out[..., ia] = a * cos - b * sin
    out[..., ib] = a * sin + b * cos
    return out


def _interleaved(n, offset=0):
    ia = torch.arange(n) * 2 + offset
    return ia, ia + 1


SCALING_TYPES = ("none", "pi", "ntk", "dynamic_ntk", "yarn")


def yarn_ramp(r, beta_slow, beta_fast):
    return min(1.0, max(0.0, (r - beta_slow) / (beta_fast - beta_slow)))


def yarn_code_keep(k, d_rot, base, L, beta_slow, beta_fast):
    """Weight of the unscaled theta of pair k in the authors' YaRN code: the
    pair index where a frequency turns beta times over L, rounded outwards,
    and a ramp linear in k between."""
    def at(beta):
        return d_rot * math.log(L / (beta * 2.0 * math.pi)) / (2.0 * math.log(base))
    lo, hi = max(math.floor(at(beta_fast)), 0.0), min(math.ceil(at(beta_slow)), d_rot - 1.0)
    if lo == hi:
        hi += 0.001
    return 1.0 - min(1.0, max(0.0, (k - lo) / (hi - lo)))


def rope_thetas(base, d_rot, scaling, l=0):
    """theta_k for k < d_rot/2 after scaling (rope_scaling.c), float64 list."""
    kind, s, L = scaling["type"], scaling["factor"], scaling["original_len"]
    b = base
    ntk_exp = d_rot / (d_rot - 2) if d_rot > 2 else 1.0
    if kind == "ntk":
        b = base * s ** ntk_exp
    if kind == "dynamic_ntk":
        b = base * max(1.0, s * l / L - (s - 1.0)) ** ntk_exp
    out = []
    for k in range(d_rot // 2):
        t = b ** (-2.0 * k / d_rot)
        if kind == "pi":
            t /= s
        if kind == "yarn":
            if scaling["ramp"] == "paper":
                g = yarn_ramp(L * t / (2.0 * math.pi), scaling["beta_slow"], scaling["beta_fast"])
            else:
                g = yarn_code_keep(k, d_rot, base, L, scaling["beta_slow"], scaling["beta_fast"])
            t = (1.0 - g) * t / s + g * t
        out.append(t)
    return out


class Rope(torch.nn.Module):
    """RoPE with pairing, partial rotation, p-RoPE and PI/NTK/dynamic/YaRN."""

    n_params = 0

    def __init__(self, cfg, opts):
        super().__init__()
        o = _flatten(opts)
        self.d_head = int(cfg["d_head"])
        self.base = float(o.get("base", 10000.0))
        self.half = o.get("pairing", "interleaved") == "half"
        if o.get("pairing", "interleaved") not in ("interleaved", "half"):
            raise ValueError(f"rope: unknown pairing {o['pairing']!r}")
        fraction, p = float(o.get("fraction", 1.0)), float(o.get("p", 1.0))
        if not (0 < fraction <= 1 and 0 < p <= 1) or self.base <= 0:
            raise ValueError(f"rope: bad options {o}")
        self.d_rot = int(math.floor(fraction * self.d_head / 2.0)) * 2
        self.n_pairs = self.d_rot // 2
        self.n_keep = int(math.floor(p * self.n_pairs + 0.5))
        s = float(o.get("scaling.factor", 1.0))
        kind = o.get("scaling.type", "none")
        if kind not in SCALING_TYPES or s <= 0:
            raise ValueError(f"rope: bad scaling {kind!r} factor {s}")
        mscale = 0.1 * math.log(s) + 1.0 if s > 1.0 else 1.0
        self.scaling = {
            "type": kind,
            "factor": s,
            "original_len": int(o.get("scaling.original_len", cfg["max_len"])),
            "beta_fast": float(o.get("scaling.beta_fast", 32.0)),
            "beta_slow": float(o.get("scaling.beta_slow", 1.0)),
            "attn_factor": float(o.get("scaling.attn_factor", mscale)),
            "ramp": o.get("scaling.ramp", "code"),
        }
        af = self.scaling["attn_factor"]
        self.logit_scale = _f32(af * af) if kind == "yarn" else 1.0
        if self.half:
            ia = torch.arange(self.n_keep)
            self.ia, self.ib = ia, ia + self.n_pairs
        else:
            self.ia, self.ib = _interleaved(self.n_keep)

    def thetas(self, l):
        th = rope_thetas(self.base, self.d_rot, self.scaling, l)
        return torch.tensor(th[: self.n_keep], dtype=torch.float64)

    def input(self, enc, pos, T):
        return None

    def qk(self, enc, x, pos, is_key):
        if self.n_keep == 0:
            return x
        l = int(pos.max()) + 1  # dynamic_ntk's sequence length (see above)
        angle = pos.to(torch.float64)[..., None] * self.thetas(l)  # [B,T,n]
        cos = torch.cos(angle).to(torch.float32)[:, None]  # [B,1,T,n]
        sin = torch.sin(angle).to(torch.float32)[:, None]
        return _rotate(x, cos, sin, self.ia, self.ib)

    def bias(self, enc, qpos, kpos):
        return None


class XPos(torch.nn.Module):
    """xPos: RoPE (interleaved, base 10000) with zeta_k^(pos/gamma) on q and
    zeta_k^(-pos/gamma) on k, absolute positions (no centring)."""

    n_params = 0
    logit_scale = 1.0

    def __init__(self, cfg, opts):
        super().__init__()
        o = _flatten(opts)
        dh = int(cfg["d_head"])
        self.gamma = float(o.get("scale_base", 512.0))
        k = torch.arange(dh // 2, dtype=torch.float64)
        self.theta = 10000.0 ** (-2.0 * k / dh)
        self.zeta = (2.0 * k / dh + 0.4) / 1.4
        self.ia, self.ib = _interleaved(dh // 2)

    def input(self, enc, pos, T):
        return None

    def qk(self, enc, x, pos, is_key):
        p = pos.to(torch.float64)[..., None]  # [B,T,1]
        angle = p * self.theta
        scale = self.zeta ** ((-p if is_key else p) / self.gamma)
        cos = (torch.cos(angle) * scale).to(torch.float32)[:, None]
        sin = (torch.sin(angle) * scale).to(torch.float32)[:, None]
        return _rotate(x, cos, sin, self.ia, self.ib)

    def bias(self, enc, qpos, kpos):
        return None


class Rope2dAxial(torch.nn.Module):
    """2D RoPE, axial: pairs k < d_head/4 rotate by x*theta_k, pairs
    d_head/4 + k by y*theta_k, theta_k = base^(-4k/d_head), base 100."""

    n_params = 0
    logit_scale = 1.0
    pos_dims = 2

    def __init__(self, cfg, opts):
        super().__init__()
        o = _flatten(opts)
        dh = int(cfg["d_head"])
        if dh % 4:
            raise ValueError(f"rope2d_axial: d_head must be divisible by 4, got {dh}")
        n4 = dh // 4
        base = float(o.get("base", 100.0))
        self.theta = torch.tensor([base ** (-4.0 * k / dh) for k in range(n4)],
                                  dtype=torch.float64)
        self.ia, self.ib = _interleaved(2 * n4)

    def input(self, enc, pos, T):
        return None

    def qk(self, enc, x, pos, is_key):
        p = pos.to(torch.float64)  # [B,T,2]
        angle = torch.cat([p[..., 0:1] * self.theta, p[..., 1:2] * self.theta], dim=-1)
        cos = torch.cos(angle).to(torch.float32)[:, None]
        sin = torch.sin(angle).to(torch.float32)[:, None]
        return _rotate(x, cos, sin, self.ia, self.ib)

    def bias(self, enc, qpos, kpos):
        return None


class Rope2dMixed(torch.nn.Module):
    """2D RoPE, mixed: pair j of head h rotates by x*fx[h,j] + y*fy[h,j];
    enc holds [2][H][d_head/2] learnable frequencies."""

    logit_scale = 1.0
    pos_dims = 2

    def __init__(self, cfg, opts):
        super().__init__()
        dh, H = int(cfg["d_head"]), int(cfg["heads"])
        if dh % 4:
            raise ValueError(f"rope2d_mixed: d_head must be divisible by 4, got {dh}")
        self.H, self.n2 = H, dh // 2
        self.n_params = 2 * H * self.n2
        self.ia, self.ib = _interleaved(self.n2)

    def input(self, enc, pos, T):
        return None

    def qk(self, enc, x, pos, is_key):
        f = enc[: self.n_params].view(2, self.H, self.n2).to(torch.float64)
        p = pos.to(torch.float64)  # [B,T,2]
        px, py = p[..., 0][:, None, :, None], p[..., 1][:, None, :, None]  # [B,1,T,1]
        angle = px * f[0][None, :, None, :] + py * f[1][None, :, None, :]  # [B,H,T,n2]
        return _rotate(x, torch.cos(angle).to(torch.float32),
                       torch.sin(angle).to(torch.float32), self.ia, self.ib)

    def bias(self, enc, qpos, kpos):
        return None


ENCODINGS = {
    "rope": Rope,
    "xpos": XPos,
    "rope2d_axial": Rope2dAxial,
    "rope2d_mixed": Rope2dMixed,
}
