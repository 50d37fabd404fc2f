"""The desk's login throttle keys clients by their real address (finding 5 of the hardening
issue): `X-Forwarded-For` is believed only from the reverse proxies a deployment lists, so
nobody can pick the address a failure is counted against, and an office behind one proxy is not
one client."""

from __future__ import annotations

from starlette.requests import Request

from bot.staff_web.shell import client_address


def request(peer: str, forwarded: str | None = None) -> Request:
    headers = [(b"x-forwarded-for", forwarded.encode())] if forwarded is not None else []
    return Request({"type": "http", "client": (peer, 5555), "headers": headers})


def test_the_header_is_ignored_from_anyone_but_a_trusted_proxy() -> None:
    assert client_address(request("203.0.113.9", "1.2.3.4"), ()) == "203.0.113.9"
    assert client_address(request("203.0.113.9", "1.2.3.4"), ("10.0.0.2",)) == "203.0.113.9"


def test_behind_a_trusted_proxy_the_last_untrusted_hop_is_the_client() -> None:
    proxies = ("10.0.0.2", "10.0.0.3")
    # The client wrote "6.6.6.6" itself; the proxies appended what they saw.
    assert client_address(request("10.0.0.2", "6.6.6.6, 198.51.100.7, 10.0.0.3"), proxies) == (
        "198.51.100.7"
    )
    assert client_address(request("10.0.0.2"), proxies) == "10.0.0.2"
