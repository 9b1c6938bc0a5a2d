"""Hook-level agreement of the additive and bias encodings with their PyTorch
versions: each C test program dumps values and parameter gradients
(`--dump`), and scripts/torch_enc/{additive,bias}.py recompute them.

    BUILD=build /usr/bin/python3 tests/torch/test_encoding_hooks.py
"""
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BUILD = os.environ.get("BUILD", "build")
passed = failed = 0
for script, program in (("additive.py", "test_enc_additive"), ("bias.py", "test_enc_bias")):
    binary = os.path.join(ROOT, BUILD, "tests", program)
    run = subprocess.run([sys.executable, os.path.join(ROOT, "scripts", "torch_enc", script),
                          binary], capture_output=True, text=True)
    print(run.stdout, end="")
    print(run.stderr, end="", file=sys.stderr)
    ok = run.returncode == 0 and "all agree" in run.stdout
    print(f"{'ok  ' if ok else 'FAIL'}  {script} against {program}")
    passed, failed = passed + ok, failed + (not ok)
print(f"{passed} passed, {failed} failed")
sys.exit(1 if failed else 0)
