"""Runs a Lua script through posbench for the PyTorch tests and returns what
it wrote to the file named by the Lua global `arg_out`.

    rows = run_lua(prelude, lua, parse=float)   # one list per line
"""
import os
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BUILD = os.environ.get("BUILD", "build")


def run_lua(prelude, lua, parse=float):
    """prelude: Lua assignments placed before `lua`; exits the test (as one
    failure) when posbench fails."""
    with tempfile.TemporaryDirectory() as tmp:
        script, result = os.path.join(tmp, "script.lua"), os.path.join(tmp, "out.txt")
        with open(script, "w") as f:
            f.write(f"arg_out = {result!r}\n{prelude}\n{lua}")
        run = subprocess.run([os.path.join(ROOT, BUILD, "posbench"), "run", script],
                             capture_output=True, text=True)
        if run.returncode != 0:
            print(run.stdout, run.stderr)
            print("0 passed, 1 failed")
            sys.exit(1)
        with open(result) as f:
            return [list(map(parse, line.split())) for line in f]
