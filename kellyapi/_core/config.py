"""Every default of the SDK, and the validated configuration one client holds."""

from __future__ import annotations

import ipaddress
import math
import os
import re
import urllib.parse
from typing import Any

import attrs

from kellyapi import errors
from kellyapi._core.network import Network, network_for
from kellyapi._core.policy.retry import RetryPolicy
from kellyapi._core.shown import shown
from kellyapi._version import __version__

DEFAULT_BASE_URL = "https://api.kellyai.pro/"
DEFAULT_TIMEOUT = 60.0
DEFAULT_MAX_RETRIES = 2
MAX_TIMEOUT = 24 * 3600.0  # a day; socket and event-loop timers overflow on absurd values
DEFAULT_MAX_RESPONSE_BYTES = 64 * 1024 * 1024  # a 48 MiB image, base64-encoded in its JSON answer
API_KEY_ENV = "KELLY_API_KEY"
BASE_URL_ENV = "KELLY_API_URL"
USER_AGENT = f"kellyapi/{__version__}"

_NETWORK_OPTIONS = frozenset({"api", "proxy", "trust_env", "verify"})  # what decides the proxy and TLS settings

# The key goes into a header: refuse anything that could split or forge one.
_API_KEY_SHAPE = re.compile(r"[\x21-\x7e]+")


def check_timeout(timeout: object, what: str = "timeout") -> float:
    """Return `timeout` as a float of seconds, or raise InvalidRequest if it is not a positive number."""
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)):
        raise errors.InvalidArgumentType(f"{what} must be a number of seconds, got {type(timeout).__name__}")
    try:
        seconds = float(timeout)
    except OverflowError:
        seconds = math.inf
    if not (0 < seconds <= MAX_TIMEOUT):
        raise errors.InvalidArgumentValue(
            f"{what} must be more than 0 and at most {MAX_TIMEOUT:g} seconds, got {shown(timeout)}"
        )
    return seconds


def _is_loopback(host: str) -> bool:
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _check_base_url(url: object, allow_insecure_http: bool) -> str:
    if not isinstance(url, str):
        raise errors.InvalidArgumentType(f"api must be a URL string, got {type(url).__name__}")
    if not re.match(r"https?://[^/\s?#]+", url) or any(c.isspace() for c in url):
        raise errors.InvalidArgumentValue(f"api must be an http:// or https:// URL, got {url!r}")
    parts = urllib.parse.urlsplit(url)
    if parts.scheme == "http" and not allow_insecure_http and not _is_loopback(parts.hostname or ""):
        # Plain HTTP would put the key on the wire in clear text; loopback (the sandbox) never leaves the machine.
        raise errors.InvalidArgumentValue(
            f"api {url!r} is plain http:// to another machine, which would send the API key unencrypted;"
            " use https://, or pass allow_insecure_http=True if you really mean it"
        )
    return url if url.endswith("/") else url + "/"


def _check_max_response_bytes(limit: object) -> int:
    if isinstance(limit, bool) or not isinstance(limit, int):
        raise errors.InvalidArgumentType(f"max_response_bytes must be an int >= 1, got {shown(limit)}")
    if limit < 1:
        raise errors.InvalidArgumentValue(f"max_response_bytes must be an int >= 1, got {shown(limit)}")
    return limit


def _check_max_rate(rate: object) -> float | None:
    if rate is None:
        return None
    if isinstance(rate, bool) or not isinstance(rate, (int, float)):
        raise errors.InvalidArgumentType(f"max_rate must be calls a second (a number) or None, got {shown(rate)}")
    if not (0 < rate < math.inf):
        raise errors.InvalidArgumentValue(f"max_rate must be more than 0 calls a second, got {shown(rate)}")
    return float(rate)


def _check_flag(value: object, name: str) -> bool:
    if not isinstance(value, bool):
        raise errors.InvalidArgumentType(f"{name} must be True or False, got {type(value).__name__}")
    return value


