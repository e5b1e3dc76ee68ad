"""A tour of cloudorm on the embedded local cloud: no account, no Docker, a few seconds.

    python examples/quickstart.py                                   # an embedded local cloud, gone at exit
    python examples/quickstart.py --endpoint-url http://127.0.0.1:4566   # a running `cloudorm serve`

Each area of the library has one function below, called from ``main()``. The asserts check what is printed, so
this script doubles as a smoke test: it exits non-zero if anything does not behave as shown. Everything it makes
(tables, users, buckets, functions, APIs, clusters) gets a unique name and is deleted at the end, so it can run any
number of times against one server.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import urllib.error
import urllib.request
import uuid
from decimal import Decimal
from pathlib import Path

import cloudorm
from cloudorm import Attr, GlobalIndex
from cloudorm.errors import AlreadyExists, ConflictError, NotFound


def section(title: str) -> None:
    print(f"\n== {title} ==")


def connect(endpoint_url: str | None) -> cloudorm.Session:
    section("session")
    # Session() is the local cloud. The same code runs on AWS with
    # cloudorm.Session("aws", creds={"aws_access_key_id": ..., "aws_secret_access_key": ..., "region": ...}).
    s = cloudorm.Session("local", endpoint_url=endpoint_url) if endpoint_url else cloudorm.Session()
    print(s)  # provider, region and endpoint; never a secret
    assert s.provider == "local"
    return s


# ----------------------------------------------------------------------------------------------------- NoSQL


def nosql_table(s: cloudorm.Session, name: str) -> cloudorm.Table[cloudorm.Item]:
    section("NoSQL: a table with a hash key, a range key and a global secondary index")
    pages = s.Table(
        name,
        hash_key=("site", "S"),                  # partition key
        range_key=("path", "S"),                 # sort key
        indexes=[GlobalIndex("by_author", hash_key=("author", "S"), range_key=("published", "N"))],
    ).save()                                     # CreateTable, then waits until it is ACTIVE
    print(pages, pages.status)
    assert pages.status == "ACTIVE" and pages.exists()
    assert name in [t.name for t in s.tables()]  # s.tables() lists lazily, page by page
    return pages


def nosql_items(s: cloudorm.Session, pages: cloudorm.Table[cloudorm.Item]) -> None:
    section("NoSQL: put and get")
    pages.put({"site": "blog", "path": "/hello", "title": "Hello", "author": "ann", "published": 20240101,
               "visits": 0, "tags": {"intro"}, "rating": 4.5})
    page = pages.get(site="blog", path="/hello")
    assert page is not None
    print(page)
    # numbers come back as int when integral, else Decimal (exact): never a float
    assert page["published"] == 20240101 and isinstance(page["published"], int)
    assert page["rating"] == Decimal("4.5")
    assert pages.get(site="blog", path="/nope") is None

    section("NoSQL: schemaless items are dict-like")
    print("title:", page["title"], "| has 'draft':", "draft" in page, "| draft:", page.get("draft", False))
    print("attributes:", sorted(page.keys()))
    assert page["tags"] == {"intro"} and "draft" not in page and len(page) == 8
    assert dict(page.items()) == dict(page) and "Hello" in page.values()   # .items() and .values() as on a dict

    section("NoSQL: item.save() sends only what changed")
    page["title"] = "Hello, world"
    page["draft"] = False
    del page["rating"]
    print("state:", cloudorm.state(page), "| changes:", sorted(cloudorm.changes(page)))
    assert cloudorm.changes(page) == {"title", "draft", "rating"}
    with s.count_requests() as requests:
        page.save()                              # one UpdateItem: SET title, draft; REMOVE rating
    print(requests)
    assert requests.by_operation == {"dynamodb.UpdateItem": 1}
    with s.count_requests() as requests:
        page.save()                              # nothing changed: nothing is sent
    print("saving again sends", requests.total, "requests; state:", cloudorm.state(page))
    assert requests.total == 0 and cloudorm.state(page) == "saved"
    stored = pages.get(site="blog", path="/hello", consistent=True)
    assert stored is not None and "rating" not in stored and stored["title"] == "Hello, world"

    new = pages.Item(site="blog", path="/draft", title="Soon", author="bob", published=20240301, visits=0)
    print("a new item is", cloudorm.state(new))
    new.save()                                   # a new item: one UpdateItem (adopts a stored one)
    try:
        pages.put({"site": "blog", "path": "/draft"}, if_not_exists=True)
        raise AssertionError("if_not_exists should refuse to replace")
    except AlreadyExists as e:
        print("put(if_not_exists=True) ->", type(e).__name__)

    section("NoSQL: atomic updates")
    key = {"site": "blog", "path": "/hello"}
    after = pages.update(key, Attr("visits").add(1), Attr("tags").add({"featured"}))
    after = pages.update(key, Attr("visits").add(1), Attr("last_reader").set("carol"))
    print(after)
    assert after["visits"] == 2 and after["tags"] == {"intro", "featured"}
    try:                                         # a condition that does not hold changes nothing
        pages.update(key, Attr("visits").add(100), condition=Attr("visits") > 10)
        raise AssertionError("the condition should have failed")
    except ConflictError as e:
        print("conditional update ->", type(e).__name__, e.code)
    page.update(Attr("visits").add(1))           # on an item: applied, then the item holds the new values
    assert page["visits"] == 3


def nosql_batches(pages: cloudorm.Table[cloudorm.Item]) -> None:
    section("NoSQL: batch writes")
    authors = ["ann", "bob", "cid"]
    with pages.batch_write() as batch:           # 25 writes per BatchWriteItem; unprocessed ones are retried
        for i in range(30):
            batch.put({"site": "docs", "path": f"/page/{i:02d}", "author": authors[i % 3],
                       "published": 20240100 + i, "visits": i * 10, "words": 100 + i,
                       "tags": {"guide"} if i % 2 else {"guide", "api"}})
        batch.delete({"site": "blog", "path": "/draft"})
    print(f"{batch.written} writes in {batch.requests_sent} requests")
    assert (batch.written, batch.requests_sent) == (31, 2)

    found = pages.batch_get([{"site": "docs", "path": "/page/00"}, {"site": "docs", "path": "/page/29"},
                             {"site": "docs", "path": "/missing"}])
    print("batch_get:", [p["path"] for p in found])
    assert [p["path"] for p in found] == ["/page/00", "/page/29"]


def nosql_queries(pages: cloudorm.Table[cloudorm.Item]) -> None:
    section("NoSQL: lazy, chainable querysets")
    docs = pages.query(site="docs")              # nothing is sent yet
    recent = (docs.filter(visits__gte=100, tags__contains="api")   # lookups ...
                  .filter(Attr("words") < 125)                      # ... and Attr conditions
                  .reverse()                                        # descending range key
                  .limit(3)                                         # at most 3 items
                  .only("path", "visits"))                          # fetch these (and the keys)
    print(recent)
    rows = list(recent)
    for row in rows:
        print("  ", dict(row))
    assert [r["path"] for r in rows] == ["/page/24", "/page/22", "/page/20"]
    assert "author" not in rows[0]

    # key conditions on the range key go in query(); everything else in filter()
    under_1 = pages.query(site="docs", path__begins_with="/page/1")
    print("path begins with /page/1:", under_1.count(), "items (Select=COUNT, no items transferred)")
    assert under_1.count() == 10
    assert pages.query(site="docs", path__between=("/page/05", "/page/07")).count() == 3
    first = pages.query(site="docs").filter(author="cid").first()
    assert first is not None and first["path"] == "/page/02"

    section("NoSQL: cursor-based paging")
    cursor = None
    seen: list[str] = []
    while True:                                  # e.g. one web request per page
        page = pages.query(site="docs").filter(author="ann").limit(4).after(cursor)
        paths = [p["path"] for p in page]
        cursor = page.cursor                     # an opaque string; None once everything was returned
        print("  page:", paths, "| next cursor:", cursor and cursor[:16] + "...")
        seen += paths
        if cursor is None or not paths:  # DynamoDB may hand out a last cursor that leads to an empty page
            break
    assert seen == [f"/page/{i:02d}" for i in range(0, 30, 3)]

    section("NoSQL: a secondary index")
    by_bob = pages.query(author="bob", published__gte=20240120).index("by_author")
    print("bob since 2024-01-20:", [p["path"] for p in by_bob])
    assert [p["path"] for p in by_bob] == ["/page/22", "/page/25", "/page/28"]


def nosql_scan_and_delete(pages: cloudorm.Table[cloudorm.Item]) -> None:
    section("NoSQL: scan")
    total = pages.scan().count()
    popular = pages.scan().filter(visits__gt=250).count()
    everything = list(pages.scan(segments=4))    # a parallel scan on 4 threads
    print(f"{total} items, {popular} with more than 250 visits, {len(everything)} read by a parallel scan")
    assert (total, popular, len(everything)) == (31, 4, 31)

    section("NoSQL: delete")
    page = pages.get(site="blog", path="/hello")
    assert page is not None
    page.delete()
    print("deleted item is", cloudorm.state(page), "| get ->", pages.get(site="blog", path="/hello"))
    try:
        page.delete()
        raise AssertionError("deleting a deleted item should raise NotFound")
    except NotFound:
        print("deleting it again -> NotFound (missing_ok=True makes it quiet)")
    page.delete(missing_ok=True)
    removed = pages.query(site="docs").filter(visits__lt=100).delete()   # batched deletes
    print("queryset.delete() removed", removed, "items;", pages.scan().count(), "left")
    assert (removed, pages.scan().count()) == (10, 20)


def tour_nosql(s: cloudorm.Session) -> None:
    name = f"quickstart-pages-{uuid.uuid4().hex[:8]}"
    pages = nosql_table(s, name)
    try:
        nosql_items(s, pages)
        nosql_batches(pages)
        nosql_queries(pages)
        nosql_scan_and_delete(pages)
    finally:
        pages.delete(missing_ok=True)
    print(f"\ntable {name} deleted:", not pages.exists())


# ------------------------------------------------------------------------------------------------------- IAM


def tour_iam(s: cloudorm.Session) -> None:
    section("IAM: a user, a group, a policy built from statements, an access key, a role")
    tag = uuid.uuid4().hex[:8]
    user = s.User(f"quickstart-ann-{tag}", path="/quickstart/", tags={"team": "data"}).save()
    group = s.Group(f"quickstart-readers-{tag}").save()
    group.add(user)
    # the Cloud package's Statementize, with real ARNs: S3 resources become arn:aws:s3:::...
    read = cloudorm.Statement.for_service("s3", ["GetObject", "ListBucket"], "Allow", ["reports", "reports/*"])
    policy = s.Policy(f"quickstart-read-reports-{tag}", statements=[read], description="read the reports").save()
    print(policy.document["Statement"][0]["Resource"])
    assert policy.document["Statement"][0]["Resource"] == ["arn:aws:s3:::reports", "arn:aws:s3:::reports/*"]
    group.attach(policy)                                   # a Policy, a name, or an ARN (AWS-managed ones too)
    user.attach("arn:aws:iam::aws:policy/ReadOnlyAccess")
    assert [g.name for g in user.groups] == [group.name]
    assert [p.name for p in group.policies] == [policy.name]

    policy.statements = [read, cloudorm.Statement(actions=["s3:PutObject"], resources=["arn:aws:s3:::inbox/*"])]
    policy.save()                                          # a new default version (the oldest pruned at IAM's 5)
    print("policy versions:", policy.versions(), "default:", policy.default_version)

    key = user.create_access_key()
    print(key)                                             # the secret is never in a repr...
    creds = key.creds()                                    # ...and only this object has it
    as_ann = cloudorm.Session("local", creds=creds, endpoint_url=s.endpoint_url)
    assert as_ann.iam.caller()["arn"] == user.arn          # signed with the new key

    role = s.Role(f"quickstart-fn-{tag}", service="lambda", description="for the serverless tour").save()
    print(role, role.services)
    try:
        user.delete()                                      # blocked: key, group, attached policy
    except ConflictError as e:
        print("delete blocked by", sorted(e.blockers))
    user.delete(cascade=True)                              # removes the blockers first
    for entity in (group, policy, role):
        entity.delete(cascade=True)
    print("IAM entities deleted:", not user.exists() and not policy.exists())


# --------------------------------------------------------------------------------------------------- storage


def storage_blobs(bucket: cloudorm.Bucket) -> None:
    section("storage: upload, read, list, rename")
    report = bucket.blob("reports/2024/q1.csv").upload("region,total\nnorth,12\n", metadata={"owner": "ops"})
    print(report, report.size, report.content_type)      # the type is guessed from the key
    assert report.read_text().startswith("region") and report.metadata == {"owner": "ops"}
    assert report.read(0, 6) == b"region"                  # a byte range, half-open like a slice
    moved = report.rename("archive/2024-q1.csv")           # Wasabi: one atomic MOVE; elsewhere copy + delete
    assert moved.download() == b"region,total\nnorth,12\n" and not report.exists()
    for i in range(3):
        bucket.blob(f"logs/day-{i}.txt").upload(f"day {i}")
    logs = bucket.blobs(prefix="logs/")                    # lazy and paginated, like a queryset
    print([b.key for b in logs.limit(2)])
    assert [b.key for b in logs] == ["logs/day-0.txt", "logs/day-1.txt", "logs/day-2.txt"]
    folders = bucket.blobs(delimiter="/").prefixes()       # "folders" at the top level
    assert sorted(folders) == ["archive/", "logs/"]
    try:
        bucket.blob("no/such/key").download()
    except NotFound as e:
        print("NotFound:", e)


def storage_sharing(bucket: cloudorm.Bucket) -> None:
    section("storage: presigned URLs, many objects at once")
    url = bucket.blob("archive/2024-q1.csv").url(expires=60)  # any HTTP client can GET it for a minute
    with urllib.request.urlopen(url) as r:
        assert r.read().startswith(b"region")
    post = bucket.upload_url("inbox/upload.txt", expires=60, max_size=1024)
    print("presigned POST to", post.url, "with fields", sorted(post.fields))
    with tempfile.TemporaryDirectory() as tmp:
        results = bucket.upload_many({f"many/{i}.txt": f"object {i}" for i in range(20)}, concurrency=8)
        assert results.ok and len(results) == 20              # one result per object; a failure hides no other
        fetched = bucket.download_many([b for b in bucket.blobs(prefix="many/")], tmp).raise_for_errors()
        print(len(fetched), "downloaded; first file:", fetched[0].path)
        assert Path(tmp, "many", "7.txt").read_text() == "object 7"


def tour_storage(s: cloudorm.Session) -> None:
    bucket = s.Bucket(f"quickstart-{uuid.uuid4().hex[:8]}").save()
    try:
        storage_blobs(bucket)
        storage_sharing(bucket)
    finally:
        bucket.delete(force=True, missing_ok=True)         # empties it, 1,000 keys per request
    print(f"\nbucket {bucket.name} deleted:", not bucket.exists())


# ------------------------------------------------------------------------------------------------ serverless

HANDLER = """\
import json


