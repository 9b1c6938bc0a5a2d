"""YaRN frequencies and attention scale of posbench's rope against the YaRN
authors' code (jquesnelle/yarn, scaled_rope/LlamaYaRNScaledRotaryEmbedding,
the same computation HF transformers' _compute_yarn_parameters makes), and
scaling.ramp="paper" against the paper's equation. Both references are
written out below; posbench's frequencies are read from the encoding probe
(the angle pair k turns by at position 1).

    BUILD=build /usr/bin/python3 tests/torch/test_yarn.py
"""
import math
import sys

import torch

from posbench_lua import run_lua

BASE = 10000.0


def authors_yarn(d_rot, L, s, beta_fast, beta_slow, attn_factor):
    """inv_freq (float32) and mscale as the authors' code builds them: the
    dims where a frequency turns beta times over L, rounded outwards to whole
    pairs, and a ramp that is linear in the pair index between them."""
    exponent = torch.arange(0, d_rot, 2).float() / d_rot
    extrapolated = 1.0 / BASE ** exponent
    interpolated = 1.0 / (s * BASE ** exponent)

    def dim_of(turns):  # the (fractional) dim whose frequency turns `turns` times in L
        return d_rot * math.log(L / (turns * 2 * math.pi)) / (2 * math.log(BASE))

    lo = max(math.floor(dim_of(beta_fast)), 0)
    hi = min(math.ceil(dim_of(beta_slow)), d_rot - 1)
    if hi == lo:
        hi += 0.001
    rise = ((torch.arange(d_rot // 2, dtype=torch.float32) - lo) / (hi - lo)).clamp(0, 1)
    keep = 1 - rise  # weight of the unscaled frequency
    inv_freq = interpolated * (1 - keep) + extrapolated * keep
    mscale = (0.1 * math.log(s) + 1.0 if s > 1 else 1.0) * attn_factor
    return inv_freq.tolist(), mscale


def paper_yarn(d_rot, L, s, beta_fast, beta_slow):
    """Peng et al. 2023, eq. 'NTK-by-parts': h(theta_d) = (1 - gamma(r)) theta/s
    + gamma(r) theta, r = L / lambda_d, gamma linear from beta_slow to beta_fast."""
    out = []
    for k in range(d_rot // 2):
        theta = BASE ** (-2.0 * k / d_rot)
        r = L / (2 * math.pi / theta)
        gamma = min(1.0, max(0.0, (r - beta_slow) / (beta_fast - beta_slow)))
        out.append((1 - gamma) * theta / s + gamma * theta)
    return out


# (d_head, fraction, original length, factor, beta_fast, beta_slow, attn_factor
# in the authors' sense: a factor on top of 0.1 ln s + 1)
cases = [
    (128, 1.0, 4096, 16.0, 32.0, 1.0, 1.0),
    (64, 1.0, 2048, 8.0, 32.0, 1.0, 1.0),
    (64, 0.5, 4096, 4.0, 16.0, 2.0, 1.2),
    (96, 0.75, 8192, 32.0, 64.0, 1.0, 0.8),
    (32, 1.0, 64, 2.0, 32.0, 1.0, 1.0),
    (16, 1.0, 512, 4.0, 8.0, 0.5, 1.0),
    (48, 1.0, 1000, 3.0, 24.0, 1.5, 1.0),
    (64, 1.0, 256, 0.5, 32.0, 1.0, 1.0),
]

lua = """
local out = assert(io.open(arg_out, "w"))
for _, c in ipairs(cases) do
  local dh, fraction, L, s, bf, bs, af, ramp = table.unpack(c)
  local sc = { type = "yarn", factor = s, original_len = L, beta_fast = bf, beta_slow = bs }
  if af > 0 then sc.attn_factor = af end
  if ramp == 1 then sc.ramp = "paper" end
  local e = pb.encoding("rope", { d_head = dh, heads = 1, fraction = fraction, scaling = sc })
  local d_rot = math.floor(fraction * dh / 2) * 2
  local row = { string.format("%.17g", e:info().logit_scale) }
  for k = 0, d_rot / 2 - 1 do
    local v = {}
    for i = 1, dh do v[i] = 0 end
    v[2 * k + 1] = 1
    local w = e:transform(v, 1)
    row[#row + 1] = string.format("%.17g", math.atan(w[2 * k + 2], w[2 * k + 1]))
  end
  out:write(table.concat(row, " "), "\\n")
end
out:close()
"""

# posbench runs: each case with the default ramp (attn_factor left to its
# default when the authors' factor is 1, else given as the total), then with
# ramp = "paper".
runs = []
for dh, fraction, L, s, bf, bs, af in cases:
    mscale_default = 0.1 * math.log(s) + 1.0 if s > 1 else 1.0
    total = -1.0 if af == 1.0 else mscale_default * af
    runs.append((dh, fraction, L, s, bf, bs, total, 0))
    runs.append((dh, fraction, L, s, bf, bs, -1.0, 1))
rows = run_lua("cases = {" + ", ".join("{%d, %r, %d, %r, %r, %r, %r, %d}" % r for r in runs) +
               "}", lua)

passed = failed = 0


def check(ok, msg):
    global passed, failed
    passed, failed = passed + ok, failed + (not ok)
    print(f"{'ok  ' if ok else 'FAIL'}  {msg}")


def worst_rel(got, want):
    return max(abs(a - b) / abs(b) for a, b in zip(got, want))


for i, (dh, fraction, L, s, bf, bs, af) in enumerate(cases):
    d_rot = int(math.floor(fraction * dh / 2)) * 2
    code, paper = rows[2 * i], rows[2 * i + 1]
    inv_freq, mscale = authors_yarn(d_rot, L, s, bf, bs, af)
    name = f"d_head={dh} fraction={fraction} L={L} s={s} beta={bf}/{bs} attn_factor={af}"
    w = worst_rel(code[1:], inv_freq)
    check(len(code) == 1 + d_rot // 2 and w < 2e-5,
          f"default ramp = authors' inv_freq, {name} (worst relative {w:.2g})")
    check(abs(code[0] - mscale * mscale) < 1e-6 * mscale * mscale,
          f"logit scale = authors' mscale^2 = {mscale * mscale:.6g}: {code[0]:.6g}")
    w = worst_rel(paper[1:], paper_yarn(d_rot, L, s, bf, bs))
    check(w < 2e-5, f"ramp=paper = the paper's formula, {name} (worst relative {w:.2g})")

# the two ramps differ in the middle (d_head 128, L 4096, factor 16, pair 38)
code, paper = rows[0][1 + 38], rows[1][1 + 38]
check(abs(code - 1.48e-3) < 1e-5 and abs(paper - 4.87e-4) < 1e-5,
      f"pair 38: code ramp {code:.3g}, paper ramp {paper:.3g}")
print(f"{passed} passed, {failed} failed")
sys.exit(1 if failed else 0)
