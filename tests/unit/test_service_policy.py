"""Unreachable PostgreSQL or Redis: skipped with a reason on a laptop, a failure under CI=true."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PROBE = '''
async def test_needs_redis(redis_url):
    pass

import pytest
from conftest import both_databases

@both_databases
async def test_needs_postgres(db):
    pass
'''


def _run_probe(ci: str) -> subprocess.CompletedProcess[str]:
    probe = ROOT / "tests" / "unit" / f"test_zz_probe_{os.getpid()}.py"
    probe.write_text(PROBE)
    try:
        env = {
            **os.environ,
            "CI": ci,
            "TEST_REDIS_URL": "redis://127.0.0.1:1/0",  # nothing listens on port 1
            "TEST_DATABASE_URL": "postgres://postgres@127.0.0.1:1/test",
        }
        return subprocess.run(
            [sys.executable, "-m", "pytest", str(probe), "-q", "-p", "no:cacheprovider", "-rs"],
            cwd=ROOT, env=env, capture_output=True, text=True, timeout=120,
        )
    finally:
        probe.unlink()


@pytest.mark.parametrize(("ci", "outcome"), [("true", "1 passed, 2 errors"), ("", "1 passed, 2 skipped")])
def test_unreachable_services(ci: str, outcome: str) -> None:
    done = _run_probe(ci)
    assert outcome in done.stdout, done.stdout
    if ci:
        assert done.returncode == 1
        assert "CI=true: this must not be skipped" in done.stdout
    else:
        assert "Redis at redis://127.0.0.1:1/0 unreachable" in done.stdout
