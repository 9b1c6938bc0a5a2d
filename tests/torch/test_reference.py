#!/usr/bin/python3
"""The C model against the independent PyTorch reference, for every encoding.

    BUILD=build /usr/bin/python3 tests/torch/test_reference.py [NAME...]

First a self-check of the comparison: a step file made by the reference itself
must pass, and the same file with one gradient entry perturbed must fail and
name that tensor. Then, for each encoding of `posbench list encodings --names`
(or the names given), two cases: causal and bidirectional, with layernorm /
rmsnorm and tied / untied heads alternating across encodings so that every
combination occurs without running the full product. 2D encodings run on the
grid2d task with grid positions. Each case: tests/torch/check_step.lua writes
the step file, scripts/torch_reference.py checks it. Prints one line per case
and "N passed, N failed"; exits non-zero if any failed.
"""

import io
import os
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "scripts"))

import torch  # noqa: E402

import pbt  # noqa: E402
import torch_enc  # noqa: E402
import torch_reference as R  # noqa: E402

BUILD = os.environ.get("BUILD", "build")
POSBENCH = os.path.join(ROOT, BUILD, "posbench")
TWO_D = ("rope2d", "2d")  # names containing these are 2D encodings


def is_2d(name):
    cls = torch_enc.ENCODINGS.get(name)
    if cls is not None and getattr(cls, "pos_dims", 1) == 2:
        return True
    return any(s in name for s in TWO_D)


def self_check(tmp):
    """The comparison accepts a correct file and rejects perturbed ones."""
    cfg = dict(vocab=6, d=16, heads=2, layers=2, ff=32, norm="layernorm", causal=True,
               tied=False, encoding="none", enc={}, max_len=16)
    path = os.path.join(tmp, "self.pbt")
    R.synthesize(path, cfg, dict(steps=10, lr=1e-2, wd=0.1, warmup=2))
    quiet = lambda *a: None  # noqa: E731
    ok, _ = R.check(path, out=quiet)
    results = [("self-check: reference file agrees", ok)]
    meta, T = pbt.read(path)

    g = dict(T)
    g["grad.fc_w"] = T["grad.fc_w"].copy()
    g["grad.fc_w"].flat[7] += 1e-3 * abs(T["grad.fc_w"]).max()
    pbt.write(path, meta, g)
    ok, failures = R.check(path, out=quiet)
    results.append(("self-check: perturbed grad.fc_w is caught", not ok and "grad.fc_w" in failures
                    and not any(f.startswith("grad.") and f != "grad.fc_w" for f in failures)))

    m = {"config": meta["config"], "case": dict(meta["case"], wd=0.05)}
    pbt.write(path, m, T)
    ok, failures = R.check(path, out=quiet)
    results.append(("self-check: weight decay 0.1 vs 0.05 is caught",
                    not ok and "final.fc_w" in failures and "final.ln1_w" not in failures))
    return results


def encodings():
    names = [a for a in sys.argv[1:] if not a.startswith("-")]
    if names:
        return names
    r = subprocess.run([POSBENCH, "list", "encodings", "--names"], capture_output=True, text=True)
    if r.returncode != 0:
        raise SystemExit(f"{POSBENCH} list encodings --names failed:\n{r.stderr}")
    return [line.strip() for line in r.stdout.splitlines() if line.strip()]


# Option variants that take other code paths (pairing, partial rotation,
# context-extension scalings, YaRN's logit scale, signed bits, T5 buckets),
# one case each.
VARIANTS = [
    ("rope", {"pairing": "half"}),
    ("rope", {"fraction": 0.5}),
    ("rope", {"p": 0.5, "base": 100}),
    ("rope", {"scaling.type": "pi", "scaling.factor": 2}),
    ("rope", {"scaling.type": "ntk", "scaling.factor": 4}),
    ("rope", {"scaling.type": "dynamic_ntk", "scaling.factor": 2, "scaling.original_len": 8}),
    ("rope", {"scaling.type": "yarn", "scaling.factor": 4}),
    ("rope", {"scaling.type": "yarn", "scaling.factor": 4, "scaling.original_len": 256}),
    ("rope", {"scaling.type": "yarn", "scaling.factor": 4, "scaling.original_len": 256,
              "scaling.ramp": "paper"}),
    ("xpos", {"scale_base": 8}),
    ("binary", {"signed": 1, "bits": 4}),
    ("sinusoidal", {"base": 100, "scale": 0.05}),
    ("t5", {"buckets": 8, "max_distance": 16}),
    ("kerple_power", {"r1": 0.5, "r2": 1.5}),
    ("fire", {"hidden": 8, "init_c": 0.5}),
]


