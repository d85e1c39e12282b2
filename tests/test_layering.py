"""The layering holds at run time: the live path loads neither the model lab nor training code.

(`lint-imports`, run by `make test`, checks the import graph statically: see
``[tool.importlinter]`` in pyproject.toml.)"""

from __future__ import annotations

import json
import subprocess
import sys

LIVE_MODULES = ("sitewatch.cli.app", "sitewatch.runner", "sitewatch.api.app", "sitewatch.replay")
FORBIDDEN = ("lab", "bench", "tests", "ultralytics", "torch")


def test_the_live_path_imports_no_lab_and_no_training_code() -> None:
    probe = (
        "import importlib, json, sys\n"
        f"for name in {LIVE_MODULES!r}: importlib.import_module(name)\n"
        "print(json.dumps(sorted(sys.modules)))"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=120
    )
    loaded = json.loads(done.stdout)
    assert "sitewatch.runner" in loaded  # the probe did import the live path
    leaked = [m for m in loaded if m.split(".")[0] in FORBIDDEN]
    assert leaked == []
