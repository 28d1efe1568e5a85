"""Moving bytes between the worker and one function process, under the call's limits.

One thread multiplexes the pipes with `selectors`: the request goes to stdin (written at once when
the pipe takes it whole, as a hot call's request line does) while stdout and stderr are read in
chunks into capped sinks, so neither side can block the other and a function
printing without end costs the worker only its caps. The same loop watches the deadline and
samples the memory of the process tree.
"""

from __future__ import annotations

import os
import selectors
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from enum import Enum

from chalicelib.execute.process import Child

CHUNK = 64 * 1024
# The main process's own peak (VmHWM, one small read) is sampled from 2 ms on, doubling up to
# SAMPLE_SECONDS, so that even a call of a few milliseconds reports a figure.
FIRST_PEAK_SAMPLE_SECONDS = 0.002
# How often the tree's memory is sampled. Memory is enforced by sampling rather than RLIMIT_AS:
# an address-space limit breaks runtimes that reserve large virtual ranges up front (V8 reserves
# gigabytes, Go reserves arenas), and counts mappings that use no memory. Sampling every 50 ms
# lets a fast allocator overshoot briefly, by what it can touch in that time.
# The limit is on the tree's PSS: a page shared by forked processes counts once in all, where
# summed RSS counted it once per process (a forking function was killed at a fraction of its
# limit). PSS costs a walk of the page tables (~0.5 ms for 50 MB), RSS a tiny read, and PSS <= RSS:
# RSS is read at every sample and PSS only when RSS is over the limit.
SAMPLE_SECONDS = 0.05
# After the main process exits, how long its pipes may stay open (held by a child that left the
# process group) before the call ends anyway.
EXIT_GRACE_SECONDS = 0.2


class Stop(Enum):
    DONE = "done"  # the caller's condition became true
    EXITED = "exited"  # the process ended and its output was read to the end
    TIMEOUT = "timeout"  # the deadline passed
    MEMORY = "memory"  # the tree's PSS went over the limit
    CANCELLED = "cancelled"  # the caller's cancel condition became true (the call was cancelled)


@dataclass(frozen=True)
class Pumped:
    stop: Stop
    # The highest sample of the main process's VmHWM and the tree's memory (RSS, or PSS when RSS
    # was over the limit); 0 if none.
    peak_rss_kb: int
    rss_kb: int = 0  # the sample (PSS) that went over the limit, for MEMORY


class Watch:
    """A process's output pipes and its exit (pidfd), in one epoll set registered once.

    A hot process keeps one for its life, so each of its calls costs no epoll_create, no
    registrations and no close; a `default` call's lasts its one pump. A pipe at EOF, or the exit
    once seen, is taken out for good.
    """

    def __init__(self, child: Child, fds: Iterable[int]) -> None:
        self.selector = selectors.DefaultSelector()
        self.reading = set(fds)
        for fd in self.reading:
            self.selector.register(fd, selectors.EVENT_READ, "read")
        if child.pidfd is not None and not child.exited:
            self.selector.register(child.pidfd, selectors.EVENT_READ, "exit")

    def ready(self) -> tuple[bool, list[int]]:
        """What is ready now, without waiting: whether the process exited, and which of the pipes
        have output (or EOF) waiting."""
        exited, readable = False, []
        for key, _ in self.selector.select(0):
            if key.data == "exit":
                exited = True
            else:
                readable.append(int(key.fd))
        return exited, readable

    def close(self) -> None:
        self.selector.close()


