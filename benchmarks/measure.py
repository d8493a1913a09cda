"""In-process measurements: memory, CPU time, wall time and record-set fingerprints.

Standard library only, so a child process can import it before the code it measures without
adding to the memory it reports.
"""

from __future__ import annotations

import hashlib
import json
import resource
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

_KIB_PER_MIB = 1024


def current_rss_mib() -> float:
    """Resident memory of this process now (``VmRSS``), in MiB."""
    return _status_mib("VmRSS")


def peak_rss_mib() -> float:
    """The highest resident memory of this process image so far (``VmHWM``), in MiB.

    Not ``getrusage(RUSAGE_SELF).ru_maxrss``: Linux carries the peak of the image a process had
    before ``exec`` into it, so a child started by a large parent would report the parent's
    size. ``VmHWM`` belongs to the current image only.
    """
    return _status_mib("VmHWM")


def _status_mib(field: str) -> float:
    """A ``kB`` line of ``/proc/self/status``, in MiB.

    Raises:
        RuntimeError: the line is missing (not Linux).
    """
    prefix = f"{field}:"
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(prefix):
            return int(line.split()[1]) / _KIB_PER_MIB
    raise RuntimeError(f"{field} not found in /proc/self/status; the benchmarks need Linux.")


def cpu_seconds() -> float:
    """User plus system CPU time of this process so far, all threads included."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


@dataclass
class Stopwatch:
    """Wall and process CPU seconds of a ``with`` block (filled in when the block ends)."""

    wall: float = 0.0
    cpu: float = 0.0


@contextmanager
def stopwatch() -> Iterator[Stopwatch]:
    """Measure the wall time and the process CPU time (all threads) of a ``with`` block."""
    watch = Stopwatch()
    wall_start, cpu_start = time.perf_counter(), cpu_seconds()
    try:
        yield watch
    finally:
        watch.wall = time.perf_counter() - wall_start
        watch.cpu = cpu_seconds() - cpu_start


@dataclass(frozen=True)
class RecordSet:
    """A fingerprint of a set of records: how many, how many distinct ids, and a digest.

    The digest is the SHA-256 of the sorted distinct ids, so two listings that return the same
    records in any order compare equal, and a missing, extra or duplicated record does not.
    """

    count: int
    distinct: int
    digest: str

    @classmethod
    def of_ids(cls, ids: Iterable[str]) -> RecordSet:
        """The fingerprint of the records with these ids (one id per record)."""
        all_ids = list(ids)
        distinct = sorted(set(all_ids))
        digest = hashlib.sha256("\n".join(distinct).encode()).hexdigest()
        return cls(count=len(all_ids), distinct=len(distinct), digest=digest)

    @classmethod
    def of_jsonl(cls, path: Path, id_field: str = "id") -> RecordSet:
        """The fingerprint of a JSON Lines file, one record per line, keyed by ``id_field``."""
        with path.open("rb") as lines:
            return cls.of_ids(str(json.loads(line)[id_field]) for line in lines if line.strip())

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RecordSet:
        """Inverse of :meth:`to_dict` (a child process reports its record set as JSON)."""
        return cls(count=int(data["count"]), distinct=int(data["distinct"]), digest=data["digest"])

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able form of the fingerprint."""
        return asdict(self)

    def mismatch(self, expected: RecordSet, what: str) -> str | None:
        """A description of how this set differs from ``expected``, or ``None`` if it matches."""
        if self == expected:
            return None
        return (
            f"{what}: got {self.count} records ({self.distinct} distinct ids), expected "
            f"{expected.count} ({expected.distinct} distinct)"
            + ("; same count but different ids" if self.count == expected.count else "")
        )
