"""Keep glibc's malloc from growing a snapshot worker's memory with the size of the table.

A snapshot runs threads that come and go (a reader per chunk, connectorx's fetchers, one loader per
``pipeline.parallelism``, DuckDB's workers). glibc gives threads malloc arenas of their own (up to
8 per core) and keeps the pages of freed buffers in them, scattered, so a worker's peak RSS crept up
chunk after chunk: from 1M to 10M rows at parallelism 2 it grew 1.3-1.4x where it should stay flat.
Two calls stop that (measured with ``bench/snapshot.py``'s worker, same run, no slower):

- :func:`bound_malloc_arenas` when a run starts: new threads share the arenas the process already
  has (``mallopt(M_ARENA_MAX, 1)``, the runtime form of ``MALLOC_ARENA_MAX``; imports leave one or two);
- :func:`release_free_memory` after each chunk: ``malloc_trim(0)`` hands free pages back.

Either alone left 1.05-1.35x; both, 1.03x. The Arrow buffers come from pyarrow's own allocator
(mimalloc), so the one arena is not a contended one. A process started with ``MALLOC_ARENA_MAX``
keeps the value it chose; elsewhere than glibc both calls do nothing.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import logging
import os
import platform
import threading

log = logging.getLogger(__name__)

#: the arenas a run asks for (see the module docstring for the measurements)
RUN_ARENAS = 1
M_ARENA_MAX = -8  # <malloc.h>
ARENA_ENV = "MALLOC_ARENA_MAX"

_lock = threading.Lock()
_bound: list[int | None] = []  # the first answer of bound_malloc_arenas, once there is one


def bound_malloc_arenas(limit: int = RUN_ARENAS) -> int | None:
    """Bound this process's malloc arenas to ``limit`` (once per process: later calls return the
    first answer). Returns the bound in force, or None when this is not glibc, or the process was
    started with ``MALLOC_ARENA_MAX`` (its value stands), or glibc refused.

    glibc fixes the bound the first time a thread needs an arena beyond its 8th, so this only works
    early in a process: threads already holding arenas keep them, later ones share those."""
    if limit < 1:
        raise ValueError(f"a malloc arena bound is at least 1, not {limit}")
    with _lock:
        if not _bound:
            _bound.append(_apply_bound(limit))
        return _bound[0]


def _apply_bound(limit: int) -> int | None:
    if os.environ.get(ARENA_ENV):
        log.debug("%s=%s is set: the malloc arenas keep that bound", ARENA_ENV, os.environ[ARENA_ENV])
        return None
    libc = glibc()
    if libc is None:
        return None
    if libc.mallopt(M_ARENA_MAX, limit) != 1:
        log.debug("glibc refused mallopt(M_ARENA_MAX, %d); the arenas stay unbounded", limit)
        return None
    return limit


def release_free_memory() -> bool:
    """Hand the memory malloc holds free back to the system (``malloc_trim(0)``, which frees whole
    free pages inside every arena, not only at its top). True when some was; False also off glibc."""
    libc = glibc()
    return bool(libc is not None and libc.malloc_trim(0))


@functools.cache
def glibc() -> ctypes.CDLL | None:
    """This process's C library when it is glibc (with ``mallopt`` and ``malloc_trim`` typed), else None."""
    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        libc.mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
        libc.mallopt.restype = ctypes.c_int
        libc.malloc_trim.argtypes = (ctypes.c_size_t,)
        libc.malloc_trim.restype = ctypes.c_int
    except (OSError, AttributeError):
        return None
    return libc
