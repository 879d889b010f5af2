"""``python -m common.healthcheck [--wait SECONDS] NAME_OR_ADDRESS...``: exit 0 when every server is SERVING.

A name (``supervisor`` or a team of common/teams.py: ``research``...) means localhost on that service's configured
port. With ``TLS_CERT_FILE``, ``TLS_KEY_FILE`` and ``TLS_CA_FILE`` set (the service's own settings, in its container
or pod) the check speaks mutual TLS, verifying the server's certificate against the CA (for ``TLS_SERVER_NAME`` when
set, else the address's host: the certificates name ``127.0.0.1`` and ``localhost``).
"""

from __future__ import annotations

import argparse
import sys
import time

from common.config import get_settings
from common.errors import ConfigError
from common.launcher import check_health
from common.teams import TEAMS
from common.tls import tls_files


def _address(target: str) -> str:
    if target in {service.name for service in TEAMS.services()}:
        return f"127.0.0.1:{get_settings().port_of(target)}"
    return target


def main(argv: list[str] | None = None) -> int:
    """Check (and optionally wait for) the health of servers."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("targets", nargs="+", help="service names or host:port addresses")
    parser.add_argument("--wait", type=float, default=0.0, help="seconds to keep retrying")
    parser.add_argument("--service", default="", help="health service name to check (default: the server)")
    args = parser.parse_args(argv)
    try:
        tls = tls_files(get_settings())
    except ConfigError as exc:
        print(f"healthcheck: {exc}", file=sys.stderr)
        return 2
    deadline = time.monotonic() + args.wait
    failed: dict[str, str] = {}
    for target in args.targets:
        address = _address(target)
        status = check_health(address, args.service, tls=tls)
        while status != "SERVING" and time.monotonic() < deadline:
            time.sleep(0.2)
            status = check_health(address, args.service, tls=tls)
        print(f"{target} ({address}): {status}")
        if status != "SERVING":
            failed[target] = status
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
