"""What changed in a work tree since the last look, from the kernel (Linux inotify).

Handing a pooled worktree back must put back whatever the task touched: its own edits,
and whatever a verify command built or rewrote. Finding that by scanning costs a stat of
every file and a read of every directory (~100 ms on a 7k-file tree). A watch on every
tracked directory is set once per worktree instead; the kernel queues the names created,
written, re-moded, moved or deleted in them, and handing back reads that queue.

Where the watch cannot answer (no inotify on this platform, a watch limit reached, the
kernel's queue overflowed) :meth:`TreeWatch.changes` says so and the caller scans.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import errno
import os
import struct
import sys
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

_IN_MODIFY = 0x002
_IN_ATTRIB = 0x004
_IN_MOVED_FROM = 0x040
_IN_MOVED_TO = 0x080
_IN_CREATE = 0x100
_IN_DELETE = 0x200
_IN_DELETE_SELF = 0x400
_IN_MOVE_SELF = 0x800
_IN_Q_OVERFLOW = 0x4000
_IN_IGNORED = 0x8000
_IN_ONLYDIR = 0x01000000
_IN_DONT_FOLLOW = 0x02000000
_IN_EXCL_UNLINK = 0x04000000
_IN_ISDIR = 0x40000000
_IN_NONBLOCK = os.O_NONBLOCK
_IN_CLOEXEC = os.O_CLOEXEC
_MASK = (
    _IN_MODIFY
    | _IN_ATTRIB
    | _IN_MOVED_FROM
    | _IN_MOVED_TO
    | _IN_CREATE
    | _IN_DELETE
    | _IN_DELETE_SELF
    | _IN_MOVE_SELF
    | _IN_ONLYDIR
    | _IN_DONT_FOLLOW
    | _IN_EXCL_UNLINK
)
_DIR_EVENTS = _IN_CREATE | _IN_DELETE | _IN_MOVED_FROM | _IN_MOVED_TO
_HEADER = struct.Struct("iIII")  # wd, mask, cookie, len (then len bytes of name)

_libc: ctypes.CDLL | None = None


def _lib() -> ctypes.CDLL | None:
    global _libc
    if _libc is None and sys.platform.startswith("linux"):
        found = ctypes.util.find_library("c")
        _libc = ctypes.CDLL(found, use_errno=True) if found else None
    return _libc


@dataclass
class Changes:
    """Paths (relative, ``/``-separated) named by the events since the last look."""

    paths: set[str] = field(default_factory=set)
    dirs: set[str] = field(default_factory=set)  # directories created, deleted or moved


class TreeWatch:
    """An inotify watch on the given directories of a work tree (``""`` is its root)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._fd = -1
        self._dirs: dict[int, str] = {}  # watch descriptor -> directory
        self._broken = False  # a watch could not be set or the queue overflowed
        self._open()

    def _open(self) -> None:
        lib = _lib()
        fd = lib.inotify_init1(_IN_NONBLOCK | _IN_CLOEXEC) if lib is not None else -1
        self._fd = fd
        self._broken = fd < 0

    @property
    def usable(self) -> bool:
        return self._fd >= 0 and not self._broken

    def add(self, dirs: Iterable[str]) -> None:
        """Watch these directories (already watched ones are skipped by the kernel)."""
        lib = _lib()
        if lib is None or self._fd < 0:
            return
        for rel in dirs:
            where = os.fsencode(self.root / rel if rel else self.root)
            wd = lib.inotify_add_watch(self._fd, where, _MASK)
            if wd < 0:
                # a directory already gone is fine (its parent's events name it); limits are not
                if ctypes.get_errno() not in (errno.ENOENT, errno.ENOTDIR):
                    self._broken = True
                continue
            self._dirs[wd] = rel

    def changes(self) -> Changes | None:
        """What the queued events name, emptying the queue; None when they cannot say."""
        out = Changes()
        if self._fd < 0:
            return None
        while True:
            try:
                data = os.read(self._fd, 1 << 16)
            except BlockingIOError:
                break
            offset = 0
            while offset < len(data):
                wd, mask, _cookie, size = _HEADER.unpack_from(data, offset)
                offset += _HEADER.size
                name = data[offset : offset + size].rstrip(b"\0").decode("utf-8", "surrogateescape")
                offset += size
                if mask & _IN_Q_OVERFLOW:
                    self._broken = True
                    continue
                where = self._dirs.get(wd)
                if mask & _IN_IGNORED:
                    self._dirs.pop(wd, None)  # its directory is gone; the parent said so
                    continue
                if where is None:
                    continue
                if mask & _IN_MOVE_SELF:
                    self._broken = True  # the directory now lives under another name
                    continue
                if not name:
                    continue  # an event on the watched directory itself
                rel = f"{where}/{name}" if where else name
                out.paths.add(rel)
                if mask & _IN_ISDIR and mask & _DIR_EVENTS:
                    out.dirs.add(rel)
        return None if self._broken else out

    def reset(self, dirs: Iterable[str]) -> None:
        """Start over: drop every watch and watch ``dirs`` (after a full scan)."""
        self.close()
        self._open()
        self.add(dirs)

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1
        self._dirs.clear()