# Per-layer models (tests/torch/check_step.lua SPECS): windows, chunks,
# temperature, QK-norm before and after the rotation, soft-capping, several
# encodings with their own parameters; causal, norm and tying alternate.
HYBRIDS = ["rnope_swa", "irope", "gemma3", "softcap_bias", "xpos_chunk_t5", "partial_window"]


def cases(names):
    """Two cases per encoding; norm and tying alternate over the list."""
    out = []
    for i, name in enumerate(names):
        for k, causal in enumerate((True, False)):
            # over any 4 consecutive encodings, causal and bidirectional each
            # meet all four (norm, tied) combinations
            # the bidirectional case also takes a warm-up and a weight decay
            # large enough to show in the final parameters (0.01 moves them
            # by less than the tolerance)
            out.append({"encoding": name, "causal": causal,
                        "norm": "layernorm" if (i + k) % 2 == 0 else "rmsnorm",
                        "tied": (i // 2 + k) % 2 == 1,
                        "task": "grid2d" if is_2d(name) else "copy",
                        "wd": 0.01 if causal else 0.1, "warmup": 0 if causal else 3, "enc": {}})
    for i, (name, enc) in enumerate(v for v in VARIANTS if v[0] in names):
        out.append({"encoding": name, "causal": i % 2 == 0,
                    "norm": "layernorm" if i % 4 < 2 else "rmsnorm", "tied": i % 3 == 0,
                    "task": "copy", "wd": 0.01, "warmup": 0, "enc": enc})
    if not [a for a in sys.argv[1:] if not a.startswith("-")]:
        for i, spec in enumerate(HYBRIDS):
            out.append({"encoding": "rope", "spec": spec, "causal": True,
                        "norm": "layernorm" if i % 2 == 0 else "rmsnorm", "tied": i % 3 == 0,
                        "task": "copy", "wd": 0.01, "warmup": 0, "enc": {}})
    return out


def run_case(c, tmp):
    if c["encoding"] not in torch_enc.ENCODINGS:
        return None, str(torch_enc.MissingTwin(c["encoding"])), ""
    path = os.path.join(tmp, "case.pbt")
    cmd = [POSBENCH, "run", os.path.join(ROOT, "tests/torch/check_step.lua"),
           f"encoding={c['encoding']}", f"causal={str(c['causal']).lower()}",
           f"norm={c['norm']}", f"tied={str(c['tied']).lower()}", f"task={c['task']}",
           f"wd={c['wd']}", f"warmup={c['warmup']}", f"out={path}"]
    cmd += [f"enc.{k}={v}" for k, v in c["enc"].items()]
    if c.get("spec"):
        cmd.append(f"spec={c['spec']}")
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    if r.returncode != 0:
        return False, "posbench failed: " + (r.stderr.strip() or r.stdout.strip())[-400:], ""
    log = io.StringIO()
    try:
        ok, failures = R.check(path, out=lambda s: print(s, file=log))
    except (R.ReferenceError, KeyError, TypeError, ValueError, NotImplementedError) as e:
        return False, f"reference: {type(e).__name__}: {e}", log.getvalue()
    return ok, ("" if ok else "mismatch: " + ", ".join(failures)), log.getvalue()


def main():
    torch.set_num_threads(1)
    passed = failed = 0
    no_twin = set()
    start = time.time()
    with tempfile.TemporaryDirectory(prefix="pb_torch_ref.") as tmp:
        for label, ok in self_check(tmp):
            print(f"{'ok  ' if ok else 'FAIL'}  {label}")
            passed += ok
            failed += not ok
        if not os.access(POSBENCH, os.X_OK):
            print(f"FAIL  {POSBENCH} not built")
            failed += 1
        else:
            for c in cases(encodings()):
                t0 = time.time()
                ok, why, log = run_case(c, tmp)
                if ok is None:  # nothing to compare with: say so, once per encoding
                    if c["encoding"] not in no_twin:
                        print(f"skip  {c['encoding']}: {why}")
                    no_twin.add(c["encoding"])
                    continue
                label = (f"{c.get('spec') or c['encoding']:14s} {'causal' if c['causal'] else 'bidir ':6s} "
                         f"{c['norm']:9s} {'tied  ' if c['tied'] else 'untied'} {c['task']:6s} "
                         f"wd={c['wd']:<4} warmup={c['warmup']}"
                         + "".join(f" {k}={v}" for k, v in c["enc"].items()))
                print(f"{'ok  ' if ok else 'FAIL'}  {label} {time.time() - t0:5.1f}s  {why}")
                if not ok and log:
                    print("\n".join("        " + line for line in log.splitlines()))
                passed += ok
                failed += not ok
    print(f"({time.time() - start:.0f} s)")
    missing = f", not compared (no PyTorch twin): {', '.join(sorted(no_twin))}" if no_twin else ""
    print(f"{passed} passed, {failed} failed{missing}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
