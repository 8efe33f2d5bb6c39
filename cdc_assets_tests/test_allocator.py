"""engine/allocator.py against the real glibc, each case in a fresh interpreter (the arena bound is
per process and fixed early)."""

from __future__ import annotations

import json
import platform
import subprocess
import sys
import textwrap

import pytest

pytestmark = pytest.mark.skipif(
    platform.system() != "Linux" or platform.libc_ver()[0] != "glibc", reason="glibc's malloc only"
)

# Counts the arenas from malloc_info's XML (one <heap nr=...> per arena) after 6 threads allocated,
# and the resident memory before and after malloc_trim once those threads freed a fragmented heap.
PROBE = textwrap.dedent("""
    import ctypes, json, os, re, sys, tempfile, threading
    from cdc_assets.engine import allocator

    libc = ctypes.CDLL("libc.so.6")
    libc.fopen.restype = ctypes.c_void_p
    libc.fopen.argtypes = (ctypes.c_char_p, ctypes.c_char_p)
    libc.malloc_info.argtypes = (ctypes.c_int, ctypes.c_void_p)
    libc.fclose.argtypes = (ctypes.c_void_p,)

    def arenas():
        fd, path = tempfile.mkstemp()
        os.close(fd)
        fp = libc.fopen(path.encode(), b"w")
        libc.malloc_info(0, fp)
        libc.fclose(fp)
        with open(path) as f:
            text = f.read()
        os.unlink(path)
        return len(re.findall(r"<heap nr=", text))

    def rss_mib():
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20

    before = arenas()
    bound = allocator.bound_malloc_arenas() if sys.argv[1] == "bound" else None
    kept = []

    together = threading.Barrier(6)

    def churn():
        # 100 MiB in 50 KiB buffers (below the mmap threshold: they live in the arena), every 64th kept;
        # the threads are all alive at once, so none can take over an arena another one left
        together.wait()
        held = [bytes(50_000) for _ in range(2_000)]
        kept.extend(held[::64])
        together.wait()

    threads = [threading.Thread(target=churn) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    untrimmed = rss_mib()
    released = allocator.release_free_memory()
    print(json.dumps({"before": before, "bound": bound, "after": arenas(), "untrimmed": untrimmed,
                      "trimmed": rss_mib(), "released": released, "again": allocator.bound_malloc_arenas(3)}))
""")


def probe(mode: str, **env: str) -> dict:
    import os

    environ = {k: v for k, v in os.environ.items() if k != "MALLOC_ARENA_MAX"} | env
    out = subprocess.run(
        [sys.executable, "-c", PROBE, mode], capture_output=True, text=True, env=environ, check=True
    )
    return json.loads(out.stdout)


def test_unbounded_threads_get_arenas_of_their_own():
    """The control: without the bound, glibc gives the 6 threads new arenas (what the bound prevents)."""
    seen = probe("free")
    assert seen["after"] >= seen["before"] + 6


def test_the_bound_keeps_new_threads_in_the_arenas_the_process_has():
    seen = probe("bound")
    assert seen["bound"] == 1
    assert seen["after"] <= max(seen["before"], 1)
    assert seen["again"] == 1  # once per process: the first answer stands


def test_a_process_started_with_malloc_arena_max_keeps_its_value():
    seen = probe("bound", MALLOC_ARENA_MAX="4")
    assert seen["bound"] is None
    assert seen["after"] <= 4


def test_release_free_memory_hands_freed_pages_back():
    seen = probe("bound")  # one arena, as a run has: it keeps what the threads freed
    assert seen["released"] is True
    # ~590 MiB of the churn was freed between survivors; trimming returns most of it
    assert seen["untrimmed"] - seen["trimmed"] > 300, seen


def test_a_bound_below_one_is_refused():
    from cdc_assets.engine.allocator import bound_malloc_arenas

    with pytest.raises(ValueError, match="at least 1"):
        bound_malloc_arenas(0)
