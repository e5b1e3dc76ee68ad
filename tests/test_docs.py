"""Every python block in README.md and docs/ runs on the local cloud (docs/check_examples.py)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).parent.parent
PAGES = [*sorted(p for p in (ROOT / "docs").glob("*.md") if p.name != "benchmarks.md"), ROOT / "README.md"]


@pytest.mark.parametrize("page", PAGES, ids=[p.name for p in PAGES])
def test_doc_examples_run(page: Path) -> None:
    result = subprocess.run([sys.executable, str(ROOT / "docs" / "check_examples.py"), str(page)],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
