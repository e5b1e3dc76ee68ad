"""Presigned POST uploads (``bucket.upload_url``) sent from outside as a browser sends them (urllib and requests
multipart forms), on the local cloud and on the aws provider against the moto server (the same local server): its
POST policy is enforced as S3 enforces it — size range, conditions, extra fields, expiry, signature."""

from __future__ import annotations

import base64
import json
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from typing import Any
from xml.etree import ElementTree

import boto3
import pytest
import requests
import urllib3

import cloudorm
from cloudorm.storage.names import MAX_POST_SIZE
from tests.conftest import assert_refused_before_any_request


@pytest.fixture
def bucket(session: cloudorm.Session) -> Iterator[cloudorm.Bucket]:
    b = session.Bucket(f"post-{uuid.uuid4().hex[:12]}").save()
    yield b
    b.delete(force=True, missing_ok=True)


def post(url: str, fields: dict[str, str], data: bytes | None,
         content_type: str = "text/plain") -> tuple[int, dict[str, str]]:
    """POST a multipart/form-data upload with urllib, the file last; the status and the error's XML elements."""
    form: dict[str, Any] = dict(fields)
    if data is not None:
        form["file"] = ("upload.txt", data, content_type)
    body, ctype = urllib3.encode_multipart_formdata(form)
    request = urllib.request.Request(url, data=body, headers={"Content-Type": ctype}, method="POST")
    try:
        with urllib.request.urlopen(request) as response:
            return int(response.status), {}
    except urllib.error.HTTPError as e:
        return int(e.code), {child.tag: child.text or "" for child in ElementTree.fromstring(e.read())}


def with_policy(fields: dict[str, str], change: Any) -> dict[str, str]:
    """The form fields with their policy document changed by ``change(policy)`` (the signature left as it was)."""
    policy = json.loads(base64.b64decode(fields["policy"]))
    change(policy)
    return {**fields, "policy": base64.b64encode(json.dumps(policy).encode()).decode()}


def test_the_size_range_is_enforced(bucket: cloudorm.Bucket) -> None:
    form = bucket.upload_url("inbox/a.txt", expires=120, min_size=2, max_size=10, content_type="text/plain")
    policy = json.loads(base64.b64decode(form.fields["policy"]))
    assert ["content-length-range", 2, 10] in policy["conditions"]
    status, error = post(form.url, form.fields, b"x" * 11)
    assert (status, error["Code"], error["ProposedSize"], error["MaxSizeAllowed"]) == (400, "EntityTooLarge", "11",
                                                                                         "10")
    assert error["Message"] == "Your proposed upload exceeds the maximum allowed size" and error["RequestId"]
    status, error = post(form.url, form.fields, b"x")
    assert (status, error["Code"], error["ProposedSize"], error["MinSizeAllowed"]) == (400, "EntityTooSmall", "1",
                                                                                         "2")
    assert not bucket.blob("inbox/a.txt").exists()
    assert post(form.url, form.fields, b"x" * 10) == (204, {})
    blob = bucket.blob("inbox/a.txt")
    assert blob.read_text() == "x" * 10 and blob.content_type == "text/plain"


def test_a_browser_form_sent_with_requests(bucket: cloudorm.Bucket) -> None:
    form = bucket.upload_url("photos/cat.jpg", min_size=1)
    assert ["content-length-range", 1, MAX_POST_SIZE] in json.loads(base64.b64decode(form.fields["policy"]))[
        "conditions"]
    empty = requests.post(form.url, data=form.fields, files={"file": ("cat.jpg", b"", "image/jpeg")}, timeout=30)
    assert empty.status_code == 400 and b"<Code>EntityTooSmall</Code>" in empty.content
    sent = requests.post(form.url, data=form.fields, files={"file": ("cat.jpg", b"\xff\xd8jpeg", "image/jpeg")},
                         timeout=30)
    assert sent.status_code == 204 and bucket.blob("photos/cat.jpg").download() == b"\xff\xd8jpeg"


def test_conditions_and_fields_are_checked(bucket: cloudorm.Bucket) -> None:
    form = bucket.upload_url("inbox/b.txt", max_size=100, content_type="text/plain")
    status, error = post(form.url, {**form.fields, "Content-Type": "text/html"}, b"<b>hi</b>")
    assert (status, error["Code"]) == (403, "AccessDenied")
    assert error["Message"] == 'Invalid according to Policy: Policy Condition failed: ["eq", "$Content-Type", ' \
                               '"text/plain"]'
    status, error = post(form.url, {**form.fields, "key": "elsewhere.txt"}, b"hi")
    assert status == 403 and '"$key"' in error["Message"]
    status, error = post(form.url, {**form.fields, "x-amz-meta-owner": "eve"}, b"hi")
    assert (status, error["Message"]) == (403, "Invalid according to Policy: Extra input fields: x-amz-meta-owner")
    assert post(form.url, {**form.fields, "x-ignore-note": "ok"}, b"hi") == (204, {})  # x-ignore-* are free
    status, error = post(form.url, form.fields, None)
    assert (status, error["Code"]) == (400, "InvalidArgument")  # no file
    assert bucket.blob("inbox/b.txt").read_text() == "hi" and not bucket.blob("elsewhere.txt").exists()


