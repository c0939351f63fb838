"""Runs the built component on every invoice tests/NAME.json with `erp-sync transform run`
(the binary from $ERP_SYNC, else `erp-sync` on the PATH) and compares its output with
tests/NAME.expected.json, as JSON: the webhook body for a webhook transform, the adjusted
invoice for a tweak. tests/NAME.config.json, if present, holds the guest's config.

Usage: python3 test.py [COMPONENT.wasm] [DIR]
"""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

here = Path(__file__).parent
wasm = Path(sys.argv[1]) if len(sys.argv) > 1 else here / f"{here.name}.wasm"
folder = Path(sys.argv[2]) if len(sys.argv) > 2 else here / "tests"
binary = os.environ.get("ERP_SYNC", "erp-sync")
if not wasm.exists():
    sys.exit(f"{wasm} is missing: run ./build.sh first")

cases = sorted(
    p for p in folder.glob("*.json") if not re.search(r"\.(expected|config)\.json$", p.name)
)
failed = 0
for case in cases:
    name = case.name[: -len(".json")]
    args = [binary, "transform", "run", str(wasm), str(case)]
    config = folder / f"{name}.config.json"
    if config.exists():
        for key, value in json.loads(config.read_text()).items():
            args += ["--config", f"{key}={value}"]
    try:
        run = subprocess.run(args, capture_output=True, text=True)
    except FileNotFoundError:
        sys.exit(f"{binary} not found: set ERP_SYNC to the erp-sync binary")
    if run.returncode != 0:
        print(f"FAIL {name}: the component failed\n{run.stdout}{run.stderr}")
        failed += 1
        continue
    # "== <world> (...)\n== output\n<output>\n== guest ...|== time ..."
    output = re.split(r"\n== (guest|time|\()", run.stdout.split("\n== output\n")[1])[0]
    if run.stdout.startswith("== webhook-transform"):
        output = output[output.index("\n\n") + 2 :]
    expected = json.loads((folder / f"{name}.expected.json").read_text())
    try:
        actual = json.loads(output)
    except ValueError:
        actual = output
    if actual == expected:
        print(f"ok   {name}")
    else:
        print(f"FAIL {name}\n  expected: {json.dumps(expected)}\n  actual:   {json.dumps(actual)}")
        failed += 1
print(f"{len(cases) - failed} of {len(cases)} passed")
sys.exit(1 if failed else 0)