def handler(event, context):
    if "httpMethod" in event:   # a request through the Api (API Gateway's proxy event)
        who = (event.get("queryStringParameters") or {}).get("name", "stranger")
        return {"statusCode": 200, "headers": {"Content-Type": "application/json"},
                "body": json.dumps({"greeting": "hello " + who, "path": event["path"]})}
    return {"greeting": "hello " + event["name"]}   # a direct invoke
"""


def call(url: str, key: str | None = None) -> tuple[int, bytes]:
    """Status and body of a GET with urllib, with the ``x-api-key`` header when ``key`` is given."""
    request = urllib.request.Request(url, headers={"x-api-key": key} if key else {})
    try:
        with urllib.request.urlopen(request, timeout=30) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def tour_serverless(s: cloudorm.Session) -> None:
    section("serverless: a function from a handler file, behind an Api with a key, a throttle and a quota")
    tag = uuid.uuid4().hex[:8]
    role = s.Role(f"quickstart-hello-{tag}", service="lambda").save()  # the role the function runs as
    with tempfile.TemporaryDirectory() as tmp:
        source = Path(tmp, "hello.py")
        source.write_text(HANDLER)
        # bundles hello.py into a deterministic zip, creates the function, waits until it is Active
        fn = s.Function(f"quickstart-hello-{tag}", handler="hello.handler", source=source, role=role,
                        memory=128, timeout=10).save()
        print(fn, fn.status, "| bundle:", fn.bundle and fn.bundle.size, "bytes")
        assert fn.status == "Active"
        with s.count_requests() as requests:            # same code, same settings: nothing is uploaded
            s.Function(fn.name, handler="hello.handler", source=source, role=role, timeout=10).save()
        print("unchanged redeploy:", dict(requests.by_operation))
        assert requests["lambda.UpdateFunctionCode"] == 0 and requests["lambda.UpdateFunctionConfiguration"] == 0
    api = None
    try:
        result = fn.invoke({"name": "ann"})             # runs the handler in a subprocess on the local cloud
        print("invoke ->", result)
        assert result == {"greeting": "hello ann"}

        api = s.Api(f"quickstart-api-{tag}", function=fn, route="/hello", method="GET", key_required=True,
                    throttle=cloudorm.Throttle(rate=100.0, burst=50),
                    quota=cloudorm.Quota(limit=50, period="WEEK", offset=2)).save()
        key = api.create_key(f"quickstart-key-{tag}")
        value = key.value                               # readable once, never in a repr
        assert value is not None and key.value is None
        print(api, key)
        status, body = call(api.url_for("/hello?name=bob"), key=value)
        print("GET", api.url_for("/hello?name=bob"), "with the key ->", status, json.loads(body))
        assert status == 200 and json.loads(body) == {"greeting": "hello bob", "path": "/hello"}
        status, _ = call(api.url_for("/hello?name=bob"))
        print("without the key ->", status)
        assert status == 403
    finally:
        if api is not None:
            api.delete(keys=True)
        fn.delete()
        role.delete(cascade=True)
    print("function, api and role deleted:", not fn.exists() and not role.exists())


# ----------------------------------------------------------------------------------------------------- Compute


def tour_compute(s: cloudorm.Session) -> None:
    section("compute: a cluster of 3 nodes, bootstrapped in parallel, one command on every node")
    # On the local cloud a node is a working directory and commands run in a shell there; the same script drives
    # DigitalOcean droplets or EC2 instances over SSH with Session("digitalocean", ...) or Session("aws", ...).
    name = f"quickstart-{uuid.uuid4().hex[:8]}"
    with tempfile.TemporaryDirectory() as tmp:
        task = Path(tmp, "task.py")
        task.write_text("import os, sys\nprint(os.environ['CLOUDORM_NODE'], 'squares', [n * n for n in range(4)])\n")
        cluster = s.Cluster(name, size=3, price_per_node=12,      # the largest size whose monthly price fits
                            files=[task],                          # uploaded to every node's home
                            setup=["mkdir -p results", "echo ready > results/state"],  # run once per new node
                            progress=False).save()
        try:
            print(cluster, "| sizes:", {n.size for n in cluster.nodes})
            assert len(cluster.nodes) == 3 and {n.status for n in cluster.nodes} == {"active"}
            results = cluster.run("python3 task.py")               # in parallel; a result per node, never printed
            for r in results:
                print(f"  {r.node.name}: exit {r.exit_code} in {r.duration * 1000:.0f} ms -> {r.stdout.strip()}")
            assert results.ok and all("squares [0, 1, 4, 9]" in r.stdout for r in results)
            failed = cluster.run("test -f results/only-on-the-first", nodes=[1, 2])
            print("a failing command:", [(r.node.name, r.exit_code) for r in failed.failures])
            assert len(failed.failures) == 2
            try:
                cluster.run("exit 3", check=True)
            except cloudorm.errors.CommandFailed as e:
                print("check=True ->", type(e).__name__, "with", len(e.failures), "failures")
                assert len(e.failures) == 3

            data = Path(tmp, "extra.csv")
            data.write_text("a,b\n1,2\n")
            cluster.put_file(data, "inputs/extra.csv", nodes=[0])
            fetched = cluster.get_file("inputs/extra.csv", Path(tmp, "back"), nodes=[0])
            assert [p.read_text() for p in fetched.values()] == [data.read_text()]
            new = cluster.add_node()                               # bootstrapped exactly like the others
            assert cluster.run("cat results/state", nodes=new).ok
            cluster.remove_node(cluster.nodes[0])
            print("after add_node and remove_node:", [n.name for n in cluster.nodes])
            assert [n.name for n in cluster.nodes] == [f"{name}-2", f"{name}-3", f"{name}-4"]
            assert name in [c.name for c in s.clusters()]          # found by tag, like any process would
        finally:
            cluster.delete()
    print("cluster deleted:", not cluster.exists())
    assert not cluster.exists()


# ------------------------------------------------------------------------------------------------------ main


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--endpoint-url", help="a running local cloud (`cloudorm serve`), e.g. http://127.0.0.1:4566")
    args = parser.parse_args(argv)
    s = connect(args.endpoint_url)
    tour_nosql(s)
    tour_iam(s)
    tour_storage(s)
    tour_serverless(s)
    tour_compute(s)
    print("\nquickstart: all good")
    return 0


if __name__ == "__main__":
    sys.exit(main())
