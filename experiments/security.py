"""Which requests `make server` and `make ui` accept: the Host headers and the origins of web pages, given
to `mlflow server` in place of MLflow's defaults, which admit names an attacker can point at the server."""

from __future__ import annotations

import itertools
import os
import socket

from lottery.tracking.uris import WILDCARD_HOSTS, is_loopback

# MLflow (mlflow.server.security_utils) compares a Host or origin pattern without "*" for equality and
# fnmatches the others, where "*" matches dots too: its default "10.*" admits 10.evil.example, a name an
# attacker can point at this server (DNS rebinding). Its variable MLFLOW_SERVER_ALLOWED_HOSTS (what
# `--allowed-hosts` sets) replaces those defaults, so we always give our own list, which spells a private
# IPv4 address out as 1 to 3 digits an octet; "[.]" is a dot both to fnmatch and to Flask-CORS, which reads
# an origin with "[" or "*" as a regular expression.
_OCTETS = ("[0-9]", "[0-9][0-9]", "[0-9][0-9][0-9]")
_PRIVATE_IPV4 = tuple(
    "[.]".join((prefix, *octets))
    for prefix, free in (
        ("10", 3),
        ("172[.]1[6-9]", 2),
        ("172[.]2[0-9]", 2),
        ("172[.]3[01]", 2),
        ("192[.]168", 2),
    )
    for octets in itertools.product(_OCTETS, repeat=free)
)
# A pattern needs a "*" to be fnmatched at all. "*-!" is an empty range, which fnmatch drops: "[.*-!]"
# matches a dot only. Flask-CORS would refuse that range, so an origin's "*" goes into "[h*]ttp", which
# matches "*ttp" too: no origin.
PRIVATE_IPV4_HOSTS = tuple(address.replace("[.]", "[.*-!]", 1) for address in _PRIVATE_IPV4)
# fc00::/7 as a URL brackets it; a host that begins with "[" is an IPv6 literal, never a DNS name.
PRIVATE_IPV6_HOST = "[[]f[cdCD][0-9a-fA-F][0-9a-fA-F]:*]"
LOCAL_HOSTS = (
    "localhost",
    "127.0.0.1",
    "0.0.0.0",
    "[::1]",
    "localhost:*",
    "127.0.0.1:*",
    "0.0.0.0:*",
    "[[]::1]:*",  # fnmatch: "[[]" is a literal "["
)
ALLOWED_HOSTS = "MLFLOW_SERVER_ALLOWED_HOSTS"
CORS_ALLOWED_ORIGINS = "MLFLOW_SERVER_CORS_ALLOWED_ORIGINS"


def machine_names() -> list[str]:
    """This machine's host name and fully qualified name, as other machines may call it."""
    names = {socket.gethostname(), socket.getfqdn()}
    return sorted(name for name in names if name and not is_loopback(name))


def security_settings(host: str, port: int, allowed_hosts: str) -> dict[str, str]:
    """The variables of `mlflow server` (its `--allowed-hosts` and `--cors-allowed-origins`) accepting
    requests addressed to localhost, a private IP address, `allowed_hosts` and, unless HOST is loopback,
    this machine's names, in place of MLflow's defaults; a variable the user set is left out, so that it
    holds.

    The Host header check refuses any other name (403), and the CORS check refuses state-changing requests
    from any origin but localhost unless listed: the UI's own POSTs (listing runs) among them.
    """
    names = [name.strip() for name in allowed_hosts.split(",") if name.strip()]
    if not is_loopback(host):
        names += [*([] if host in WILDCARD_HOSTS else [host]), *machine_names()]
    names = list(dict.fromkeys(name for name in names if not is_loopback(name)))
    addresses = [*PRIVATE_IPV4_HOSTS, PRIVATE_IPV6_HOST, *names]
    hosts = ["*"] if "*" in names else [*LOCAL_HOSTS, *addresses, *(f"{address}:*" for address in addresses)]
    origins = [
        *(f"[h*]ttp://{address}:{port}" for address in _PRIVATE_IPV4),
        *(f"http://{name}:{port}" for name in names if name != "*"),
    ]
    chosen = {ALLOWED_HOSTS: hosts, CORS_ALLOWED_ORIGINS: origins}
    return {variable: ",".join(values) for variable, values in chosen.items() if not os.environ.get(variable)}
