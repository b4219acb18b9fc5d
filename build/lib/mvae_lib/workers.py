"""Worker processes that stop with their parent, and take one device each when asked.

The runner (:func:`mvae_lib.runner.run_jobs`) runs jobs in a pool of spawned
processes. However the parent ends, its workers end with it:

- stopped (Ctrl-C, SIGTERM, SIGHUP): the parent sends each worker SIGTERM (:func:`stop`);
- killed (SIGKILL, the OOM killer): on Linux the kernel sends each worker SIGTERM
  (``prctl(PR_SET_PDEATHSIG)``); elsewhere a thread in each worker notices that its parent
  changed and sends it SIGTERM itself.

A worker turns SIGTERM into an exception, so that the ``finally`` blocks of the run it
holds release its claim (:mod:`mvae_lib.runcache`), and then exits at once. Workers ignore
SIGINT: Ctrl-C reaches the whole process group, and the parent decides what happens.
"""
from __future__ import annotations

import ctypes
import importlib
import os
import signal
import sys
import threading
import time
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context

from tqdm import tqdm

_device = None  # the device of this worker process, when each has its own


def start(workers: int, devices: list | None = None) -> ProcessPoolExecutor:
    """A pool of ``workers`` spawned processes; with ``devices`` (one per worker), each takes one."""
    context = get_context("spawn")
    own_device = None
    if devices is not None:
        if len(devices) != workers:
            raise ValueError(f"one worker per device: {len(devices)} devices, found workers={workers}")
        own_device = context.Queue()
        for d in devices:
            own_device.put(d)
    return ProcessPoolExecutor(workers, mp_context=context, initializer=_init, initargs=(os.getpid(), own_device))


def call(fn, kwargs: dict, imports: tuple[str, ...] = ()):
    """``fn(**kwargs)`` in a worker, on the worker's own device if it has one (submit this).

    ``imports`` are modules to import first (e.g. one that declares a model of its own)."""
    if _device is not None:
        kwargs = dict(kwargs, device=_device)
    try:
        for module in imports:
            importlib.import_module(module)
        return fn(**kwargs)
    except _Terminated as stop_:
        os._exit(stop_.code)  # claims released; exit now rather than wait for work that will not come


def stop(pool: ProcessPoolExecutor) -> None:
    """Stop the workers now (SIGTERM): each releases the run it holds and exits."""
    for process in list((getattr(pool, "_processes", None) or {}).values()):  # terminate_workers() in 3.14
        if process.is_alive():
            process.terminate()
    pool.shutdown(wait=True, cancel_futures=True)


class _Terminated(SystemExit):
    """Raised in a worker by SIGTERM: from the parent when it stops, from the kernel when it dies."""


def _on_sigterm(signum, frame):
    raise _Terminated(128 + signum)


def _init(parent_pid: int, own_device) -> None:
    """Make a worker stop with its parent, however the parent ends, and take its device."""
    global _device
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the whole group: the parent decides
    signal.signal(signal.SIGTERM, _on_sigterm)  # finally blocks run: the run's claim is released
    _die_with_parent(parent_pid)
    tqdm.set_lock(threading.RLock())  # not tqdm's default process-shared lock: a semaphore that a
    # worker stopped by SIGTERM (os._exit) would leave behind, with a warning from multiprocessing
    if own_device is not None:
        _device = own_device.get()


def _die_with_parent(parent_pid: int) -> None:
    """Have SIGTERM sent to this process when ``parent_pid`` ends (even by SIGKILL)."""
    if sys.platform.startswith("linux"):  # the kernel sends it
        try:
            PR_SET_PDEATHSIG = 1  # from <sys/prctl.h>
            ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
        except (OSError, AttributeError):
            pass
    if os.getppid() != parent_pid:  # the parent died before prctl took effect
        os._exit(1)
    threading.Thread(target=_watch_parent, args=(parent_pid,), daemon=True).start()  # elsewhere


def _watch_parent(parent_pid: int) -> None:
    """The portable fallback: once the parent is gone (we were re-parented), stop."""
    while os.getppid() == parent_pid:
        time.sleep(1.0)
    os.kill(os.getpid(), signal.SIGTERM)
