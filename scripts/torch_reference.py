#!/usr/bin/python3
"""Independent PyTorch rebuild of the posbench model (docs/model.md), checked
against a step file written by `pb.check_step` (tests/torch/check_step.lua).

    scripts/torch_reference.py FILE.pbt [--tol 1e-4] [--final-tol 1e-3] [--float64]

The file holds the model config and case in its meta, the initial parameters,
one batch (tokens, targets, mask, pos), and what the C model computed: the
logits, the loss, every parameter's gradient, the loss before each of `steps`
AdamW updates on that batch, and the parameters after them. This script
recomputes all of it with autograd and torch.optim.AdamW and prints the
max relative error of every tensor:

    err = max|c - ref| / max(max|ref|, 1e-6)

A per-layer model (docs/hybrids.md) carries its records in the config's
layer_specs: each layer's encoding (layers with one encoding and options
share its parameters), window or chunk mask, temperature, QK-norm and
soft-cap are rebuilt here from their definitions.

Forward values, gradients and the loss sequence must agree to --tol (1e-4).
Final parameters get a looser --final-tol (1e-3) because errors compound: the
C code and PyTorch sum in different orders, so every step's gradient differs
by float32 rounding, each step's parameters feed the next step's gradient,
and Adam divides each update by the root of that entry's own squared
gradient, so entries with small gradients turn small absolute gradient
errors into large relative update errors. Two effects are beyond any
tolerance and are handled explicitly (see compute and check):
  - Adam's first step is about lr * sign(g): an entry whose gradient is below
    rounding noise would take a +-lr step of random sign. The replay
    therefore feeds the C gradient (itself checked against the reference)
    into the first update, and uses its own gradients after that.
  - entries whose gradient stays negligible throughout (the key bias, whose
    gradient is exactly zero when softmax is shift-invariant) drift by
    Adam-amplified noise; they are only held to 2 * sum(lr_t).
When a tensor still misses, the case is recomputed in float64: C passes if its
error against float64 is within 3x PyTorch float32's own (rounding of an
ill-conditioned computation, not a bug). --float64 runs the whole reference
in double precision.
Exit status: 0 when everything agrees, 1 on a mismatch, 2 on a bad file.
"""

import argparse
import math
import os
import sys

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import pbt  # noqa: E402
import torch_enc  # noqa: E402

PARAM_NAMES = ["wte", "enc", "ln1_w", "ln1_b", "qkv_w", "qkv_b", "proj_w", "proj_b",
               "ln2_w", "ln2_b", "fc_w", "fc_b", "fcp_w", "fcp_b", "lnf_w", "lnf_b",
               "head_w", "qkn_w"]
DECAY = {"wte", "qkv_w", "proj_w", "fc_w", "fcp_w", "head_w"}  # weight matrices
NEGLIGIBLE = 1e-4
CASE_DEFAULTS = {"lr": 1e-3, "wd": 0.01, "warmup": 0, "clip": 1.0, "min_lr_ratio": 0.1,
                 "b1": 0.9, "b2": 0.999, "eps": 1e-8, "steps": 0}


class ReferenceError(Exception):
    """The file does not describe a model this script can rebuild."""


def truthy(v):
    if isinstance(v, str):
        return v.lower() in ("1", "true", "yes")
    return bool(v)


