"""How to reach a Temporal service: a local dev server, a cluster, or Temporal Cloud.

The address and namespace come from the command line (or ``TEMPORAL_ADDRESS`` /
``TEMPORAL_NAMESPACE``). Temporal Cloud and clusters with TLS take an API key
(``TEMPORAL_API_KEY``, which turns TLS on) or a client certificate
(``TEMPORAL_TLS_CLIENT_CERT_PATH`` and ``TEMPORAL_TLS_CLIENT_KEY_PATH``); ``TEMPORAL_TLS=1``
asks for TLS with the system's roots alone. These are the names the ``temporal`` CLI reads.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from pydantic import BaseModel
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.service import TLSConfig

from reviewbot.errors import ReviewbotError

DEFAULT_ADDRESS = "localhost:7233"
# a token for an HTTP(S) shared remote, read by the client and by workers
GIT_TOKEN_ENV = "REVIEWBOT_GIT_TOKEN"


class Connection(BaseModel):
    address: str = DEFAULT_ADDRESS
    namespace: str = "default"
    api_key: str | None = None
    tls: bool = False
    client_cert: Path | None = None
    client_key: Path | None = None

    @classmethod
    def from_env(cls, address: str | None, namespace: str | None,
                 env: Mapping[str, str] = os.environ) -> Connection:
        cert = env.get("TEMPORAL_TLS_CLIENT_CERT_PATH")
        key = env.get("TEMPORAL_TLS_CLIENT_KEY_PATH")
        api_key = env.get("TEMPORAL_API_KEY") or None
        return cls(
            address=address or env.get("TEMPORAL_ADDRESS") or DEFAULT_ADDRESS,
            namespace=namespace or env.get("TEMPORAL_NAMESPACE") or "default",
            api_key=api_key,
            tls=bool(api_key or cert or env.get("TEMPORAL_TLS", "") in ("1", "true")),
            client_cert=Path(cert) if cert else None,
            client_key=Path(key) if key else None,
        )

    def _tls(self) -> bool | TLSConfig:
        if self.client_cert is None or self.client_key is None:
            return self.tls
        return TLSConfig(client_cert=self.client_cert.read_bytes(),
                         client_private_key=self.client_key.read_bytes())


class TemporalUnavailable(ReviewbotError):
    pass


async def connect(conn: Connection) -> Client:
    """A client whose messages are pydantic models (every message type here is one)."""
    try:
        return await Client.connect(conn.address, namespace=conn.namespace, api_key=conn.api_key,
                                    tls=conn._tls(), data_converter=pydantic_data_converter)
    except RuntimeError as exc:
        raise TemporalUnavailable(
            f"cannot reach Temporal at {conn.address} (namespace {conn.namespace}): {exc}; "
            "start one (temporal server start-dev) or pass --temporal HOST:PORT"
        ) from None