def pump(
    child: Child,
    *,
    sinks: Mapping[int, Callable[[bytes], None]],
    send: bytes,
    deadline: float,
    memory_kb: int,
    done: Callable[[], bool],
    close_stdin: bool,
    cancelled: Callable[[], bool] | None = None,
    watch: Watch | None = None,
) -> Pumped:
    """Write `send` to stdin and feed output to `sinks` until one of the Stop reasons.

    `watch`: the process's own (its fds those of `sinks`), kept open after; else one for this pump."""
    own = watch is None
    if watch is None:
        watch = Watch(child, sinks)
    selector, reading = watch.selector, watch.reading
    # Most requests fit the pipe: written at once, without a wait for stdin to be writable.
    pending = memoryview(send)
    if pending and child.stdin_fd is not None:
        pending = _write_some(child.stdin_fd, pending)
    writing = bool(pending) and child.stdin_fd is not None
    if writing:
        assert child.stdin_fd is not None
        selector.register(child.stdin_fd, selectors.EVENT_WRITE, "write")
    elif close_stdin:
        child.close_stdin()
    peak = 0
    peak_step = FIRST_PEAK_SAMPLE_SECONDS
    now = time.monotonic()
    next_peak = now + peak_step
    next_sample = now + SAMPLE_SECONDS
    exited_at: float | None = now if child.exited else None
    try:
        while True:
            if done():
                return Pumped(Stop.DONE, peak)
            # Polled at every wake (at most SAMPLE_SECONDS apart while the process runs).
            if cancelled is not None and cancelled():
                return Pumped(Stop.CANCELLED, peak)
            now = time.monotonic()
            if exited_at is not None and (not reading or now >= exited_at + EXIT_GRACE_SECONDS):
                return Pumped(Stop.EXITED, peak)
            if now >= deadline:
                return Pumped(Stop.TIMEOUT, peak)
            if now >= next_peak and exited_at is None:
                peak = max(peak, child.peak_rss_kb())
                peak_step = min(2 * peak_step, SAMPLE_SECONDS)
                next_peak = now + peak_step
            if now >= next_sample and exited_at is None:
                used = child.tree_rss_kb()
                if memory_kb and used > memory_kb:
                    used = child.tree_pss_kb()
                    if used > memory_kb:
                        return Pumped(Stop.MEMORY, max(peak, used), used)
                peak = max(peak, used)
                next_sample = now + SAMPLE_SECONDS
            if child.pidfd is None and exited_at is None and child.has_ended():
                child.finish()
                exited_at = now
            # Once the process has exited there is nothing to sample: wake for the grace period.
            wake = min(next_sample, next_peak) if exited_at is None else exited_at + EXIT_GRACE_SECONDS
            wait = max(0.0, min(deadline, wake) - now)
            for key, _ in selector.select(wait):
                fd = int(key.fd)
                if key.data == "exit":
                    selector.unregister(fd)
                    # Children left in the group would keep the pipes open: they die with it.
                    child.finish()
                    exited_at = time.monotonic()
                elif key.data == "write":
                    pending = _write_some(fd, pending)
                    if not pending:
                        selector.unregister(fd)
                        writing = False
                        if close_stdin:
                            child.close_stdin()
                else:
                    try:
                        data = os.read(fd, CHUNK)
                    except BlockingIOError:
                        continue
                    if data:
                        sinks[fd](data)
                    else:
                        selector.unregister(fd)
                        reading.discard(fd)
    finally:
        if own:
            watch.close()
        elif writing and child.stdin_fd is not None:
            selector.unregister(child.stdin_fd)


def drain(fd: int, sink: Callable[[bytes], None], limit: int = 1 << 20) -> None:
    """Read what is already in the pipe, without waiting (at most `limit` bytes)."""
    taken = 0
    while taken < limit:
        try:
            data = os.read(fd, CHUNK)
        except (BlockingIOError, OSError):
            return
        if not data:
            return
        taken += len(data)
        sink(data)


def _write_some(fd: int, pending: memoryview) -> memoryview:
    try:
        written = os.write(fd, pending[:CHUNK])
    except BlockingIOError:
        return pending
    except (BrokenPipeError, OSError):
        # The function closed stdin or exited without reading all of it: that is its right.
        return memoryview(b"")
    return pending[written:]