def param_shapes(cfg, n_enc, qkn=False):
    """name -> shape of every parameter, with zero-size ones left out."""
    V, d, N, Fw = cfg["vocab"], cfg["d"], cfg["layers"], cfg["ff"]
    layer = cfg["norm"] == "layernorm"
    shapes = {
        "wte": (V, d), "enc": (n_enc,),
        "ln1_w": (N, d), "ln1_b": (N, d) if layer else None,
        "qkv_w": (N, 3 * d, d), "qkv_b": (N, 3 * d),
        "proj_w": (N, d, d), "proj_b": (N, d),
        "ln2_w": (N, d), "ln2_b": (N, d) if layer else None,
        "fc_w": (N, Fw, d), "fc_b": (N, Fw),
        "fcp_w": (N, d, Fw), "fcp_b": (N, d),
        "lnf_w": (d,), "lnf_b": (d,) if layer else None,
        "head_w": None if truthy(cfg["tied"]) else (V, d),
        "qkn_w": (N, 2, d // cfg["heads"]) if qkn else None,
    }
    return {k: s for k, s in shapes.items() if s is not None and math.prod(s) > 0}


class Reference:
    """The posbench model of one config, run functionally on a dict of
    parameter tensors."""

    def __init__(self, cfg, dtype=torch.float32):
        missing = [k for k in ("vocab", "d", "heads", "layers", "ff", "norm", "causal", "tied",
                               "encoding", "max_len") if k not in cfg]
        if missing:
            raise ReferenceError(f"config lacks {', '.join(missing)}")
        self.cfg = dict(cfg)
        for k in ("vocab", "d", "heads", "layers", "ff", "max_len"):
            self.cfg[k] = int(cfg[k])
        if cfg["norm"] not in ("layernorm", "rmsnorm"):
            raise ReferenceError(f"norm '{cfg['norm']}' (valid: layernorm, rmsnorm)")
        self.causal = truthy(cfg["causal"])
        self.tied = truthy(cfg["tied"])
        self.dtype = dtype
        d, H = self.cfg["d"], self.cfg["heads"]
        if d % H:
            raise ReferenceError(f"d = {d} is not a multiple of heads = {H}")
        geo = {"d": d, "heads": H, "d_head": d // H, "causal": self.causal,
               "max_len": self.cfg["max_len"]}
        # per-layer records (docs/hybrids.md): layer_specs when the model has
        # them, else every layer the model's encoding, global
        specs = cfg.get("layer_specs")
        if specs is None:
            specs = [{"encoding": cfg["encoding"], "enc": cfg.get("enc")}] * self.cfg["layers"]
        if len(specs) != self.cfg["layers"]:
            raise ReferenceError(f"{len(specs)} layer records for {self.cfg['layers']} layers")
        self.specs = [dict(sp, enc=dict(sp.get("enc") or {})) for sp in specs]
        # layers with the same encoding and options share one instance and
        # one block of `enc`, in order of first use
        self.groups, self.layer_group, keys, off = [], [], [], 0
        for sp in self.specs:
            key = (sp["encoding"], sorted(sp["enc"].items()))
            if key not in keys:
                enc = torch_enc.make(sp["encoding"], geo, dict(sp["enc"]))
                enc.to(dtype)
                keys.append(key)
                self.groups.append((enc, off, int(enc.n_params)))
                off += int(enc.n_params)
            self.layer_group.append(keys.index(key))
        self.enc = self.groups[0][0]
        qkn = any(truthy(sp.get("qk_norm_weight", False)) for sp in self.specs)
        self.shapes = param_shapes(self.cfg, off, qkn)

    def span_mask(self, sp, T):
        """True where query a may not see key b: causal, then the layer's span."""
        a = torch.arange(T).unsqueeze(1)
        b = torch.arange(T).unsqueeze(0)
        blocked = b > a if self.causal else torch.zeros(T, T, dtype=torch.bool)
        if "window" in sp:
            blocked = blocked | (b <= a - int(sp["window"]))
        if "chunk" in sp:
            C = int(sp["chunk"])
            blocked = blocked | (b // C != a // C)
        return blocked if (self.causal or "window" in sp or "chunk" in sp) else None

    def temperature(self, sp, pos, T):
        """The factor on every query [B, T] (None when the layer has none or
        it applies at evaluation only: step files are training steps)."""
        t = sp.get("temperature")
        if not t or t.get("at", "always") == "eval":
            return None
        scale = float(t.get("scale", 1.0))
        if t["rule"] == "const":
            return torch.full(pos.shape[:2], scale, dtype=self.dtype)
        if t["rule"] == "log":
            p = pos[..., 0] if pos.dim() == 3 else pos
            return 1 + scale * torch.log(torch.floor((p.to(self.dtype) + 1) / float(t["floor_scale"])) + 1)
        # length: log of the keys each query sees
        n = (~self.span_mask(sp, T)).sum(-1).to(self.dtype) if self.span_mask(sp, T) is not None \
            else torch.full((T,), float(T), dtype=self.dtype)
        return (scale * torch.log(n)).expand(pos.shape[0], T)

    @staticmethod
    def qk_norm(x, w, eps):
        y = x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps)
        return y if w is None else y * w

    def norm(self, x, w, b):
        if self.cfg["norm"] == "layernorm":
            return F.layer_norm(x, (x.shape[-1],), w, b, eps=1e-5)
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + 1e-5) * w

    def forward(self, P, tokens, pos):
        """tokens [B,T] long, pos [B,T] or [B,T,2] long -> logits [B,T,V]."""
        cfg, enc = self.cfg, self.enc
        B, T = tokens.shape
        d, H = cfg["d"], cfg["heads"]
        dh = d // H
        layer = cfg["norm"] == "layernorm"

        def params(g):
            _, off, n = self.groups[g]
            return P["enc"][off:off + n] if n else None

        x = P["wte"][tokens]
        pe = enc.input(params(0), pos, T)  # only a uniform model has an input encoding
        if pe is not None:
            x = x + pe
        biases = [g[0].bias(params(i), pos, pos) for i, g in enumerate(self.groups)]
        for l in range(cfg["layers"]):
            sp, g = self.specs[l], self.layer_group[l]
            enc_l, e = self.groups[g][0], params(g)
            bias = biases[g]  # the same for every layer of the group
            scale = float(enc_l.logit_scale) / math.sqrt(dh)
            h = self.norm(x, P["ln1_w"][l], P["ln1_b"][l] if layer else None)
            qkv = h @ P["qkv_w"][l].t() + P["qkv_b"][l]
            q, k, v = (t.reshape(B, T, H, dh).transpose(1, 2) for t in qkv.split(d, dim=-1))
            qkn = sp.get("qk_norm")
            wq = wk = None
            if truthy(sp.get("qk_norm_weight", False)):
                wq, wk = P["qkn_w"][l][0], P["qkn_w"][l][1]
            eps = float(sp.get("qk_norm_eps", 1e-6))
            if qkn == "pre":
                q, k = self.qk_norm(q, wq, eps), self.qk_norm(k, wk, eps)
            q2 = enc_l.qk(e, q, pos, False)
            k2 = enc_l.qk(e, k, pos, True)
            q = q if q2 is None else q2
            k = k if k2 is None else k2
            if qkn == "post":
                q, k = self.qk_norm(q, wq, eps), self.qk_norm(k, wk, eps)
            f = self.temperature(sp, pos, T)
            if f is not None:
                q = q * f[:, None, :, None]
            s = (q @ k.transpose(-1, -2)) * scale
            if bias is not None:
                s = s + bias
            if "softcap" in sp:
                c = float(sp["softcap"])
                s = c * torch.tanh(s / c)
            mask = self.span_mask(sp, T)
            if mask is not None:
                s = s.masked_fill(mask, float("-inf"))
            o = (torch.softmax(s, dim=-1) @ v).transpose(1, 2).reshape(B, T, d)
            x = x + o @ P["proj_w"][l].t() + P["proj_b"][l]
            h = self.norm(x, P["ln2_w"][l], P["ln2_b"][l] if layer else None)
            f = F.gelu(h @ P["fc_w"][l].t() + P["fc_b"][l], approximate="tanh")
            x = x + f @ P["fcp_w"][l].t() + P["fcp_b"][l]
        x = self.norm(x, P["lnf_w"], P["lnf_b"] if layer else None)
        head = P["wte"] if self.tied else P["head_w"]
        return x @ head.t()

    @staticmethod
    def loss(logits, targets, mask):
        V = logits.shape[-1]
        ce = F.cross_entropy(logits.reshape(-1, V), targets.reshape(-1), reduction="none")
        m = mask.reshape(-1)
        return (ce * m).sum() / m.sum()


