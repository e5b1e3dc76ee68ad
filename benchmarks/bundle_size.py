"""The bundle of a handler that uses cloudorm: zip size, unzipped size and what is vendored.

Run: ``python benchmarks/bundle_size.py`` (cloudorm's source checkout vendored with ``requirements``, for python3.12
on x86_64, into a fresh cache) or ``--quick`` (a bundle without requirements: no pip). Run it with an older
checkout on ``PYTHONPATH`` to measure that one's bundle (issue 13's "before": boto3 and botocore vendored too).
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
import zipfile
from collections import defaultdict
from pathlib import Path

from _bench import environment, parser, table

import cloudorm
from cloudorm.serverless.bundle import build_bundle

HANDLER = """\
import cloudorm


@cloudorm.model
class Visit(cloudorm.Item):
    page: str = cloudorm.hash_key()
    n: int = cloudorm.range_key()


visits = cloudorm.Session("aws").Table(Visit)


def handler(event, context):
    visits.put(Visit(page=event["page"], n=event["n"]))
    return {"ok": True}
"""


def main(argv: list[str] | None = None) -> int:
    args = parser(__doc__.splitlines()[0]).parse_args(argv)
    checkout = Path(cloudorm.__file__).resolve().parents[1]
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["CLOUDORM_CACHE_DIR"] = str(Path(tmp) / "cache")
        source = Path(tmp) / "app.py"
        source.write_text(HANDLER)
        started = time.perf_counter()
        bundle = build_bundle(source=source, handler="app.handler",
                              requirements=None if args.quick else [str(checkout)])
        seconds = time.perf_counter() - started
        sizes: dict[str, int] = defaultdict(int)
        with zipfile.ZipFile(bundle.path) as z:
            for info in z.infolist():
                top = info.filename.split("/")[0]
                dist = top.split("-")[0] if top.endswith(".dist-info") else top.removesuffix(".py")
                sizes[dist] += info.compress_size
    print(environment())
    print(f"cloudorm from {checkout}")
    print(table(["bundle of a handler using cloudorm", "zip bytes", "unzipped bytes", "pip runs", "cold build"],
                [["cloudorm (this checkout)", f"{bundle.size:,}", f"{bundle.unzipped_size:,}", bundle.pip_runs,
                  f"{seconds:.1f} s"]]))
    print()
    rows = [[name, f"{size:,}"] for name, size in sorted(sizes.items(), key=lambda kv: -kv[1])]
    print(table(["zip member (package)", "compressed bytes"], rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
