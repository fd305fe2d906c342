"""The codebase stays ruff-clean; a lint finding fails the build like a failing test."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_ruff_reports_nothing():
    # The interpreter's own ruff (the test extra installs it): found whether or not the
    # environment's scripts are on PATH.
    result = subprocess.run(
        [sys.executable, "-m", "ruff", "check", str(ROOT)], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr
