"""Resource ARNs for policy statements: each service's ARN shape, built from the names a user writes
(``Statement.for_service("dynamodb", ..., ["orders"])`` → ``arn:aws:dynamodb:*:*:table/orders``).

A service whose ARN shape cloudorm does not know, or a resource that does not fit the shape, is refused with
``InvalidInput``: a statement naming a wrong ARN would silently never match.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from cloudorm.errors import InvalidInput

ANY = "*"
"""The wildcard region or account (the default: any region, and whichever account the resource is in)."""

_REGION = re.compile(r"[a-z0-9*?-]+")
_ACCOUNT = re.compile(r"\d{12}|\*")
_PLAIN = re.compile(r"[A-Za-z0-9_.*?-]+")  # a DynamoDB table, an SQS queue, an SNS topic, a Lambda function
_TYPED = re.compile(r"([a-z][a-z-]*)/(.+)")  # type/rest, e.g. user/alice, instance/i-0123


def _refuse(resource: str, service: str, how: str) -> InvalidInput:
    return InvalidInput("resources", f"{resource!r} is no {service} resource cloudorm can make an ARN of: {how}; "
                                     "or give the full ARN")


def _dynamodb(resource: str) -> str:
    """``NAME``, ``NAME/index/INDEX``, ``NAME/stream/LABEL`` (also written ``table/NAME...``) → ``table/...``."""
    parts = resource.split("/")
    if parts[0] == "table" and len(parts) % 2 == 0:  # the table/ prefix given already
        parts = parts[1:]
    if parts[0] == "global-table" and len(parts) == 2:
        return resource
    ok = all(_PLAIN.fullmatch(p) for p in parts) and (
        len(parts) == 1 or (len(parts) == 3 and parts[1] in ("index", "stream", "backup", "export", "import")))
    if not ok:
        raise _refuse(resource, "dynamodb", "write a table name ('orders'), 'orders/index/by-date' or "
                                            "'orders/index/*' for its indexes, 'orders/stream/*' for its streams")
    return "table/" + "/".join(parts)


def _lambda(resource: str) -> str:
    """``NAME`` or ``NAME:QUALIFIER`` → ``function:NAME[:QUALIFIER]``; ``function:``/``layer:``/... kept."""
    name, _, qualifier = resource.partition(":")
    if qualifier and name in ("function", "layer", "event-source-mapping", "code-signing-config"):
        return resource
    if not _PLAIN.fullmatch(name) or (qualifier and not _PLAIN.fullmatch(qualifier)):
        raise _refuse(resource, "lambda", "write a function name ('resize'), 'resize:prod' for an alias or "
                                          "version, or 'layer:NAME'")
    return f"function:{resource}"


def _named(service: str, example: str) -> Callable[[str], str]:
    """A service whose resource part is the bare name (SQS queues, SNS topics)."""
    def build(resource: str) -> str:
        if not _PLAIN.fullmatch(resource):
            raise _refuse(resource, service, f"write the name alone (e.g. {example!r})")
        return resource
    return build


def _typed(service: str, types: frozenset[str] | None, example: str) -> Callable[[str], str]:
    """A service whose resource part is ``type/name`` (IAM's ``user/alice``, EC2's ``instance/i-0123``)."""
    def build(resource: str) -> str:
        match = _TYPED.fullmatch(resource)
        if match is None or (types is not None and match.group(1) not in types):
            known = f" (one of {', '.join(sorted(types))})" if types else ""
            raise _refuse(resource, service, f"write type/name{known}, e.g. {example!r}")
        return resource
    return build


def _logs(resource: str) -> str:
    """A log group's name (``/aws/lambda/fn``, ``/aws/lambda/fn:*`` with its streams) → ``log-group:...``."""
    if resource.startswith(("log-group:", "destination:")):
        return resource
    if not re.fullmatch(r"[A-Za-z0-9_./#*?-]+(:.+)?", resource):
        raise _refuse(resource, "logs", "write a log group name ('/aws/lambda/fn', or '/aws/lambda/fn:*' for the "
                                        "group and its streams)")
    return f"log-group:{resource}"


