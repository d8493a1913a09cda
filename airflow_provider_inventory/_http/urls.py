"""URL helpers every request and paginator uses, read the way the HTTP library sends them.

The request that goes out is built by ``requests`` with urllib3's ``parse_url``; a check made with
another parser can pass a URL that is then sent elsewhere (``http://evil\\@home/`` is ``home`` to
:func:`urllib.parse.urlsplit` and ``evil`` to urllib3). So every URL is checked by
:func:`checked_url` before it is compared, followed or sent: it must be ``http(s)``, have no
user-info, no backslash or control character, no whitespace in the host, a valid port, and a
host that ``urllib.parse`` and urllib3 read identically. Anything else raises :class:`PaginationError` naming
the redacted URL; nothing is sent.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from urllib.parse import parse_qsl, urlencode, urljoin, urlsplit, urlunsplit

from urllib3.exceptions import LocationParseError
from urllib3.util import Url, parse_url

from airflow_provider_inventory._http.redaction import redact_url
from airflow_provider_inventory.exceptions import PaginationError

Origin = tuple[str, str, int]
"""(scheme, host, port) with the default port made explicit."""

DEFAULT_PORTS = {"http": 80, "https": 443}


def checked_url(url: str) -> Url:
    """``url`` parsed by urllib3 (the parser that sends it), refused if two parsers could disagree.

    Returns:
        urllib3's reading of the URL.

    Raises:
        PaginationError: the URL is not ``http(s)``, has user-info, a backslash, a control
            character, whitespace in the host, a bad port, a broken IPv6 literal, or a host that
            ``urllib.parse`` and urllib3 read differently. The message names the redacted URL.
    """
    problem = unsafe_reason(url)
    if problem is not None:
        raise PaginationError(
            f"Refusing the URL {redact_url(url)}: {problem}. Credentials are only sent to the "
            f"connection's origin, and only for URLs every parser reads the same way; nothing "
            f"was requested."
        )
    return parse_url(url)


def unsafe_reason(url: str) -> str | None:
    """What makes ``url`` unsafe to send (see :func:`checked_url`), or ``None`` if nothing."""
    if not isinstance(url, str) or not url:
        return "it is empty or not a string"
    if any(ord(char) < 0x20 or ord(char) == 0x7F for char in url):
        return "it contains a control character or a line break"
    if "\\" in url:
        return "it contains a backslash, which parsers read as '/' or as a literal differently"
    scheme, separator, rest = url.partition("://")
    if not separator or scheme.lower() not in DEFAULT_PORTS:
        return "it is not an absolute http:// or https:// URL"
    authority = rest
    for stop in "/?#":
        authority = authority.split(stop, 1)[0]
    if "@" in authority:
        return "it carries user-info (name@ or name:password@ before the host)"
    if any(char.isspace() for char in authority):
        return "its host contains whitespace"
    try:
        ours = parse_url(url)
    except LocationParseError:
        return "its host or port cannot be parsed (bad port or broken IPv6 literal?)"
    try:
        theirs = urlsplit(url)
        their_port = theirs.port
    except ValueError as error:
        return f"its host or port cannot be parsed ({error})"
    host = (ours.host or "").strip("[]").lower()
    if not host:
        return "it has no host"
    # Read from the raw authority: urllib3 >= 2.8 decodes some escapes in the host itself.
    if "%" in authority:
        return "its host contains a percent-escape, which parsers decode differently"
    if host != (theirs.hostname or "").lower() or ours.port != their_port:
        return "urllib.parse and urllib3 read its host or port differently"
    if ours.port == 0:
        return "its port is 0"
    return None


def origin_of(url: str) -> Origin:
    """(scheme, host, port) of ``url`` as urllib3 reads it, default port made explicit.

    Raises:
        PaginationError: the URL is unsafe (see :func:`checked_url`).
    """
    parsed = checked_url(url)
    scheme = (parsed.scheme or "").lower()
    host = (parsed.host or "").lower()
    return scheme, host, parsed.port or DEFAULT_PORTS[scheme]


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

    Returns:
        The absolute URL, checked with :func:`checked_url`.

    Raises:
        PaginationError: the link is malformed or unsafe (bad port, broken IPv6 literal,
            user-info, backslash, control characters...), naming the redacted link.
    """
    link = link.strip()
    try:
        if link.startswith("?") or _is_bare_query(link):
            parts = urlsplit(current_url)
            resolved = urlunsplit((parts.scheme, parts.netloc, parts.path, link.lstrip("?"), ""))
        else:
            resolved = urljoin(current_url, link)
    except ValueError:
        raise PaginationError(
            f"The server sent a malformed pagination link ({redact_url(link)}); nothing was "
            f"requested from it."
        ) from None
    checked_url(resolved)
    return resolved


def _is_bare_query(link: str) -> bool:
    """``name=value&...``: the text before the first ``=`` is a parameter name, not a URL or path.

    Only that name is inspected, because values may hold ``/`` or ``:`` (timestamps, paths),
    while ``items?page=2`` (a relative path with a query) has a ``?`` before its first ``=``.
    """
    name, equals, _ = link.partition("=")
    return bool(equals) and not any(char in name for char in "/?:#")


def canonical_url(url: str) -> str:
    """The URL with its query parameters sorted, so the same page compares equal.

    Raises:
        PaginationError: the URL is unsafe (see :func:`checked_url`).
    """
    checked_url(url)
    parts = urlsplit(url)
    query = urlencode(sorted(parse_qsl(parts.query, keep_blank_values=True)))
    return urlunsplit((parts.scheme.lower(), parts.netloc.lower(), parts.path, query, ""))


__all__ = [
    "Origin",
    "canonical_url",
    "checked_url",
    "origin_of",
    "resolve_link",
    "unsafe_reason",
    "with_query",
]
