"""Where the model service is and how we authenticate: ``ModelAccess`` and the client."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from pydantic import BaseModel, ConfigDict, Field

from reviewbot.config import ModelsConfig

if TYPE_CHECKING:
    import anthropic


class ModelAccess(BaseModel):
    """Credentials and endpoint for the Messages API. Keys never appear in ``repr``."""

    model_config = ConfigDict(frozen=True)

    api_key: str | None = Field(default=None, repr=False)
    base_url: str | None = None
    # A bearer token (``ANTHROPIC_AUTH_TOKEN``) for gateways that issue their own tokens.
    auth_token: str | None = Field(default=None, repr=False)

    @property
    def has_credential(self) -> bool:
        return bool(self.api_key or self.auth_token)


def _clean(value: str | None) -> str | None:
    value = (value or "").strip()
    return value or None


def model_access(env: Mapping[str, str]) -> ModelAccess | None:
    """Model access from ``ANTHROPIC_API_KEY`` / ``ANTHROPIC_AUTH_TOKEN`` / ``ANTHROPIC_BASE_URL``.

    None when there is neither a credential nor a base URL: model phases are then
    skipped rather than failing on the first request. A base URL alone is enough,
    because a local Anthropic-compatible server may need no key.
    """
    access = ModelAccess(
        api_key=_clean(env.get("ANTHROPIC_API_KEY")),
        auth_token=_clean(env.get("ANTHROPIC_AUTH_TOKEN")),
        base_url=_clean(env.get("ANTHROPIC_BASE_URL")),
    )
    if not access.has_credential and access.base_url is None:
        return None
    return access


def make_client(access: ModelAccess, config: ModelsConfig) -> anthropic.AsyncAnthropic:
    # The SDK is imported by the first command that makes a client, not by every command.
    import anthropic

    """An ``AsyncAnthropic`` client whose retries and timeout come from ``config``.

    The SDK sends an API key as ``Authorization: Bearer``; some proxies and
    self-hosted Anthropic-compatible servers read only ``x-api-key``, so the key
    goes in both headers (the API accepts either). A token from
    ``ANTHROPIC_AUTH_TOKEN`` is a bearer token and is sent only as such.
    Without any credential (a keyless local server) the Authorization header is
    omitted instead of letting the SDK refuse to send the request.
    """
    headers: dict[str, str | anthropic.Omit] = {}
    if access.api_key:
        headers["x-api-key"] = access.api_key
    elif not access.auth_token:
        headers["Authorization"] = anthropic.Omit()
    return anthropic.AsyncAnthropic(
        # The SDK accepts only one credential argument; an API key wins, as in the SDK.
        api_key=access.api_key,
        auth_token=None if access.api_key else access.auth_token,
        base_url=access.base_url,
        max_retries=config.max_retries,
        timeout=config.request_timeout,
        default_headers=headers,  # type: ignore[arg-type]
    )
