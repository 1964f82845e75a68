"""Docker HEALTHCHECK for `dayone serve`: GET /healthz on serve.port must answer JSON with "status": "ok".

Written in Python with urllib because the image has no curl. The port and address come from dayone's settings
(dayone.toml, DAYONE_SERVE__PORT), so a changed port does not make a healthy container look dead. Exit status:
0 healthy, 1 unhealthy (Docker's convention); one line on stdout says why, and `docker inspect` shows it.
"""

from __future__ import annotations

import json
import sys
import urllib.request

from app.settings import load_settings
from indexer.settings import ConfigError

TIMEOUT_S = 5


def healthz_url(host: str, port: int) -> str:
    """Where to ask: a wildcard bind address is reached through loopback, from inside the container."""
    if host in ("", "0.0.0.0", "::"):
        host = "127.0.0.1"
    if ":" in host:
        host = f"[{host}]"
    return f"http://{host}:{port}/healthz"


def check(url: str) -> tuple[bool, str]:
    # No proxy: an HTTP_PROXY meant for the outside world must not intercept a loopback probe.
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(url, timeout=TIMEOUT_S) as resp:
            body = json.loads(resp.read().decode("utf-8"))
    except (OSError, ValueError) as exc:
        return False, f"unhealthy: {url}: {exc}"
    if not isinstance(body, dict) or body.get("status") != "ok":
        return False, f"unhealthy: {url} answered {json.dumps(body)[:200]}"
    return True, f"healthy: {url}"


def main() -> int:
    try:
        serve = load_settings().serve
    except ConfigError as exc:
        print(f"unhealthy: {exc}")
        return 1
    ok, message = check(healthz_url(serve.host, serve.port))
    print(message)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
