"""Word counts over many blobs with Dask on a cloudorm cluster, on the embedded local cloud.

    python examples/cluster_dask.py                          # two local nodes (processes on this machine)
    python examples/cluster_dask.py --nodes 3 --blobs 200

The cluster's nodes run a Dask scheduler (first node) and a worker each; ``cluster.dask()`` gives a
``distributed.Client``. The tasks read the blobs through presigned URLs, so they need no credentials. The same
script runs on droplets or EC2 instances by changing the Session (``cloudorm.Session("digitalocean", ...)``): the
client then reaches the scheduler through SSH port forwarding and nothing is opened to the internet.

Needs ``pip install 'cloudorm[dask]'``. The asserts check what is printed: the script is a test too.
"""

from __future__ import annotations

import argparse
import collections
import random
import re
import urllib.request
import uuid

import cloudorm

WORDS = ["cloud", "object", "model", "dask", "cluster", "node", "worker", "blob", "bucket", "table", "item", "user",
         "policy", "function"]


def count_words(url: str) -> collections.Counter[str]:
    """Runs on a worker: GET the blob through its presigned URL and count its words."""
    with urllib.request.urlopen(url, timeout=30) as answer:
        text = answer.read().decode()
    return collections.Counter(re.findall(r"[a-z]+", text.lower()))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, default=2, help="nodes in the cluster (default 2)")
    parser.add_argument("--blobs", type=int, default=60, help="text blobs to count (default 60)")
    args = parser.parse_args()

    s = cloudorm.Session()
    suffix = uuid.uuid4().hex[:6]
    bucket = s.Bucket(f"dask-words-{suffix}").save()
    rng = random.Random(7)
    expected: collections.Counter[str] = collections.Counter()
    for i in range(args.blobs):
        words = rng.choices(WORDS, k=200)
        expected.update(words)
        bucket.blob(f"texts/{i:04}.txt").upload(" ".join(words))
    urls = [blob.url(expires=600) for blob in bucket.blobs(prefix="texts/")]
    print(f"{len(urls)} blobs in {bucket.name}")

    # engine="dask": save() installs Dask (the client's version) on every node and starts scheduler and workers
    cluster = s.Cluster(f"words-{suffix}", size=args.nodes, engine="dask", progress=False).save()
    try:
        client = cluster.dask()
        print(f"workers: {len(client.scheduler_info(n_workers=-1)['workers'])}, dashboard: {cluster.dashboard_url}")
        counts = client.map(count_words, urls)
        total = client.submit(sum, counts, collections.Counter()).result()
        print("most common:", total.most_common(3))
        assert total == expected, "the cluster counted other words than were written"
        assert len(client.scheduler_info(n_workers=-1)["workers"]) == args.nodes
        print(f"counted {sum(total.values())} words on {args.nodes} nodes")
    finally:
        cluster.delete()  # stops scheduler and workers first, then the nodes go
        bucket.delete(force=True)


if __name__ == "__main__":
    main()