def lr_at(t, case):
    """The schedule of docs/model.md for update t (0-based)."""
    lr, warmup, steps, r = case["lr"], int(case["warmup"]), int(case["steps"]), case["min_lr_ratio"]
    if t < warmup:
        return lr * (t + 1) / warmup
    return lr * (r + (1 - r) * 0.5 * (1 + math.cos(math.pi * (t - warmup) / max(1, steps - warmup))))


def rel_err(c, ref):
    c = torch.as_tensor(c, dtype=torch.float64)
    ref = torch.as_tensor(ref, dtype=torch.float64)
    if c.shape != ref.shape:
        return float("inf")
    if c.numel() == 0:
        return 0.0
    if not torch.isfinite(c).all() or not torch.isfinite(ref).all():
        return 0.0 if torch.equal(c, ref) else float("inf")
    return float((c - ref).abs().max() / max(float(ref.abs().max()), 1e-6))


def load(path, dtype=torch.float32):
    """Reads a step file -> (Reference, initial params, batch dict, case, tensors)."""
    try:
        meta, T = pbt.read(path)
    except (OSError, pbt.PbtError) as e:
        raise ReferenceError(str(e)) from None
    if "config" not in meta:
        raise ReferenceError(f"{path}: meta has no 'config'")
    ref = Reference(meta["config"], dtype)
    case = dict(CASE_DEFAULTS)
    case.update(meta.get("case", {}))
    P = {}
    for name, shape in ref.shapes.items():
        if name not in T:
            raise ReferenceError(f"{path}: parameter '{name}' {list(shape)} is missing")
        if tuple(T[name].shape) != tuple(shape):
            raise ReferenceError(f"{path}: parameter '{name}' has shape {list(T[name].shape)}, "
                                 f"the config gives {list(shape)}")
        P[name] = torch.tensor(T[name], dtype=dtype)
    extra = [n for n in T if n in PARAM_NAMES and n not in ref.shapes]
    if extra:
        raise ReferenceError(f"{path}: parameters {extra} should not exist for this config")
    for name in ("tokens", "targets", "mask", "pos"):
        if name not in T:
            raise ReferenceError(f"{path}: tensor '{name}' is missing")
    batch = {"tokens": torch.tensor(T["tokens"], dtype=torch.long),
             "targets": torch.tensor(T["targets"], dtype=torch.long),
             "mask": torch.tensor(T["mask"], dtype=dtype),
             "pos": torch.tensor(T["pos"], dtype=torch.long)}
    V = ref.cfg["vocab"]
    for name in ("tokens", "targets"):
        t = batch[name]
        if t.numel() and (t.min() < 0 or t.max() >= V):
            raise ReferenceError(f"{path}: '{name}' holds token ids outside [0, {V})")
    return ref, P, batch, case, T