def _check_api_key(api_key: object) -> str | None:
    if api_key is None or api_key == "":
        return None
    if not isinstance(api_key, str):
        raise errors.InvalidApiKey(f"api_key must be a string, got {type(api_key).__name__}")
    if not _API_KEY_SHAPE.fullmatch(api_key):
        raise errors.InvalidApiKey("api_key must be printable ASCII without spaces")
    return api_key


@attrs.frozen(repr=False)
class ClientConfig:
    """What one client was configured with; the key never shows in its repr."""

    base_url: str
    timeout: float
    retry: RetryPolicy
    headers: dict[str, str] = attrs.field(eq=False)
    json_headers: dict[str, str] = attrs.field(eq=False)  # `headers` and the JSON content type, for POSTs
    has_api_key: bool
    max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES
    network: Network = attrs.field(factory=Network)
    # The constructor's options as resolved (the key and URL taken from the environment), for with_options().
    max_rate: float | None = None
    adaptive_rate: bool = True
    options: dict[str, object] = attrs.field(factory=dict, eq=False, repr=False)

    @classmethod
    def create(
        cls,
        api_key: str | None,
        api: str | None,
        timeout: float,
        max_retries: int,
        *,
        max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES,
        allow_insecure_http: bool = False,
        proxy: str | None = None,
        trust_env: bool = True,
        verify: object = True,
        max_rate: float | None = None,
        adaptive_rate: bool = True,
        network: Network | None = None,
    ) -> ClientConfig:
        """Validate the constructor arguments, falling back to KELLY_API_KEY, KELLY_API_URL and the proxy variables.

        `network`: the proxy and TLS settings already worked out from `proxy`, `trust_env` and `verify`.
        """
        key = _check_api_key(api_key if api_key is not None else os.environ.get(API_KEY_ENV))
        url = api if api is not None else os.environ.get(BASE_URL_ENV, DEFAULT_BASE_URL)
        base_url = _check_base_url(url, allow_insecure_http is True)
        if isinstance(max_retries, bool) or not isinstance(max_retries, int):
            raise errors.InvalidArgumentType(f"max_retries must be an int >= 0, got {shown(max_retries)}")
        if max_retries < 0:
            raise errors.InvalidArgumentValue(f"max_retries must be an int >= 0, got {shown(max_retries)}")
        headers = {"Accept": "application/json", "User-Agent": USER_AGENT}
        if key is not None:
            headers["Authorization"] = f"Bearer {key}"
        return cls(
            base_url=base_url,
            timeout=check_timeout(timeout),
            retry=RetryPolicy(max_retries=max_retries),
            headers=headers,
            json_headers=headers | {"Content-Type": "application/json"},
            has_api_key=key is not None,
            max_response_bytes=_check_max_response_bytes(max_response_bytes),
            network=network or network_for(base_url, proxy, trust_env, verify),
            max_rate=_check_max_rate(max_rate),
            adaptive_rate=_check_flag(adaptive_rate, "adaptive_rate"),
            options={
                "api_key": key,
                "api": base_url,
                "timeout": timeout,
                "max_retries": max_retries,
                "max_response_bytes": max_response_bytes,
                "allow_insecure_http": allow_insecure_http,
                "proxy": proxy,
                "trust_env": trust_env,
                "verify": verify,
                "max_rate": max_rate,
                "adaptive_rate": adaptive_rate,
            },
        )

    def with_options(self, overrides: dict[str, object]) -> ClientConfig:
        """This configuration with some constructor options changed; InvalidArgumentType for an unknown one."""
        unknown = sorted(set(overrides) - set(self.options))
        if unknown:
            raise errors.InvalidArgumentType(
                f"with_options() takes the constructor's options but session=; got {', '.join(unknown)}"
            )
        options: dict[str, Any] = {**self.options, **overrides}
        same_network = not _NETWORK_OPTIONS.intersection(overrides)
        return ClientConfig.create(**options, network=self.network if same_network else None)

    def __repr__(self) -> str:
        key = "set" if self.has_api_key else "missing"
        text = f"api={self.base_url!r}, api_key=<{key}>, timeout={self.timeout:g}, max_retries={self.retry.max_retries}"
        return text if self.network.proxy is None else f"{text}, proxy={self.network.proxy!r}"
