"""Read a JSON array of objects incrementally, one object at a time, in bounded memory.

Commerce Layer export files are one JSON array of up to 10,000 records (tens of megabytes once
decompressed). :func:`iter_json_objects` reads such an array from a binary stream in 64 KiB
chunks and yields each element as soon as it is complete, so memory holds one chunk plus one
record, whatever the file's size.

Why not a dependency: the only thing needed is splitting a top-level array whose elements are
objects. Objects are self-delimiting, so the standard library's ``JSONDecoder.raw_decode``
decodes each one from a growing buffer (strictly: ``NaN`` and ``Infinity`` are refused); a
streaming parser such as ijson would add a compiled dependency for a 60-line loop.
"""

from __future__ import annotations

import codecs
import json
from collections.abc import Iterator
from typing import IO, Any

CHUNK_CHARS = 64 * 1024
#: The longest single element accepted (characters): a guard against a file that never closes
#: its first object.
MAX_ELEMENT_CHARS = 16 * 1024 * 1024
_WHITESPACE = " \t\n\r"


class JsonArrayError(ValueError):
    """The stream is not a JSON array of objects (the message says where it went wrong)."""


def _refuse_constant(name: str) -> Any:
    raise JsonArrayError(f"it contains {name}, which JSON does not allow")


_DECODER = json.JSONDecoder(parse_constant=_refuse_constant)


def iter_json_objects(
    stream: IO[bytes], *, max_chars: int | None = None, chunk_chars: int = CHUNK_CHARS
) -> Iterator[dict[str, Any]]:
    """The objects of the JSON array in ``stream``, one by one.

    Args:
        stream: a binary stream of UTF-8 JSON (e.g. ``gzip.open(file)``).
        max_chars: the most characters read in all (counted after decompression); ``None``
            for no limit.
        chunk_chars: bytes read at a time.

    Yields:
        Each element, a ``dict``.

    Raises:
        JsonArrayError: the text is not an array of objects, is cut off, holds an element
            longer than :data:`MAX_ELEMENT_CHARS`, or exceeds ``max_chars``.
    """
    decoder = codecs.getincrementaldecoder("utf-8")("strict")
    buffer = ""
    position = 0
    total = 0
    ended = False
    state = "start"  # start -> first (after '[') -> element -> separator ... -> done

    def more() -> bool:
        nonlocal buffer, position, total, ended
        if ended:
            return False
        raw = stream.read(chunk_chars)
        try:
            text = decoder.decode(raw, final=not raw)
        except UnicodeDecodeError as error:
            raise JsonArrayError(f"it is not UTF-8 text ({error.reason})") from None
        total += len(text)
        if max_chars is not None and total > max_chars:
            raise JsonArrayError(f"it is larger than the limit of {max_chars} characters")
        if not raw:
            ended = True
        buffer = buffer[position:] + text
        position = 0
        return bool(raw) or bool(text)

    def skip_whitespace() -> bool:
        """Move past whitespace; whether a character is available."""
        nonlocal position
        while True:
            while position < len(buffer) and buffer[position] in _WHITESPACE:
                position += 1
            if position < len(buffer):
                return True
            if not more():
                return False

    while True:
        if not skip_whitespace():
            if state == "done":
                return
            raise JsonArrayError("it ends before the array is closed (the file is cut off)")
        char = buffer[position]
        if state == "done":
            raise JsonArrayError(f"unexpected {char!r} after the end of the array")
        if state == "start":
            if char != "[":
                raise JsonArrayError(f"it does not start with '[' (found {char!r})")
            position += 1
            state = "first"
            continue
        if state == "separator":
            if char == ",":
                position += 1
                state = "element"
                continue
            if char == "]":
                position += 1
                state = "done"
                continue
            raise JsonArrayError(f"expected ',' or ']' between elements, found {char!r}")
        if state == "first" and char == "]":
            position += 1
            state = "done"
            continue
        if char != "{":
            raise JsonArrayError(f"an element is not an object (starts with {char!r})")
        while True:
            try:
                element, end = _DECODER.raw_decode(buffer, position)
            except json.JSONDecodeError as error:
                if len(buffer) - position > MAX_ELEMENT_CHARS:
                    raise JsonArrayError(
                        f"an element is longer than {MAX_ELEMENT_CHARS} characters"
                    ) from None
                if not more():
                    raise JsonArrayError(
                        f"it ends inside an element (the file is cut off: {error.msg})"
                    ) from None
                continue
            break
        position = end
        state = "separator"
        yield element


__all__ = ["MAX_ELEMENT_CHARS", "JsonArrayError", "iter_json_objects"]
