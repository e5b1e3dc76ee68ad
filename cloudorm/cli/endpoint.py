"""How the commands that talk to a running local cloud find it: ``--endpoint-url`` (default ``$AWS_ENDPOINT_URL``,
else ``http://127.0.0.1:4566``), its admin endpoints (``/_cloudorm/...``) read over HTTP, and a session on it."""

from __future__ import annotations

import argparse
import json
import os
import urllib.error
import urllib.request
from typing import Any

from cloudorm.errors import CloudError, InvalidInput

DEFAULT_URL = "http://127.0.0.1:4566"
"""Where ``cloudorm serve`` listens by default."""

TIMEOUT = 10.0
"""Seconds an admin request may take."""


def add_options(parser: argparse.ArgumentParser) -> None:
    """Give a command ``--endpoint-url``."""
    parser.add_argument("--endpoint-url", metavar="URL", default=None,
                        help=f"the local cloud's URL (default: $AWS_ENDPOINT_URL, else {DEFAULT_URL})")


def endpoint(args: argparse.Namespace) -> str:
    """The URL the command talks to, without a trailing slash."""
    url = str(args.endpoint_url or os.environ.get("AWS_ENDPOINT_URL") or DEFAULT_URL).rstrip("/")
    if not url.startswith(("http://", "https://")):
        raise InvalidInput("endpoint_url", f"must be an http:// or https:// URL, not {url!r}")
    return url


def admin(url: str, path: str, method: str = "GET") -> Any:
    """The JSON a cloudorm local cloud at ``url`` answers on ``path`` (``/_cloudorm/health``...); a CloudError
    when nothing answers there or what answers is not a cloudorm local cloud."""
    request = urllib.request.Request(url + path, method=method, data=b"" if method == "POST" else None)
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT) as response:
            return json.loads(response.read() or b"null")
    except urllib.error.HTTPError as e:
        if e.code == 404:
            raise CloudError(f"{url} is not a cloudorm local cloud (it has no {path}); give --endpoint-url") from None
        raise CloudError(f"{url} answered {path} with HTTP {e.code}: {e.read()[:200].decode(errors='replace')}",
                         status=e.code) from None
    except (urllib.error.URLError, OSError) as e:
        raise unreachable(url, e) from None
    except ValueError:
        raise CloudError(f"{url} is not a cloudorm local cloud (its {path} is not JSON)") from None


def unreachable(url: str, error: BaseException) -> CloudError:
    """The error for a local cloud that does not answer."""
    reason = getattr(error, "reason", None) or error
    why = getattr(reason, "strerror", None) or reason
    return CloudError(f"nothing answers at {url} ({why}): start the local cloud with 'cloudorm serve', or give "
                      "--endpoint-url")


def probe(url: str) -> None:
    """Make sure something answers HTTP at ``url`` (any AWS endpoint will do); a CloudError if nothing does."""
    try:
        admin(url, "/_cloudorm/version")
    except CloudError as e:
        if str(e).startswith("nothing answers"):
            raise


def session(args: argparse.Namespace) -> Any:
    """A local session on the command's endpoint (checked to answer first), in ``--region`` if given."""
    url = endpoint(args)
    probe(url)
    import cloudorm

    return cloudorm.Session("local", endpoint_url=url, region=getattr(args, "region", None))
