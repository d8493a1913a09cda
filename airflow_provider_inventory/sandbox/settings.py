"""The sandbox's adjustable behaviour, shared by the server and the API handlers."""

from __future__ import annotations

from dataclasses import dataclass

PACK_LINK_STYLES = ("absolute", "path", "query")
PACK_BODY_SHAPES = ("flat", "wrapped")


@dataclass
class Settings:
    """Everything ``Sandbox(...)`` and ``Sandbox.set(...)`` configure besides the data.

    Plain attribute reads and writes are atomic enough for the handlers: each request reads
    the values it needs once.
    """

    pack_token: str = "sandbox-pack-token"
    organization_id: str = "org_sandbox"
    client_id: str = "sandbox-client-id"
    client_secret: str = "sandbox-client-secret"
    pack_link_style: str = "absolute"
    pack_body_shape: str = "flat"
    token_lifetime: float = 7200
    latency: float = 0.0
    latency_jitter: float = 0.0
    error_rate: float = 0.0
    base_url: str = ""

    def validate(self) -> None:
        """Raise ValueError for values outside their documented ranges."""
        if self.pack_link_style not in PACK_LINK_STYLES:
            raise ValueError(f"pack_link_style must be one of {PACK_LINK_STYLES}")
        if self.pack_body_shape not in PACK_BODY_SHAPES:
            raise ValueError(f"pack_body_shape must be one of {PACK_BODY_SHAPES}")
        if not 0.0 <= self.error_rate <= 1.0:
            raise ValueError("error_rate must be between 0 and 1")
        if self.latency < 0 or self.latency_jitter < 0:
            raise ValueError("latency and latency_jitter must not be negative")
        if self.token_lifetime <= 0:
            raise ValueError("token_lifetime must be positive")
