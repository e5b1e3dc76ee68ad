"""Run every ```python block of the docs (and README.md) on the local cloud, one process per file.

    python docs/check_examples.py                 # every docs/*.md (but benchmarks.md) and README.md
    python docs/check_examples.py docs/nosql.md   # some files
    python docs/check_examples.py -v docs/nosql.md   # and show what they print

The blocks of one file run in order in one namespace, like a session at the prompt. A block right after an
``<!-- skip -->`` line is not run (used for the few that need a real cloud account). Exits non-zero if any file
fails.
"""

from __future__ import annotations

import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SKIP_FILES = {"benchmarks.md"}  # its commands run the benchmarks, which is not a docs check
BLOCK = re.compile(r"(?P<skip><!-- skip -->\s*\n)?```python\n(?P<code>.*?)```", re.DOTALL)


def blocks(text: str) -> list[str]:
    """The runnable python blocks of a markdown text, in order."""
    return [m["code"] for m in BLOCK.finditer(text) if not m["skip"]]


def run(path: Path, timeout: float = 240.0, show: bool = False) -> bool:
    """Run the file's blocks as one script; print the outcome; True when it succeeded."""
    code = blocks(path.read_text())
    if not code:
        print(f"-- {path.relative_to(ROOT)}: no python blocks")
        return True
    script = "\n".join(f"# --- block {i + 1}\n{c}" for i, c in enumerate(code))
    with tempfile.TemporaryDirectory() as tmp:
        target = Path(tmp) / f"{path.stem}_examples.py"
        target.write_text(script)
        started = time.monotonic()
        done = subprocess.run([sys.executable, str(target)], cwd=tmp, capture_output=True, text=True,
                              timeout=timeout, check=False)
    elapsed = time.monotonic() - started
    ok = done.returncode == 0
    print(f"{'ok' if ok else 'FAILED'} {path.relative_to(ROOT)}: {len(code)} blocks in {elapsed:.1f} s")
    if show or not ok:
        print(done.stdout if show else done.stdout[-3000:], done.stderr[-5000:], sep="\n")
    return ok


def main(argv: list[str]) -> int:
    show = "-v" in argv
    argv = [a for a in argv if a != "-v"]
    default = [p for p in sorted((ROOT / "docs").glob("*.md")) if p.name not in SKIP_FILES] + [ROOT / "README.md"]
    paths = [Path(a).resolve() for a in argv] or default
    results = [run(p, show=show) for p in paths if p.exists()]
    return 0 if all(results) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
