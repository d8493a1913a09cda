"""State shared by the processes of one host: small files under a cache directory, under a lock.

Airflow runs every task instance in a process of its own (and the triggerer and sensors in
others), so anything kept in memory is per process. What must be shared on a host (the send
times of a rate budget, an access token) lives in a small file per key in an owner-only cache
directory and is read and replaced under an exclusive ``fcntl.flock``:

- :class:`HostSettings` says where that directory is and whether sharing is on. It is read from
  the environment (``INVENTORY_CACHE_DIR``, ``INVENTORY_HOST_SHARING``); Airflow's own
  configuration is applied by ``hooks/_host.py`` (this package does not import Airflow).
- :class:`LockedFile` is one such file: ``with file.locked() as slot`` holds the lock (threads
  of the process first take a ``threading.Lock``: ``flock`` does not exclude threads sharing a
  descriptor), ``slot.data`` is the content, ``slot.write(data)`` replaces it.

The directory is created ``0700`` and files ``0600``; a directory owned by another user, or
open to others, is refused (sharing then stays off, said once in the log).
"""

from __future__ import annotations

import fcntl
import hashlib
import logging
import os
import stat
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

log = logging.getLogger(__name__)

ENV_CACHE_DIR = "INVENTORY_CACHE_DIR"
ENV_HOST_SHARING = "INVENTORY_HOST_SHARING"
CACHE_DIR_NAME = "airflow-provider-inventory"
#: A state file larger than this is not ours (or corrupt): it is read as empty.
MAX_FILE_BYTES = 1 << 20


class Cipher(Protocol):
    """Symmetric encryption for what must not be on disk in clear text (``cryptography.Fernet``)."""

    def encrypt(self, data: bytes) -> bytes:
        """The encrypted form of ``data``."""
        ...

    def decrypt(self, token: bytes) -> bytes:
        """The clear text; raises when ``token`` was not made with this key."""
        ...


@dataclass(frozen=True)
class HostSettings:
    """Where host-shared state lives, and whether it is shared at all.

    Attributes:
        cache_dir: the directory of the state files, or ``None``: nothing is shared between
            processes (each process paces and caches tokens on its own).
        cipher: encrypts tokens on disk; ``None``: tokens are not shared (never stored in clear).
    """

    cache_dir: Path | None
    cipher: Cipher | None = None

    @classmethod
    def from_environment(
        cls, *, cache_dir: str | None = None, cipher: Cipher | None = None
    ) -> HostSettings:
        """Settings from ``INVENTORY_HOST_SHARING`` / ``INVENTORY_CACHE_DIR``.

        Args:
            cache_dir: the directory to use when ``INVENTORY_CACHE_DIR`` is not set (Airflow's
                configuration, from ``hooks/_host.py``); default: the user's cache directory.
            cipher: the token cipher (Airflow's Fernet key), if any.
        """
        if not sharing_enabled():
            return cls(None)
        chosen = os.environ.get(ENV_CACHE_DIR) or cache_dir
        return cls(Path(chosen).expanduser() if chosen else default_cache_dir(), cipher)

    def state_dir(self, kind: str) -> Path | None:
        """The owner-only subdirectory ``kind`` (created), or ``None`` when it cannot be used."""
        if self.cache_dir is None:
            return None
        directory = self.cache_dir / kind
        try:
            _private_dir(self.cache_dir)
            _private_dir(directory)
        except OSError as error:
            _warn_once(f"dir:{self.cache_dir}", "%s; host sharing is off.", error)
            return None
        return directory


def sharing_enabled() -> bool:
    """``INVENTORY_HOST_SHARING`` is not set to false/0/no/off (default: on)."""
    value = os.environ.get(ENV_HOST_SHARING, "").strip().lower()
    return value not in ("false", "0", "no", "off")


