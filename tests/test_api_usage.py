"""API usage per key and day (API Gateway's GetUsage, the Cloud package's ``APIGateway.UsagePlan.Usage``):
``api.usage(start, end, key=)`` and ``key.usage(...)``. The local gateway counts every keyed request per day in the
server and answers GetUsage for any client (boto3, the AWS CLI and cloudorm read the same numbers), with API
Gateway's refusals; the counts survive a ``--state`` restart; input is checked before any request; the aws provider
reads it too, and a plain moto server (which lacks GetUsage) is ``Unsupported``."""

from __future__ import annotations

import datetime as dt
import json
import pickle
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

import cloudorm
from cloudorm import Quota, Throttle
from cloudorm.errors import InvalidInput, NotFound, Unsupported
from cloudorm.iam import Role
from cloudorm.providers.local.app import local_cloud
from cloudorm.providers.local.gateway import ApiGateway
from cloudorm.providers.local.routing import Plan
from cloudorm.providers.local.usage import Limits
from cloudorm.providers.local.usage_log import KEPT_DAYS, UsageLog
from cloudorm.serverless import DayUsage, KeyUsage
from cloudorm.testing import FaultProxy, ServeProcess
from tests.conftest import assert_refused_before_any_request
from tests.test_serverless_usage import on_plain_moto

HANDLER = "def handler(event, context):\n    return {'statusCode': 200, 'body': 'ok'}\n"


