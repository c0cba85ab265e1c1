"""How a client reaches the API: which proxy (from `proxy=` or the environment) and which TLS verification.

The environment is read as curl, requests and httpx read it: `https_proxy`/`HTTPS_PROXY` for an https://
API, `http_proxy`/`HTTP_PROXY` for http://, then `all_proxy`/`ALL_PROXY`; `no_proxy`/`NO_PROXY` lists
hosts, domain suffixes, IP networks and `*` that are reached directly. Lower case wins over upper case.
"""

from __future__ import annotations

import base64
import ipaddress
import logging
import os
import ssl
import urllib.parse
from collections.abc import Mapping

import attrs

from kellyapi import errors

logger = logging.getLogger("kellyapi")

Verify = bool | str | os.PathLike[str] | ssl.SSLContext
"""`verify=`: True (the system's CAs, or SSL_CERT_FILE), a CA bundle's path, an SSLContext, or False."""


@attrs.frozen(repr=False)
class Proxy:
    """A forward proxy: its URL without credentials, and the credentials (`user:password`) apart."""

    url: str
    credentials: str | None = None

    def __repr__(self) -> str:
        return repr(self.url if self.credentials is None else self.url.replace("://", "://***@", 1))


@attrs.frozen
class Network:
    """The proxy (None: direct) and the TLS context (None: the HTTP library's default verification)."""

    proxy: Proxy | None = None
    ssl_context: ssl.SSLContext | None = None


def basic_credentials(credentials: str) -> str:
    """The `Proxy-Authorization` value for `user:password`."""
    return "Basic " + base64.b64encode(credentials.encode("utf-8")).decode("ascii")


def _environ(environ: Mapping[str, str], name: str) -> str | None:
    for variant in (name.lower(), name.upper()):
        value = environ.get(variant)
        if value and value.strip():
            return value.strip()
    return None


def _bypassed(host: str, port: int, no_proxy: str) -> bool:
    host = host.lower().strip("[]")
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        address = None
    for entry in no_proxy.replace(" ", "").split(","):
        if not entry:
            continue
        if entry == "*":
            return True
        entry = entry.lower()
        name, _, entry_port = entry.rpartition(":") if entry.count(":") == 1 else (entry, "", "")
        if entry_port and (not entry_port.isdigit() or int(entry_port) != port):
            continue
        name = name.strip("[]")
        if address is not None:
            try:
                if address in ipaddress.ip_network(name, strict=False):
                    return True
            except ValueError:
                pass
            continue
        suffix = name.lstrip(".")
        if host == suffix or host.endswith("." + suffix):
            return True
    return False


def parse_proxy(url: object, source: str = "proxy") -> Proxy:
    """A Proxy from `http://[user:password@]host:port`; a bare `host:port` means http:// as in curl."""
    if not isinstance(url, str):
        raise errors.InvalidArgumentType(f"{source} must be a proxy URL such as http://host:3128")
    if not url.strip():
        raise errors.InvalidArgumentValue(f"{source} must be a proxy URL such as http://host:3128")
    text = url.strip() if "://" in url else "http://" + url.strip()
    parts = urllib.parse.urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        shown = Proxy(text.split("@")[-1]) if "@" in text else Proxy(text)
        raise errors.InvalidArgumentValue(f"{source} {shown!r} is not an http:// or https:// proxy URL")
    credentials = None
    netloc = parts.netloc
    if "@" in netloc:
        userinfo, _, netloc = netloc.rpartition("@")
        user, _, password = userinfo.partition(":")
        credentials = f"{urllib.parse.unquote(user)}:{urllib.parse.unquote(password)}"
    return Proxy(f"{parts.scheme}://{netloc}", credentials)


def proxy_from_environment(base_url: str, environ: Mapping[str, str]) -> Proxy | None:
    """The proxy the environment names for `base_url`, or None when there is none or NO_PROXY bypasses it."""
    parts = urllib.parse.urlsplit(base_url)
    no_proxy = _environ(environ, "no_proxy")
    port = parts.port or (443 if parts.scheme == "https" else 80)
    if no_proxy and _bypassed(parts.hostname or "", port, no_proxy):
        return None
    names = [f"{parts.scheme}_proxy", "all_proxy"]
    # Under CGI, HTTP_PROXY is the client's `Proxy:` header (httpoxy): only the lower-case name counts there.
    found = None
    for name in names:
        if name == "http_proxy" and "REQUEST_METHOD" in environ:
            found = environ.get("http_proxy") or None
        else:
            found = _environ(environ, name)
        if found:
            return parse_proxy(found, name.upper())
    return None


# What ssl raises when the bytes on the wire stopped (an EOF, a reset) rather than when they were not TLS.
_TLS_CUT_SHORT = (ssl.SSLEOFError, ssl.SSLSyscallError, ssl.SSLZeroReturnError, ssl.SSLWantReadError)


def is_tls_protocol_failure(error: object) -> bool:
    """Whether `error` is a TLS failure on what the server sent (plain HTTP on an https:// URL, a certificate
    that fails verification), which the same request would meet again; an EOF or a reset is not one."""
    return isinstance(error, ssl.SSLError) and not isinstance(error, _TLS_CUT_SHORT)


def ssl_context_for(verify: object) -> ssl.SSLContext | None:
    """The TLS context for `verify=`; None for True, so the HTTP library's default (and SSL_CERT_FILE) applies."""
    if verify is True:
        return None
    if isinstance(verify, ssl.SSLContext):
        return verify
    if verify is False:
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        logger.warning("verify=False: TLS certificates are not checked, so anyone on the path can read the API key")
        return context
    if isinstance(verify, (str, os.PathLike)):
        try:
            return ssl.create_default_context(cafile=os.fspath(verify))
        except (OSError, ssl.SSLError) as exc:
            raise errors.InvalidArgumentValue(
                f"verify={os.fspath(verify)!r} is not a readable CA bundle: {exc}"
            ) from None
    raise errors.InvalidArgumentType(
        f"verify must be True, False, a CA bundle's path or an ssl.SSLContext, got {type(verify).__name__}"
    )


def network_for(base_url: str, proxy: object, trust_env: object, verify: object) -> Network:
    """Validate `proxy=`, `trust_env=` and `verify=` into the Network a client's transport uses."""
    if not isinstance(trust_env, bool):
        raise errors.InvalidArgumentType(f"trust_env must be True or False, got {type(trust_env).__name__}")
    if proxy is not None:
        chosen: Proxy | None = parse_proxy(proxy)
    elif trust_env:
        chosen = proxy_from_environment(base_url, os.environ)
    else:
        chosen = None
    return Network(chosen, ssl_context_for(verify))