def compute(ref, P0, batch, case, first_grads=None):
    """Everything a step file records, recomputed: name -> tensor (logits,
    loss, grad.*, losses, final.*), plus for each parameter the mask of
    entries whose gradient stayed negligible during the steps (see check).

    first_grads (name -> array), when given, replaces the reference's own
    gradient in the first AdamW update. Adam's first step is
    lr * g / (|g| + eps), about lr * sign(g): an entry whose gradient is
    below float32 rounding noise takes a step of +-lr with a random sign,
    and that kick changes every later step. Feeding both sides the same
    first gradient (checked on its own against the reference) keeps the
    replay on the C model's trajectory; later steps use the reference's
    own gradients, as by then v has averaged over several gradients."""
    R = {}
    P = {k: v.clone().requires_grad_(True) for k, v in P0.items()}
    logits = ref.forward(P, batch["tokens"], batch["pos"])
    loss = ref.loss(logits, batch["targets"], batch["mask"])
    loss.backward()
    R["logits"], R["loss"] = logits.detach(), loss.detach().reshape(1)
    for name in P:
        R["grad." + name] = P[name].grad
    negligible, lr_sum = {}, 0.0
    steps = int(case["steps"])
    if steps > 0:
        P = {k: v.clone().requires_grad_(True) for k, v in P0.items()}
        groups = [{"params": [P[n] for n in P if n in DECAY], "weight_decay": case["wd"]},
                  {"params": [P[n] for n in P if n not in DECAY], "weight_decay": 0.0}]
        opt = torch.optim.AdamW(groups, lr=case["lr"], betas=(case["b1"], case["b2"]),
                                eps=case["eps"])
        losses, gmax = [], {n: torch.zeros_like(v) for n, v in P.items()}
        for t in range(steps):
            for g in opt.param_groups:
                g["lr"] = lr_at(t, case)
            lr_sum += lr_at(t, case)
            opt.zero_grad()
            l = ref.loss(ref.forward(P, batch["tokens"], batch["pos"]), batch["targets"], batch["mask"])
            losses.append(l.detach())
            l.backward()
            if t == 0 and first_grads is not None:
                for n, v in P.items():
                    v.grad.copy_(torch.as_tensor(first_grads[n], dtype=v.dtype))
            for n, v in P.items():
                gmax[n] = torch.maximum(gmax[n], v.grad.abs())
            if case["clip"] > 0:
                torch.nn.utils.clip_grad_norm_(list(P.values()), case["clip"])
            opt.step()
        R["losses"] = torch.stack(losses)
        for name in P:
            R["final." + name] = P[name].detach()
            negligible[name] = gmax[name] < NEGLIGIBLE * float(gmax[name].max())
    return R, negligible, lr_sum