def test_an_expired_policy_is_refused(bucket: cloudorm.Bucket) -> None:
    form = bucket.upload_url("late.txt", expires=1)
    time.sleep(2.1)  # (the expiration is written to the second)
    status, error = post(form.url, form.fields, b"too late")
    assert (status, error["Code"], error["Message"]) == (403, "AccessDenied",
                                                         "Invalid according to Policy: Policy expired.")


def test_a_tampered_policy_is_refused_for_keys_the_local_cloud_knows(session: cloudorm.Session) -> None:
    user = session.User(f"uploader-{uuid.uuid4().hex[:8]}").save()
    key = user.create_access_key()
    try:
        signer = cloudorm.Session(session.provider, endpoint_url=session.endpoint_url, creds={
            "aws_access_key_id": key.id, "aws_secret_access_key": key.secret, "region": "us-east-1"})
        bucket = signer.Bucket(f"post-{uuid.uuid4().hex[:12]}").save()
        form = bucket.upload_url("capped.bin", max_size=4)
        lifted = with_policy(form.fields, lambda p: p["conditions"].remove(["content-length-range", 0, 4]))
        status, error = post(form.url, lifted, b"x" * 100)  # the range removed: the signature no longer fits
        assert (status, error["Code"]) == (403, "SignatureDoesNotMatch")
        assert post(form.url, {**form.fields, "x-amz-signature": "0" * 64}, b"x")[0] == 403
        assert post(form.url, form.fields, b"xyz") == (204, {}) and bucket.blob("capped.bin").size == 3
        bucket.delete(force=True)
    finally:
        user.delete(cascade=True)


def test_signature_version_2_forms_are_checked_too() -> None:
    s = cloudorm.Session()  # signs with the local cloud's own key, whose secret the server knows
    bucket = s.Bucket(f"post-{uuid.uuid4().hex[:12]}").save()
    client = boto3.client("s3", endpoint_url=s.endpoint_url, region_name="us-east-1",
                          aws_access_key_id="testing", aws_secret_access_key="testing")
    form = client.generate_presigned_post(bucket.name, "v2.txt", Conditions=[["content-length-range", 0, 5]])
    assert "signature" in form["fields"] and "AWSAccessKeyId" in form["fields"]  # (botocore's default for POST)
    assert post(form["url"], form["fields"], b"x" * 6)[1]["Code"] == "EntityTooLarge"
    lifted = with_policy(form["fields"], lambda p: p["conditions"].pop(0))
    assert post(form["url"], lifted, b"x" * 6)[1]["Code"] == "SignatureDoesNotMatch"
    assert post(form["url"], form["fields"], b"small")[0] == 204
    bucket.delete(force=True)


def test_bad_ranges_are_refused_before_any_request(session: cloudorm.Session, bucket: cloudorm.Bucket) -> None:
    assert_refused_before_any_request(session, [
        (lambda: bucket.upload_url("k", min_size=11, max_size=10), "min_size"),
        (lambda: bucket.upload_url("k", min_size=-1), "min_size"),
        (lambda: bucket.upload_url("k", min_size=True), "min_size"),
        (lambda: bucket.upload_url("k", max_size=0), "max_size"),
        (lambda: bucket.upload_url("k", max_size=MAX_POST_SIZE + 1), "max_size"),
        (lambda: bucket.upload_url("k", min_size=MAX_POST_SIZE + 1), "min_size"),
    ])
    same = bucket.upload_url("k", min_size=5, max_size=5)  # exactly 5 bytes
    assert ["content-length-range", 5, 5] in json.loads(base64.b64decode(same.fields["policy"]))["conditions"]


def test_a_forms_repr_names_its_fields_but_not_their_signed_values() -> None:
    """The policy and signature let anyone upload until the form expires: they stay out of the repr."""
    s = cloudorm.Session()
    post = s.Bucket("repr-bucket").upload_url("k", expires=60, max_size=10)
    shown = repr(post)
    assert "policy" in shown.lower() and post.url in shown
    assert all(value not in shown for name, value in post.fields.items() if name != "key")
