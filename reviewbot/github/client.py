"""A github3.py client that respects GitHub's rate limits.

GitHub has a primary limit (``x-ratelimit-remaining`` reaches 0 until ``x-ratelimit-reset``)
and secondary limits (403 or 429 with ``retry-after``). github3.py does not wait on either,
so the session gets a transport adapter that does: it sleeps and resends, within a bounded
total wait, and gives up with a one-line error otherwise.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import github3
import requests
from requests.adapters import HTTPAdapter

from reviewbot.errors import GitHubError

DEFAULT_API_URL = "https://api.github.com"


class RateLimitAdapter(HTTPAdapter):
    """Resends a request GitHub refused for rate limiting, after the wait GitHub asks for."""

    def __init__(
        self,
        *,
        max_retries_on_limit: int = 5,
        max_wait: float = 900.0,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.time,
    ) -> None:
        super().__init__()
        self.max_retries_on_limit = max_retries_on_limit
        self.max_wait = max_wait
        self._sleep = sleep
        self._clock = clock
        self.waits: list[float] = []  # every wait taken, for reports and tests

    def send(
        self, request: requests.PreparedRequest, *args: Any, **kwargs: Any
    ) -> requests.Response:
        waited = 0.0
        for attempt in range(self.max_retries_on_limit + 1):
            response = super().send(request, *args, **kwargs)
            delay = self._limit_delay(response)
            if delay is None:
                return response
            if attempt == self.max_retries_on_limit or waited + delay > self.max_wait:
                raise GitHubError(
                    f"GitHub rate limit still exceeded after waiting {waited:.0f}s; "
                    "rerun the job later or use a token with a higher limit"
                )
            response.close()
            self.waits.append(delay)
            self._sleep(delay)
            waited += delay
        raise AssertionError("unreachable")

    def _limit_delay(self, response: requests.Response) -> float | None:
        """Seconds to wait before resending, or None when this is not a rate-limit answer."""
        if response.status_code not in (403, 429):
            return None
        retry_after = response.headers.get("retry-after")
        if retry_after is not None:
            try:
                return max(1.0, float(retry_after))
            except ValueError:
                return 60.0
        if response.headers.get("x-ratelimit-remaining") == "0":
            reset = response.headers.get("x-ratelimit-reset")
            try:
                return max(1.0, float(reset or 0) - self._clock() + 1)
            except ValueError:
                return 60.0
        text = response.text.lower() if response.content else ""
        if "secondary rate limit" in text:
            # GitHub's advice when it gives no header: wait at least a minute.
            return 60.0
        return None


def connect(
    api_url: str,
    token: str,
    *,
    adapter: RateLimitAdapter | None = None,
) -> github3.GitHub:
    """A github3 client for ``api_url``: github.com, an Enterprise ``/api/v3`` root, a loopback."""
    if not token:
        raise GitHubError("no GitHub token; pass `github-token` (or set GITHUB_TOKEN)")
    gh = github3.GitHub(token=token)
    # github3 builds every URL from this root; Enterprise roots already end in /api/v3.
    gh.session.base_url = api_url.rstrip("/")
    limiter = adapter or RateLimitAdapter()
    gh.session.mount("https://", limiter)
    gh.session.mount("http://", limiter)
    return gh


def raw_json(gh: github3.GitHub, method: str, path: str, payload: Any | None = None) -> Any:
    """A REST call github3.py has no method for (permissions, check runs with a plain token)."""
    url = path if path.startswith("http") else f"{gh.session.base_url}{path}"
    response = gh.session.request(method, url, json=payload)
    if response.status_code >= 400:
        message = ""
        try:
            message = str(response.json().get("message", ""))
        except ValueError:
            message = response.text[:200]
        raise GitHubError(f"GitHub answered {response.status_code} to {method} {path}: {message}")
    return response.json() if response.content else None