def check(path, tol=1e-4, final_tol=1e-3, dtype=torch.float32, out=print, rounding=3.0):
    """Compares everything in the file with the reference; returns (ok,
    list of failing names).

    Entries whose gradient stayed negligible (below NEGLIGIBLE times the
    largest of their tensor) during the steps move by Adam-amplified rounding
    noise, e.g. the key bias, whose gradient is exactly zero when softmax is
    shift-invariant: their direction is not determined, only that each step
    moves them by at most about lr. They are held to 2 * sum(lr_t) instead.

    When some tensor misses its tolerance and `rounding` is set, the case is
    recomputed in float64 and in float32: a tensor still passes when its C
    error against float64 is at most `rounding` times PyTorch's own float32
    error against float64, i.e. the disagreement is float32 rounding of an
    ill-conditioned computation (integer positions added to every component
    make layernorm cancel catastrophically, for instance), not a bug."""
    ref, P0, batch, case, T = load(path, dtype)
    first = {n: T["grad." + n] for n in P0} if all("grad." + n in T for n in P0) else None
    R, negligible, lr_sum = compute(ref, P0, batch, case, first)
    names = ["logits", "loss"] + ["grad." + n for n in P0]
    if int(case["steps"]) > 0:
        names += ["losses"] + ["final." + n for n in P0]
    errs, notes, failures = {}, {}, []
    for name in names:
        if name not in T:
            errs[name] = float("inf")
            notes[name] = "missing from the file"
            continue
        c = torch.as_tensor(T[name], dtype=torch.float64)
        r = R[name].to(torch.float64)
        notes[name] = ""
        loose = negligible.get(name[6:]) if name.startswith("final.") else None
        if loose is not None and loose.any() and c.shape == r.shape:
            far = float((c - r).abs()[loose].max())
            bound = 2 * lr_sum
            notes[name] = (f"  ({int(loose.sum())} with negligible gradient: max abs diff {far:.1e}"
                           f" <= {bound:.1e}{'' if far <= bound else ' FAIL'})")
            if not far <= bound:
                failures.append(name)
            c, r = c[~loose], r[~loose]
        errs[name] = rel_err(c, r)
    limit = {n: (final_tol if n.startswith("final.") else tol) for n in names}
    over = [n for n in names if not errs[n] <= limit[n] and n in T]
    explained = {}
    if over and rounding:
        # How far is float32 itself from float64 here?
        ref64, P64, batch64, _, _ = load(path, torch.float64)
        R64, _, _ = compute(ref64, P64, batch64, case, first)
        if dtype != torch.float32:
            ref, P0, batch, _, _ = load(path, torch.float32)
            R, _, _ = compute(ref, P0, batch, case, first)
        for n in (n for n in over if tuple(T[n].shape) == tuple(R64[n].shape)):
            keep = ~negligible[n[6:]] if n.startswith("final.") and n[6:] in negligible \
                else torch.ones(R64[n].shape, dtype=torch.bool)
            c = torch.as_tensor(T[n], dtype=torch.float64)[keep]
            e_c = rel_err(c, R64[n][keep])
            e_t = rel_err(R[n].to(torch.float64)[keep], R64[n][keep])
            explained[n] = e_c <= rounding * e_t
            notes[n] += (f"  [vs float64: C {e_c:.1e}, PyTorch float32 {e_t:.1e}: "
                         f"{'float32 rounding' if explained[n] else 'NOT rounding'}]")
    for name in names:
        bad = not errs[name] <= limit[name] and not explained.get(name, False)
        if name in T:
            out(f"  {name:16s} {list(T[name].shape)!s:18s} max rel err {errs[name]:.2e}"
                f"{'  FAIL' if bad else ''}{notes[name]}")
        else:
            out(f"  {name:16s} {notes[name]}")
        if bad and name not in failures:
            failures.append(name)
    return not failures, failures


def synthesize(path, cfg, case, B=4, T=6, seed=0, pos=None):
    """Writes a step file computed by this reference itself (in double), in
    the layout pb.check_step uses: for testing the reader and the
    comparisons without the C model."""
    g = torch.Generator().manual_seed(seed)
    ref = Reference(cfg, torch.float64)
    N = ref.cfg["layers"]
    P = {}
    for name, shape in ref.shapes.items():
        if name.endswith("_b") or name == "enc":
            P[name] = 0.1 * torch.randn(shape, generator=g, dtype=torch.float64)
        elif name.startswith("ln"):
            P[name] = 1 + 0.1 * torch.randn(shape, generator=g, dtype=torch.float64)
        else:
            std = 0.02 / math.sqrt(2 * N) if name in ("proj_w", "fcp_w") else 0.02
            P[name] = 10 * std * torch.randn(shape, generator=g, dtype=torch.float64)
    P = {k: v.float().double() for k, v in P.items()}  # representable in f32
    V = ref.cfg["vocab"]
    tensors = dict(P)
    tensors["tokens"] = torch.randint(0, V, (B, T), generator=g)
    tensors["targets"] = torch.randint(0, V, (B, T), generator=g)
    mask = (torch.rand(B, T, generator=g) < 0.7).double()
    mask[0, 0] = 1
    tensors["mask"] = mask
    tensors["pos"] = torch.arange(T).expand(B, T).clone() if pos is None else pos
    full = dict(CASE_DEFAULTS)
    full.update(case)
    full.update(batch=B, length=T)
    meta = {"config": cfg, "case": full}
    pbt.write(path, meta, {k: v.numpy() for k, v in tensors.items()})
    ref, P0, batch, case, _ = load(path, torch.float64)
    R, _, _ = compute(ref, P0, batch, case)
    tensors.update(R)
    pbt.write(path, meta, {k: v.detach().numpy() for k, v in tensors.items()})


def describe(path):
    meta, _ = pbt.read(path)
    c = meta.get("config", {})
    keys = ("encoding", "norm", "causal", "tied", "vocab", "d", "heads", "layers", "ff")
    s = " ".join(f"{k}={c.get(k)}" for k in keys)
    if c.get("enc"):
        s += " enc=" + ",".join(f"{k}={v}" for k, v in c["enc"].items())
    return s


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("file")
    ap.add_argument("--tol", type=float, default=1e-4, help="forward, gradients, losses")
    ap.add_argument("--final-tol", type=float, default=1e-3, help="parameters after the steps")
    ap.add_argument("--float64", action="store_true", help="run the reference in double")
    a = ap.parse_args(argv)
    torch.set_num_threads(1)
    try:
        print(f"{a.file}: {describe(a.file)}")
        ok, failures = check(a.file, a.tol, a.final_tol,
                             torch.float64 if a.float64 else torch.float32)
    except (ReferenceError, pbt.PbtError, OSError, KeyError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print("agree" if ok else f"MISMATCH: {', '.join(failures)}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
