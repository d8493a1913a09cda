"""Keep secrets out of URLs, messages, exceptions and logs: by name and by value.

Two rules, applied to everything that leaves the HTTP core:

- **by name**: user-info and the values of query parameters whose name looks like a credential
  (``token``, ``secret``, ``key``...) are replaced by ``***`` (:func:`redact_url`);
- **by value**: every secret a hook registered through a :class:`Scrubber` (API tokens, client
  ids and secrets, access tokens as they are fetched), in clear and URL-encoded, is replaced by
  ``***`` wherever it appears (:func:`scrub`), so a server that echoes a token into a link or an
  error body cannot get it into a log line or an exception.

Like Airflow's own secrets masker, the set of known values is per process: a value one hook
registers is masked in every message of the process. The HTTP core does not import Airflow; a
hook hands its masker in as a callback (``Scrubber(mask=...)``) so task logs mask the values too.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Callable
from urllib.parse import parse_qsl, quote, quote_plus, unquote, urlencode, urlsplit, urlunsplit

_SECRET_PARAM_WORDS = ("token", "secret", "password", "key", "signature", "auth", "credential")
MASK = "***"
#: Shorter values are not masked: replacing every "ab" in a message would garble it.
MIN_SECRET_LENGTH = 4

Masker = Callable[[str, "str | None"], None]
"""Registers a secret with a log masker: ``mask(value, name)`` (Airflow's ``mask_secret``)."""


class _KnownSecrets:
    """The secret values of this process, longest first (read without a lock: replaced whole)."""

    def __init__(self) -> None:
        self.values: tuple[str, ...] = ()
        self._lock = threading.Lock()

    def add(self, value: str) -> None:
        forms = {value, quote(value, safe=""), quote_plus(value, safe="")}
        with self._lock:
            if forms <= set(self.values):
                return
            self.values = tuple(sorted(forms | set(self.values), key=len, reverse=True))


_known = _KnownSecrets()


def is_secret_name(name: str) -> bool:
    """Whether a query parameter or field name looks like it carries a credential."""
    lowered = name.lower()
    return any(word in lowered for word in _SECRET_PARAM_WORDS)


def scrub(text: str) -> str:
    """``text`` with every known secret value (clear or URL-encoded) replaced by ``***``."""
    for secret in _known.values:  # longest first: a secret containing another is masked whole
        if secret in text:
            text = text.replace(secret, MASK)
    return text


def redact_url(url: str) -> str:
    """``url`` without user-info, with secret-looking query values and known secrets masked.

    Never raises: a URL too malformed to split is scrubbed as text (user-info cut out).
    """
    try:
        parts = urlsplit(scrub(url))
    except ValueError:
        return scrub(re.sub(r"//[^/?#]*@", "//", url))
    netloc = parts.netloc.rsplit("@", 1)[-1]
    path = parts.path
    if scrub(unquote(path)) != unquote(path):  # a secret in an encoding not registered
        path = scrub(unquote(path))
    query = parts.query
    if query:
        query = urlencode(
            [
                (name, MASK if is_secret_name(name) else scrub(value))
                for name, value in parse_qsl(query, keep_blank_values=True)
            ],
            safe="[],:*",
        )
    return scrub(urlunsplit((parts.scheme, netloc, path, query, parts.fragment)))


class Scrubber:
    """A hook's handle on redaction: registers its secrets, and scrubs text.

    Args:
        mask: called with ``(value, name)`` for every secret added, to register it with a log
            masker (hooks pass Airflow's ``mask_secret``); ``None`` for none.
    """

    def __init__(self, mask: Masker | None = None) -> None:
        self._mask = mask

    def add(self, value: str | None, name: str | None = None) -> None:
        """Mask ``value`` from now on (ignored when empty or shorter than 4 characters)."""
        if not value or len(value) < MIN_SECRET_LENGTH:
            return
        _known.add(value)
        if self._mask is not None:
            self._mask(value, name)

    def __call__(self, text: str) -> str:
        """``text`` with every known secret masked (see :func:`scrub`)."""
        return scrub(text)


class ScrubbingFilter(logging.Filter):
    """Rewrites a log record's message with known secrets masked (for libraries' loggers).

    urllib3 logs each request line at DEBUG, query string included; a token a server echoed
    into a link would otherwise reach any handler listening at DEBUG.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        if _known.values:
            message = record.getMessage()
            cleaned = scrub(message)
            if cleaned != message:
                record.msg, record.args = cleaned, ()
        return True


_FILTER = ScrubbingFilter()


def scrub_library_logs(*logger_names: str) -> None:
    """Install the scrubbing filter on ``logger_names`` (idempotent)."""
    for name in logger_names:
        logger = logging.getLogger(name)
        if _FILTER not in logger.filters:
            logger.addFilter(_FILTER)


__all__ = [
    "MASK",
    "Masker",
    "Scrubber",
    "is_secret_name",
    "redact_url",
    "scrub",
    "scrub_library_logs",
]
