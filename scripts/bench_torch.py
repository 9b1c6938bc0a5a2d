#!/usr/bin/python3
"""PyTorch peer of `posbench bench`: the same model trained the same way, for
a tokens-per-second comparison (scripts/bench.sh).

    scripts/bench_torch.py --d 128 --layers 4 --heads 4 --T 128 --batch 32 \
        --vocab 64 --encoding rope --threads 2 [--steps 20 --warmup 3]

Model: pre-norm transformer as docs/model.md with ff = 4d, layernorm, tied
head, causal attention; encoding rope (base 10000, half-split pairs, cos/sin
precomputed once) or none. Training: AdamW (decay on weight matrices only),
gradient clipping at 1.0, next-token cross-entropy on random tokens with
exactly T tokens per sequence. The last line printed is tokens_per_s=N
(training tokens B*T per step, timed over the steps after the warm-up).

Kept fast on purpose: threads fixed before torch loads (OpenMP and the
OpenBLAS pool both), no anomaly detection, fused linear layers
(addmm), F.scaled_dot_product_attention when this torch has it, and
set_to_none gradients.
"""

import argparse
import math
import os
import resource
import sys
import time


def parse():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--d", type=int, default=128)
    ap.add_argument("--layers", type=int, default=4)
    ap.add_argument("--heads", type=int, default=4)
    ap.add_argument("--T", type=int, default=128)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--vocab", type=int, default=64)
    ap.add_argument("--encoding", choices=("rope", "none"), default="rope")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--blas-threads", type=int, default=None,
                    help="OpenBLAS pool size (default: --threads)")
    ap.add_argument("--steps", type=int, default=20, help="timed steps")
    ap.add_argument("--warmup", type=int, default=3, help="untimed steps first")
    ap.add_argument("--seed", type=int, default=1)
    return ap.parse_args()


args = parse()
# Thread pools are sized when torch loads: fix them first, so that
# --threads 1 really is one thread (OpenBLAS has its own pool).
os.environ["OMP_NUM_THREADS"] = os.environ["MKL_NUM_THREADS"] = str(args.threads)
os.environ["OPENBLAS_NUM_THREADS"] = str(args.blas_threads or args.threads)

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

SDPA = getattr(F, "scaled_dot_product_attention", None)  # torch >= 2.0


class Rope(torch.nn.Module):
    """Half-split RoPE (GPT-NeoX pairing: i with i + d_h/2), angles p*theta_k,
    theta_k = 10000^(-2k/d_h); cos/sin precomputed for positions 0..T-1."""

    def __init__(self, d_head, T, base=10000.0):
        super().__init__()
        half = d_head // 2
        theta = base ** (-torch.arange(half, dtype=torch.float64) * 2 / d_head)
        ang = torch.arange(T, dtype=torch.float64)[:, None] * theta[None, :]
        self.register_buffer("cos", torch.cat([ang.cos(), ang.cos()], -1).float())
        self.register_buffer("sin", torch.cat([-ang.sin(), ang.sin()], -1).float())
        self.half = half

    def forward(self, x):  # x [B,H,T,d_h]
        h = self.half
        rot = torch.cat([x[..., h:], x[..., :h]], dim=-1)
        return torch.addcmul(x * self.cos, rot, self.sin)


class Block(torch.nn.Module):
    def __init__(self, d, heads, T, rope):
        super().__init__()
        self.h, self.dh = heads, d // heads
        self.ln1 = torch.nn.LayerNorm(d)
        self.qkv = torch.nn.Linear(d, 3 * d)
        self.proj = torch.nn.Linear(d, d)
        self.ln2 = torch.nn.LayerNorm(d)
        self.fc = torch.nn.Linear(d, 4 * d)
        self.fcp = torch.nn.Linear(4 * d, d)
        self.rope = rope
        self.register_buffer("mask", torch.full((T, T), float("-inf")).triu(1))

    def forward(self, x):
        B, T, d = x.shape
        q, k, v = self.qkv(self.ln1(x)).view(B, T, 3, self.h, self.dh).permute(2, 0, 3, 1, 4)
        if self.rope is not None:
            q, k = self.rope(q), self.rope(k)
        if SDPA is not None:
            o = SDPA(q, k, v, is_causal=True)
        else:
            s = torch.baddbmm(self.mask.expand(B * self.h, T, T), q.reshape(-1, T, self.dh),
                              k.reshape(-1, T, self.dh).transpose(1, 2), alpha=1 / math.sqrt(self.dh))
            o = torch.bmm(torch.softmax(s, dim=-1), v.reshape(-1, T, self.dh)).view(B, self.h, T, self.dh)
        x = x + self.proj(o.transpose(1, 2).reshape(B, T, d))
        return x + self.fcp(F.gelu(self.fc(self.ln2(x)), approximate="tanh"))


class Model(torch.nn.Module):
    def __init__(self, a):
        super().__init__()
        self.wte = torch.nn.Embedding(a.vocab, a.d)
        rope = Rope(a.d // a.heads, a.T) if a.encoding == "rope" else None
        self.blocks = torch.nn.ModuleList(Block(a.d, a.heads, a.T, rope) for _ in range(a.layers))
        self.lnf = torch.nn.LayerNorm(a.d)
        for name, p in self.named_parameters():
            if name.endswith("weight") and p.dim() == 2:
                std = 0.02 / math.sqrt(2 * a.layers) if ("proj" in name or "fcp" in name) else 0.02
                torch.nn.init.normal_(p, 0.0, std)
            elif name.endswith("bias"):
                torch.nn.init.zeros_(p)

    def forward(self, tokens):
        x = self.wte(tokens)
        for b in self.blocks:
            x = b(x)
        return self.lnf(x) @ self.wte.weight.t()  # tied head


def main():
    torch.set_num_threads(args.threads)
    torch.autograd.set_detect_anomaly(False)
    torch.manual_seed(args.seed)
    model = Model(args)
    decay = [p for n, p in model.named_parameters() if p.dim() == 2]
    rest = [p for n, p in model.named_parameters() if p.dim() != 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.01},
                             {"params": rest, "weight_decay": 0.0}], lr=1e-3)
    g = torch.Generator().manual_seed(args.seed)
    data = torch.randint(0, args.vocab, (args.batch, args.T + 1), generator=g)
    inputs, targets = data[:, :-1].contiguous(), data[:, 1:].contiguous().view(-1)

    def step():
        opt.zero_grad(set_to_none=True)
        loss = F.cross_entropy(model(inputs).view(-1, args.vocab), targets)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        return loss

    for _ in range(args.warmup):
        step()
    t0 = time.perf_counter()
    for _ in range(args.steps):
        loss = step()
    dt = time.perf_counter() - t0
    n_params = sum(p.numel() for p in model.parameters())
    print(f"torch={torch.__version__}")
    print(f"threads={args.threads}")
    print(f"params={n_params}")
    print(f"attention={'sdpa' if SDPA else 'baddbmm+softmax+bmm'}")
    print(f"final_loss={float(loss):.4f}")
    print(f"step_ms={1000 * dt / args.steps:.2f}")
    print(f"peak_rss_mb={resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.1f}")
    print(f"tokens_per_s={args.batch * args.T * args.steps / dt:.1f}")


if __name__ == "__main__":
    sys.exit(main())
