"""`make run` on a fresh clone says it is installing before the quiet minute of pip, and only then."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

# Stands in for `python3`: `-m venv DIR` makes DIR/bin/python, a stub that accepts anything (pip).
FAKE_PYTHON = """#!/bin/sh
if [ "$1" = "-m" ] && [ "$2" = "venv" ]; then
  mkdir -p "$3/bin"
  printf '#!/bin/sh\\nexit 0\\n' > "$3/bin/python"
  chmod +x "$3/bin/python"
fi
exit 0
"""


@pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")
def test_the_first_install_is_announced_and_a_second_run_is_silent(tmp_path: Path) -> None:
    shutil.copy(ROOT / "Makefile", tmp_path / "Makefile")
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    fake = tmp_path / "fake-python"
    fake.write_text(FAKE_PYTHON)
    fake.chmod(0o755)

    def make() -> str:
        done = subprocess.run(["make", "--no-print-directory", "install", f"PYTHON={fake}"], cwd=tmp_path,
                              capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stderr
        return done.stdout

    first = make().splitlines()
    assert first[0].startswith("Installing dependencies into .venv (first run"), first
    assert (tmp_path / ".venv" / ".installed").exists()
    again = make()
    assert "Installing" not in again and "Updating" not in again  # nothing to install: not said
