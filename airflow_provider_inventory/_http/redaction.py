"""Keep secrets out of URLs, messages and logs."""

from __future__ import annotations

from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

_SECRET_PARAM_WORDS = ("token", "secret", "password", "key", "signature", "auth", "credential")
MASK = "***"


def is_secret_name(name: str) -> bool:
    """Whether a query parameter or field name looks like it carries a credential."""
    lowered = name.lower()
    return any(word in lowered for word in _SECRET_PARAM_WORDS)


def redact_url(url: str) -> str:
    """Return ``url`` without user-info and with secret-looking query values replaced by ``***``."""
    parts = urlsplit(url)
    netloc = parts.netloc.rsplit("@", 1)[-1]
    if not parts.query:
        return urlunsplit((parts.scheme, netloc, parts.path, "", parts.fragment))
    query = urlencode(
        [
            (name, MASK if is_secret_name(name) else value)
            for name, value in parse_qsl(parts.query, keep_blank_values=True)
        ],
        safe="[],:*",
    )
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


def register_secret(value: str | None, name: str | None = None) -> None:
    """Register ``value`` with Airflow's secrets masker so it is replaced in every log line.

    Airflow is imported lazily: the masker pulls in the logging stack, which a DAG file parse
    should not pay for.
    """
    if not value:
        return
    from airflow_provider_inventory._compat import mask_secret

    mask_secret(value, name)


class Scrubber:
    """Removes known secret values from text built from server responses or exceptions."""

    def __init__(self) -> None:
        self._secrets: set[str] = set()

    def add(self, value: str | None, name: str | None = None) -> None:
        """Remember ``value`` and register it with Airflow's masker."""
        if value and len(value) >= 4:
            self._secrets.add(value)
            register_secret(value, name)

    def __call__(self, text: str) -> str:
        for secret in self._secrets:
            if secret in text:
                text = text.replace(secret, MASK)
        return text