def default_cache_dir() -> Path:
    """``$XDG_CACHE_HOME/airflow-provider-inventory``, else ``~/.cache/airflow-provider-inventory``."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / CACHE_DIR_NAME


def file_name(key: tuple[str, ...], suffix: str) -> str:
    """A file name for ``key`` that reveals nothing of it (a SHA-256 of its parts)."""
    digest = hashlib.sha256("\x1f".join(key).encode()).hexdigest()[:40]
    return f"{digest}{suffix}"


def _private_dir(path: Path) -> None:
    """Create ``path`` 0700, or check an existing one is ours and closed to others.

    Raises:
        OSError: it is not a directory, belongs to another user, or cannot be made private.
    """
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    info = path.lstat()
    if not stat.S_ISDIR(info.st_mode):
        raise OSError(f"{path} is not a directory")
    if info.st_uid != os.getuid():
        raise OSError(f"{path} belongs to another user (uid {info.st_uid})")
    if info.st_mode & 0o077:
        os.chmod(path, 0o700)


_warned: set[str] = set()
_warned_lock = threading.Lock()


def _warn_once(topic: str, message: str, *args: object) -> None:
    """Log ``message`` at WARNING the first time ``topic`` comes up in this process."""
    with _warned_lock:
        if topic in _warned:
            return
        _warned.add(topic)
    log.warning(message, *args)


def info_once(topic: str, message: str, *args: object) -> None:
    """Log ``message`` at INFO the first time ``topic`` comes up in this process."""
    with _warned_lock:
        if topic in _warned:
            return
        _warned.add(topic)
    log.info(message, *args)


class Slot:
    """The content of a :class:`LockedFile` while its lock is held."""

    def __init__(self, fd: int, data: bytes) -> None:
        self._fd = fd
        self.data = data

    def write(self, data: bytes) -> None:
        """Replace the file's content with ``data``."""
        os.pwrite(self._fd, data, 0)
        os.ftruncate(self._fd, len(data))
        self.data = data


class LockedFile:
    """One small file, read and replaced under an exclusive lock shared by threads and processes.

    The descriptor stays open for the life of the object (reopened after a ``fork``: a child must
    not share its parent's open file, whose ``flock`` would not exclude the two).
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._fd: int | None = None
        self._pid = 0

    @contextmanager
    def locked(self) -> Iterator[Slot]:
        """Hold the lock for the block; the slot has the content and writes it back."""
        with self._lock:
            fd = self._descriptor()
            fcntl.flock(fd, fcntl.LOCK_EX)
            try:
                size = os.fstat(fd).st_size
                data = os.pread(fd, size, 0) if 0 < size <= MAX_FILE_BYTES else b""
                yield Slot(fd, data)
            finally:
                fcntl.flock(fd, fcntl.LOCK_UN)

    def usable(self) -> bool:
        """Whether the file can be opened (never through a symbolic link); when it cannot, one
        WARNING names it and the caller keeps that key's state in the process."""
        with self._lock:
            try:
                self._descriptor()
            except OSError as error:
                _warn_once(
                    f"file:{self.path}",
                    "Cannot use the host state file %s (%s); its state stays in this process "
                    "(not shared with the other processes of the host). Remove the file to "
                    "share it again.",
                    self.path,
                    error.strerror or type(error).__name__,
                )
                return False
            return True

    def _descriptor(self) -> int:
        if self._fd is None or self._pid != os.getpid():
            flags = (
                os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
            )
            self._fd = os.open(self.path, flags, 0o600)
            self._pid = os.getpid()
        return self._fd

    def remove(self) -> None:
        """Delete the file (another process may recreate it)."""
        self.close()
        self.path.unlink(missing_ok=True)

    def close(self) -> None:
        """Close the descriptor (the file stays)."""
        with self._lock:
            if self._fd is not None and self._pid == os.getpid():
                os.close(self._fd)
            self._fd = None

    def __del__(self) -> None:
        try:
            if self._fd is not None and self._pid == os.getpid():
                os.close(self._fd)
        except OSError:
            pass
