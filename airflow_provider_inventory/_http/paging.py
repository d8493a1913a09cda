"""URL helpers of the paginators: page URLs, link resolution, same-origin and same-page checks.

(The paginators are in :mod:`.paginators`, the record stream with its prefetch in :mod:`.stream`.)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from urllib.parse import parse_qsl, urlencode, urljoin, urlsplit, urlunsplit


def origin_of(url: str) -> tuple[str, str, int | None]:
    """(scheme, host, port) with the default port made explicit, for same-origin checks."""
    parts = urlsplit(url)
    port = parts.port or {"http": 80, "https": 443}.get(parts.scheme)
    return parts.scheme.lower(), (parts.hostname or "").lower(), port


def with_query(url: str, params: Mapping[str, str] | Sequence[tuple[str, str]]) -> str:
    """``url`` (which has no query yet) with ``params`` appended as its query string.

    ``[`` and ``]`` stay unescaped, as JSON:API-style parameter names write them
    (``page[size]``, ``filter[q][id_gt]``); everything else is URL-encoded. No params: ``url``.
    """
    return f"{url}?{urlencode(params, safe='[]')}" if params else url


def resolve_link(current_url: str, link: str) -> str:
    """Resolve a pagination link against the URL of the page that returned it.

    Accepts an absolute URL, an absolute or relative path, or a bare query string
    (``?cursor=abc`` or ``cursor=abc``), which replaces the current URL's query.
    """
    link = link.strip()
    if link.startswith("?") or _is_bare_query(link):
        parts = urlsplit(current_url)
        return urlunsplit((parts.scheme, parts.netloc, parts.path, link.lstrip("?"), ""))
    return urljoin(current_url, link)


def _is_bare_query(link: str) -> bool:
    """``name=value&...``: the text before the first ``=`` is a parameter name, not a URL or path.

    Only that name is inspected, because values may hold ``/`` or ``:`` (timestamps, paths),
    while ``items?page=2`` (a relative path with a query) has a ``?`` before its first ``=``.
    """
    name, equals, _ = link.partition("=")
    return bool(equals) and not any(char in name for char in "/?:#")


def canonical_url(url: str) -> str:
    """The URL with its query parameters sorted, so the same page compares equal."""
    parts = urlsplit(url)
    query = urlencode(sorted(parse_qsl(parts.query, keep_blank_values=True)))
    return urlunsplit((parts.scheme.lower(), parts.netloc.lower(), parts.path, query, ""))
