"""Searches on the machine's other cores: the same day planned with other seeds in worker
processes at the same time, the cheapest plan kept.

OR-Tools' Python binding holds the GIL while it searches: two threads planning a county day
at once made about 400 solutions each in 2 s, against 950 for one alone. So the other
searches run in processes, started once and kept (a cold start imports OR-Tools, about
0.3-0.4 s; :func:`warm` pays it ahead of time, and the server and ``handoff plan`` call it
as they start). They are spawned, not forked: the server calls the planner from a thread,
and a fork of a threaded process may copy a held lock. Each
search gets the problem with its travel times already looked up (a :class:`Matrix`), so a
travel service is asked once, and the same deadline on the monotonic clock, which Linux
shares between processes. Measured on county days at 2 s: docs/benchmarks.md, 2026-12-07.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import threading
import time
from collections.abc import Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import replace
from typing import TYPE_CHECKING

from routing.problem import Problem
from routing.travel import Matrix

if TYPE_CHECKING:
    from routing.model import Settings
    from routing.plan import Plan

log = logging.getLogger(__name__)

# Seeds of the other searches lie this far apart, away from the seeds a search hands to its
# own restarts and continuations (seed + 1, seed + 2, ...), which would repeat their paths.
SEED_STRIDE = 1_000_003
# How long past the deadline a search's plan is still waited for: it stops at the deadline,
# then reads out and sends back its routes (milliseconds on a county day).
GRACE = 1.0
# A search that would get less time than this is not started.
SHORTEST = 0.1
# How long a worker process may take to start and load the planner (seconds).
WARM_TIMEOUT = 60.0
# How often a worker looks whether the process that started it is still there (seconds).
PARENT_CHECK = 1.0

_lock = threading.Lock()
_pool: ProcessPoolExecutor | None = None
_pool_size = 0
# How many of the pool's processes have loaded the planner (:func:`warm`).
_warmed = 0


def seeds(seed: int, workers: int) -> list[int]:
    """The seeds of the searches in the other processes, for a plan with ``seed``."""
    return [(seed + number * SEED_STRIDE) % 2**31 for number in range(1, workers)]


def warm(workers: int) -> None:
    """Start the worker processes for plans of ``workers`` searches and load the planner in
    them, so that the first plan does not spend its time on that (about 0.3 s on a quiet
    machine: a sixth of a 2 s plan). Where processes cannot be started this only logs (each
    plan tries again, and searches in its own process alone where it cannot)."""
    global _warmed
    if workers < 2:
        return
    try:
        pool = _executor(workers - 1)
        for future in [pool.submit(_ready) for _ in range(workers - 1)]:
            future.result(timeout=WARM_TIMEOUT)
    except Exception as error:  # e.g. a daemonic process, out of processes or memory
        log.warning("could not start the route planner's worker processes (%s)", error)
        _discard_broken()
        return
    with _lock:
        if _pool is pool:
            _warmed = max(_warmed, workers - 1)


def warmed() -> int:
    """How many worker processes are running with the planner loaded."""
    return _warmed


def start(
    problem: Problem,
    minutes: Sequence[Sequence[float]],
    deadline: float,
    seed: int,
    workers: int,
    settings: Settings,
    eliminate: bool,
) -> list[Future[Plan | None]]:
    """Start the other ``workers - 1`` searches, each until ``deadline`` (``time.monotonic``)
    and trying route elimination when ``eliminate`` (the plan's decision). None are started
    (logged) where this process cannot start processes: the plan is then this process's
    alone."""
    frozen = replace(problem, travel=Matrix.of([site.id for site in problem.sites], minutes))
    try:
        pool = _executor(workers - 1)
        return [
            pool.submit(_search, frozen, deadline, other, settings, eliminate)
            for other in seeds(seed, workers)
        ]
    except Exception as error:  # e.g. a daemonic process, out of processes or memory
        log.warning("no search in other processes (%s); planning in this one only", error)
        _discard_broken()
        return []


def collect(futures: Sequence[Future[Plan | None]], deadline: float) -> list[Plan | None]:
    """The plans of the other searches, in seed order; ``None`` for one that found none, was
    late or failed (logged): the caller's own plan stands without it."""
    plans: list[Plan | None] = []
    for future in futures:
        try:
            plans.append(future.result(timeout=max(0.0, deadline + GRACE - time.monotonic())))
        except FutureTimeout:
            log.warning("a search in another process was not back in time; left out")
            plans.append(None)
        except Exception as error:  # a lost helper must not lose the plan
            log.warning("a search in another process failed (%s); left out", error)
            _discard_broken()
            plans.append(None)
    return plans


def shutdown() -> None:
    """Stop the worker processes (they are started again when next needed)."""
    global _pool, _pool_size, _warmed
    with _lock:
        if _pool is not None:
            _pool.shutdown(wait=True, cancel_futures=True)
        _pool, _pool_size, _warmed = None, 0, 0


def _executor(size: int) -> ProcessPoolExecutor:
    global _pool, _pool_size, _warmed
    with _lock:
        if _pool is None or _pool_size < size:
            if _pool is not None:
                _pool.shutdown(wait=False, cancel_futures=True)
            _warmed = 0
            _pool = ProcessPoolExecutor(
                size,
                mp_context=multiprocessing.get_context("spawn"),
                initializer=_follow_parent,
                initargs=(os.getpid(),),
            )
            _pool_size = size
        return _pool


def _discard_broken() -> None:
    """Drop a pool whose process died, so the next plan starts a fresh one."""
    global _pool, _pool_size, _warmed
    with _lock:
        if _pool is not None and getattr(_pool, "_broken", False):
            _pool.shutdown(wait=False, cancel_futures=True)
            _pool, _pool_size, _warmed = None, 0, 0


def _follow_parent(parent: int) -> None:
    """In a worker: exit once the process that started it is gone. A process that ends
    without running its exit handlers (a uvicorn worker, a killed one) would otherwise leave
    its workers behind for good."""

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(PARENT_CHECK)
        os._exit(0)

    threading.Thread(target=watch, name="follow-parent", daemon=True).start()


def _ready() -> bool:
    import routing.plan  # noqa: F401 - loads OR-Tools in the worker

    return True


def _search(
    problem: Problem, deadline: float, seed: int, settings: Settings, eliminate: bool
) -> Plan | None:
    from routing.plan import search_for

    remaining = deadline - time.monotonic()
    if remaining < SHORTEST:
        return None
    return search_for(problem, remaining, seed, settings, eliminate)