def _execute_api(resource: str) -> str:
    """``API_ID/STAGE/METHOD/PATH`` (``abc123/*``) as it is."""
    if "/" not in resource or resource.startswith("/"):
        raise _refuse(resource, "execute-api", "write api-id/stage/METHOD/path, e.g. 'abc123/prod/GET/orders' or "
                                               "'abc123/*'")
    return resource


def _apigateway(resource: str) -> str:
    """A management API path (``/restapis/abc123/*``) as it is."""
    if not resource.startswith("/"):
        raise _refuse(resource, "apigateway", "write the API path, e.g. '/restapis/abc123/*'")
    return resource


def _s3(resource: str) -> str:
    """``bucket`` or ``bucket/key`` (``bucket/*``) as it is."""
    if resource.startswith("/"):
        raise _refuse(resource, "s3", "write bucket or bucket/key, e.g. 'reports/*'")
    return resource


Builder = Callable[[str], str]

_SHAPES: dict[str, tuple[bool, bool, Builder]] = {
    # service: (has a region, has an account, resource part from what the user wrote)
    "s3": (False, False, _s3),
    "dynamodb": (True, True, _dynamodb),
    "lambda": (True, True, _lambda),
    "sqs": (True, True, _named("sqs", "jobs")),
    "sns": (True, True, _named("sns", "alerts")),
    "logs": (True, True, _logs),
    "execute-api": (True, True, _execute_api),
    "apigateway": (True, False, _apigateway),
    "ec2": (True, True, _typed("ec2", None, "instance/i-0123456789abcdef0")),
    "kms": (True, True, _typed("kms", frozenset({"key", "alias"}), "key/1234abcd-...")),
    "iam": (False, True, _typed("iam", frozenset({
        "user", "group", "role", "policy", "instance-profile", "mfa", "server-certificate", "saml-provider",
        "oidc-provider"}), "user/alice")),
    "sts": (False, True, _typed("sts", frozenset({"assumed-role", "federated-user", "role"}),
                                "assumed-role/app/session")),
    "cloudfront": (False, True, _typed("cloudfront", None, "distribution/E123")),
    "route53": (False, False, _typed("route53", None, "hostedzone/Z123")),
}
"""The ARN shape of each service cloudorm builds ARNs for."""

SERVICES = tuple(sorted(_SHAPES))
"""The services ``resource_arn`` builds ARNs for (for any other, give full ARNs or ``*``)."""

_NO_ACCOUNT_EC2 = ("image/", "snapshot/", "fpga-image/")  # public things: their ARNs have no account


def check_region(value: object) -> str:
    """A region for an ARN (``us-east-1``, or ``*``)."""
    if not isinstance(value, str) or not _REGION.fullmatch(value):
        raise InvalidInput("region", f"must be a region such as 'us-east-1', or '*', not {value!r}")
    return value


def check_account(value: object) -> str:
    """An account id for an ARN (12 digits, or ``*``)."""
    if not isinstance(value, str) or not _ACCOUNT.fullmatch(value):
        raise InvalidInput("account", f"must be a 12-digit account id or '*', not {value!r}")
    return value


def resource_arn(service: str, resource: str, region: str = ANY, account: str = ANY) -> str:
    """``resource`` as an ARN of ``service``: ``*`` and ARNs unchanged, ``bucket/*`` → ``arn:aws:s3:::bucket/*``,
    ``orders`` (dynamodb) → ``arn:aws:dynamodb:*:*:table/orders``; ``InvalidInput`` when it cannot be built."""
    if resource == "*" or resource.startswith("arn:"):
        return resource
    shape = _SHAPES.get(service)
    if shape is None:
        raise InvalidInput("resources", f"cloudorm does not know the ARN shape of service {service!r}, so "
                                        f"{resource!r} cannot be made an ARN (it builds ARNs for "
                                        f"{', '.join(SERVICES)}): give full ARNs, e.g. "
                                        f"'arn:aws:{service}:us-east-1:123456789012:...', or '*'")
    has_region, has_account, build = shape
    part = build(resource)
    if service == "ec2" and part.startswith(_NO_ACCOUNT_EC2):
        has_account = False
    return f"arn:aws:{service}:{check_region(region) if has_region else ''}:" \
           f"{check_account(account) if has_account else ''}:{part}"