def uid(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def today() -> dt.date:
    return dt.datetime.now(dt.timezone.utc).date()


def days_ago(n: int) -> dt.date:
    return today() - dt.timedelta(days=n)


def call(url: str, key: str | None = None) -> int:
    request = urllib.request.Request(url, headers={"x-api-key": key} if key else {})
    try:
        with urllib.request.urlopen(request, timeout=60) as answer:
            return int(answer.status)
    except urllib.error.HTTPError as e:
        with e:
            return int(e.code)


def served_at(session: cloudorm.Session, api: cloudorm.Api, server: str) -> str:
    """The URL the local cloud's server at ``server`` serves ``api``'s stage at (an aws session's ``api.url`` is
    AWS's execute-api URL)."""
    return api.url if session.provider == "local" else f"{server}/restapis/{api.id}/{api.stage}/_user_request_"


def wire(url: str) -> Any:
    """A botocore API Gateway client of the server at ``url``."""
    return boto3.client("apigateway", endpoint_url=url, region_name="us-east-1", aws_access_key_id="testing",
                        aws_secret_access_key="testing")


MakeApi = Callable[..., tuple[cloudorm.Api, str, dict[str, str]]]


@pytest.fixture
def make_api(session: cloudorm.Session, app: Path, role: Role, request: pytest.FixtureRequest) -> Iterator[MakeApi]:
    """An Api with one keyed route ``/q`` on the session, with keys named as asked: the Api, the URL the server serves
    ``/q`` at, and each key's value by name (deleted afterwards, with its function)."""
    made: list[tuple[cloudorm.Api, cloudorm.Function]] = []
    server = session.endpoint_url if session.provider == "local" else request.getfixturevalue("moto_url")

    def make(*keys: str, **limits: Any) -> tuple[cloudorm.Api, str, dict[str, str]]:
        fn = session.Function(uid("fn"), handler="app.handler", source=app, role=role).save()
        api = session.Api(uid("used"), function=fn, route="/q", key_required=True, **limits).save()
        made.append((api, fn))
        values = {k: api.create_key(k).value or "" for k in keys}
        return api, served_at(session, api, server or "") + "/q", values

    yield make
    for api, fn in made:
        api.delete(keys=True, missing_ok=True)
        fn.delete(missing_ok=True)


def key_named(api: cloudorm.Api, name: str) -> cloudorm.ApiKey:
    listed = api.keys()
    return next(k for k in listed if k.name == name)


def rows(usage: KeyUsage) -> list[tuple[dt.date, int, int | None]]:
    return [(d.day, d.used, d.remaining) for d in usage.days]


def test_each_keys_requests_per_day_with_the_quota_left(session: cloudorm.Session, make_api: MakeApi) -> None:
    api, url, values = make_api("alpha", "beta", quota=Quota(limit=10, period="DAY"))
    assert [call(url, values["alpha"]) for _ in range(3)] + [call(url, values["beta"]), call(url)] == [200] * 4 + [403]
    alpha, beta = api.usage(days_ago(2))  # end: today; every key of the plan, sorted by name
    assert (alpha.name, beta.name, alpha.used, beta.used) == ("alpha", "beta", 3, 1)
    assert rows(alpha) == [(days_ago(2), 0, 10), (days_ago(1), 0, 10), (today(), 3, 7)]  # days without calls too
    assert rows(beta) == [(days_ago(2), 0, 10), (days_ago(1), 0, 10), (today(), 1, 9)]
    [only] = api.usage(today(), today(), key="beta")
    key = key_named(api, "beta")
    assert only == key.usage(str(today())) == KeyUsage(beta.key_id, "beta", (DayUsage(today(), 1, 9),))
    with pytest.raises(NotFound, match="no key named 'gamma'"):
        api.usage(today(), key="gamma")


def test_refused_requests_are_not_counted_and_no_quota_means_no_remaining(session: cloudorm.Session,
                                                                          make_api: MakeApi) -> None:
    quoted, url, values = make_api("q", quota=Quota(limit=2, period="WEEK"))
    assert [call(url, values["q"]) for _ in range(3)] == [200, 200, 429]
    [used] = quoted.usage(today())
    assert rows(used) == [(today(), 2, 0)]
    throttled, url, values = make_api("t", throttle=Throttle(rate=0.001, burst=1))
    assert [call(url, values["t"]) for _ in range(2)] == [200, 429]
    [used] = throttled.usage(days_ago(1))
    assert rows(used) == [(days_ago(1), 0, None), (today(), 1, None)]  # the plan has no quota: nothing remains
    plan = session.api_gateway.usage_plans(throttled.id)[0]
    assert session.api_gateway.usage(plan["id"], today(), today())["keys"] == {used.key_id: [(1, 0)]}  # the wire's 0


def test_an_api_without_a_usage_plan_has_no_usage(session: cloudorm.Session, app: Path, role: Role) -> None:
    fn = session.Function(uid("open"), handler="app.handler", source=app, role=role).save()
    api = session.Api(uid("open"), function=fn, route="/o").save()
    try:
        assert api.usage(days_ago(89)) == []  # 90 days, the most one request reports
        with pytest.raises(NotFound, match="no usage plan"):
            api.usage(today(), key="any")
    finally:
        api.delete()
        fn.delete()


def test_bad_windows_and_keys_are_refused_before_any_request(session: cloudorm.Session) -> None:
    api, other = session.Api("not-made"), session.Api("other")
    assert_refused_before_any_request(session, [
        (lambda: api.usage(dt.date(2024, 5, 2), dt.date(2024, 5, 1)), "end"),
        (lambda: api.usage(dt.date(2024, 1, 1), dt.date(2024, 3, 31)), "end"),  # 91 days
        (lambda: api.usage(dt.datetime.now(dt.timezone.utc)), "start"),
        (lambda: api.usage("2024-13-01"), "start"),
        (lambda: api.usage("yesterday"), "start"),
        (lambda: api.usage(20240101), "start"),
        (lambda: api.usage(today(), "2024/05/01"), "end"),
        (lambda: api.usage(today(), key=42), "key"),  # type: ignore[arg-type]
        (lambda: api.usage(today(), key=cloudorm.ApiKey(session, "k", api=other)), "key"),
        (lambda: cloudorm.ApiKey(session, "k", api=api).usage(today(), days_ago(1)), "end"),
    ])


def test_get_usage_on_the_wire_pages_keys_and_refuses_as_api_gateway(session: cloudorm.Session,
                                                                      make_api: MakeApi) -> None:
    if session.provider != "local":
        pytest.skip("the wire is the same server's: checked once")
    api, url, values = make_api("k1", "k2", "k3", quota=Quota(limit=5, period="DAY"))
    assert call(url, values["k2"]) == 200
    gw = wire(session.endpoint_url or "")
    plan = session.api_gateway.usage_plans(api.id)[0]["id"]
    listed = api.keys()
    ids = sorted(k.id or "" for k in listed)
    window = {"usagePlanId": plan, "startDate": str(days_ago(1)), "endDate": str(today())}
    first = gw.get_usage(**window, limit=2)
    assert (first["usagePlanId"], first["startDate"], first["endDate"]) == (plan, str(days_ago(1)), str(today()))
    assert sorted(first["items"]) == ids[:2] and first["position"]
    rest = gw.get_usage(**window, limit=2, position=first["position"])
    assert sorted(rest["items"]) == ids[2:] and "position" not in rest
    everything = {**first["items"], **rest["items"]}
    k2 = key_named(api, "k2").id
    assert everything == {i: [[0, 5], [1, 4] if i == k2 else [0, 5]] for i in ids}

    def refused(**params: Any) -> tuple[str, int, str]:
        with pytest.raises(ClientError) as e:
            gw.get_usage(**{**window, **params})
        error = e.value.response["Error"]
        return error["Code"], e.value.response["ResponseMetadata"]["HTTPStatusCode"], error["Message"]

    assert refused(usagePlanId="nosuchplan") == ("NotFoundException", 404, "Invalid Usage Plan ID specified")
    assert refused(keyId="nosuchkey") == ("NotFoundException", 404, "Invalid Key identifier specified")
    assert refused(startDate="2024-01-01", endDate="2024-03-31")[:2] == ("BadRequestException", 400)  # 91 days
    assert refused(startDate=str(today()), endDate=str(days_ago(1)))[:2] == ("BadRequestException", 400)
    assert refused(startDate="01/02/2024")[:2] == ("BadRequestException", 400)
    assert refused(limit=501)[:2] == refused(position="nowhere")[:2] == ("BadRequestException", 400)
    ninety = gw.get_usage(**{**window, "startDate": "2024-01-01", "endDate": "2024-03-30"})["items"]
    assert {len(days) for days in ninety.values()} == {90}  # 90 days: the most one request reports
    request = urllib.request.Request(f"{session.endpoint_url}/usageplans/{plan}/usage?endDate={today()}")
    with pytest.raises(urllib.error.HTTPError) as missing:  # no startDate (botocore would not send that)
        urllib.request.urlopen(request, timeout=30)
    with missing.value as answer:
        assert (answer.code, answer.headers["x-amzn-ErrorType"]) == (400, "BadRequestException")


def test_deleting_a_plan_or_a_key_forgets_its_counts(session: cloudorm.Session, make_api: MakeApi) -> None:
    api, url, values = make_api("kept", "dropped")
    assert [call(url, values[k]) for k in ("kept", "dropped")] == [200, 200]
    gateway = local_cloud().part("gateway")  # the moto server of the aws session is this process's local cloud
    assert isinstance(gateway, ApiGateway)
    plan = session.api_gateway.usage_plans(api.id)[0]["id"]
    slots = {key for p, key in gateway.usage.dump() if p == plan}
    assert len(slots) == 2
    key_named(api, "dropped").delete()
    assert {key for p, key in gateway.usage.dump() if p == plan} == {key_named(api, "kept").id}
    api.delete(keys=True)
    assert not [slot for slot in gateway.usage.dump() if slot[0] == plan]


def test_the_daily_log_follows_quota_periods_offsets_and_keeps_a_year() -> None:
    """The gateway's Limits and UsageLog together, on a clock of their own: a WEEK quota of 5 with an offset of 2,
    counted on a Tuesday and the next Monday, reported day by day."""
    limits, log = Limits(), UsageLog()
    plan = Plan("plan", None, {"limit": 5, "period": "WEEK", "offset": 2}, {})
    monday = dt.datetime(2024, 1, 1, 12, tzinfo=dt.timezone.utc)  # a Monday
    for when in [monday + dt.timedelta(days=1)] * 4 + [monday + dt.timedelta(days=7)] * 2:
        counted, remaining = limits.charge(plan, "key", when)
        if counted:
            log.record(plan.id, "key", when.date(), remaining)
    report = log.report(plan.id, plan.quota, ["key"], monday.date(), monday.date() + dt.timedelta(days=8),
                        today=monday.date())
    # first week: 5 less the offset of 2 = 3 requests (the fourth refused); the next week starts full
    assert report == {"key": [[0, 3], [3, 0], [0, 0], [0, 0], [0, 0], [0, 0], [0, 0], [2, 3], [0, 3]]}
    assert log.report(plan.id, None, ["other"], monday.date(), monday.date(), monday.date()) == {"other": [[0, 0]]}
    restored = UsageLog()
    restored.load(pickle.loads(pickle.dumps(log.dump())))
    assert restored.dump() == log.dump() != {}
    for n in range(KEPT_DAYS + 10):
        log.record(plan.id, "old", monday.date() + dt.timedelta(days=n), None)
    assert len(log.dump()[(plan.id, "old")]) == KEPT_DAYS + 1  # older days are dropped as new ones come
    log.reset()
    assert log.dump() == {}


def test_a_read_whose_answer_is_lost_is_read_again_and_counts_nothing(session: cloudorm.Session,
                                                                       make_api: MakeApi) -> None:
    if session.provider != "local":
        pytest.skip("GetUsage is a read on every provider: checked once")
    api, url, values = make_api("lossy", quota=Quota(limit=9, period="DAY"))
    assert call(url, values["lossy"]) == 200
    expected = api.usage(days_ago(1))
    with FaultProxy(session.endpoint_url or "", rate=0.5, kinds=("drop_after",), seed=5) as proxy:
        flaky = cloudorm.Session("local", endpoint_url=proxy.url, max_attempts=12)
        assert [flaky.Api(api.name).usage(days_ago(1)) for _ in range(3)] == [expected] * 3
    assert api.usage(days_ago(1)) == expected


def test_cloudorm_boto3_and_the_aws_cli_read_the_same_counts_and_they_survive_a_restart(
        tmp_path: Path, aws_cli: Callable[..., Any]) -> None:
    source = tmp_path / "app.py"
    source.write_text(HANDLER)
    state = ["--state", str(tmp_path / "state")]

    def read(url: str, api: cloudorm.Api) -> tuple[list[KeyUsage], Any, Any]:
        plan = api.session.api_gateway.usage_plans(api.refresh().id)[0]["id"]
        window = ["--start-date", str(days_ago(1)), "--end-date", str(today())]
        raw = wire(url).get_usage(usagePlanId=plan, startDate=str(days_ago(1)), endDate=str(today()))["items"]
        cli = json.loads(aws_cli(url, "apigateway", "get-usage", "--usage-plan-id", plan, *window).stdout)["items"]
        return api.usage(days_ago(1)), raw, cli

    with ServeProcess(args=state) as server:
        s = cloudorm.Session("local", endpoint_url=server.url)
        fn = s.Function("counted", handler="app.handler", source=source, role=s.Role("counted", service="lambda")
                        .save()).save()
        quoted = s.Api("quoted", function=fn, route="/q", key_required=True, quota=Quota(limit=7, period="DAY")).save()
        free = s.Api("free", function=fn, route="/q", key_required=True).save()  # its counts wait for a snapshot
        keys = {api.name: api.create_key(f"{api.name}-key").value or "" for api in (quoted, free)}
        assert [call(api.url_for("/q"), keys[api.name]) for api in (quoted, quoted, free)] == [200] * 3
        before = {api.name: read(server.url, api) for api in (quoted, free)}
        for mine, raw, cli in before.values():
            [key] = mine
            assert raw == cli == {key.key_id: [[d.used, d.remaining or 0] for d in key.days]}
        assert [rows(before[n][0][0]) for n in ("quoted", "free")] == [
            [(days_ago(1), 0, 7), (today(), 2, 5)], [(days_ago(1), 0, None), (today(), 1, None)]]
    with ServeProcess(args=state) as server:
        s = cloudorm.Session("local", endpoint_url=server.url)
        assert {n: read(server.url, s.Api(n)) for n in ("quoted", "free")} == before


def test_a_plain_moto_server_lacks_get_usage_unsupported_not_a_false_not_found() -> None:
    with on_plain_moto() as s:
        plan = s.api_gateway.create_usage_plan(uid("plan"), None, [], None, None)
        with pytest.raises(Unsupported) as e:
            s.api_gateway.usage(plan["id"], today(), today())
    assert e.value.provider == "aws" and e.value.operation == "GetUsage"


def test_providers_without_apis_refuse_before_any_request() -> None:
    s = cloudorm.Session("memory")
    with s.count_requests() as c, pytest.raises(Unsupported):
        s.api_gateway.usage("plan", today(), today())
    assert c.total == 0
    with pytest.raises(InvalidInput):
        s.Api("x").usage("soon")  # (input is checked before the provider is asked)
