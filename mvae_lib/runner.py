"""One runner for every grid: jobs spread over worker processes, one device each when asked.

Tables 1-2 (:func:`mvae_lib.tables.run_table`), Table 3's scoring
(:func:`mvae_lib.table3.run_table3`) and every sweep hand their jobs to :func:`run_jobs`:
in this process when one worker is enough, else in spawned workers that stop with this
process however it ends (``mvae_lib.workers``); finished runs and scores are saved as
they finish, so a stopped grid resumes where it stopped.

A run's numbers depend on its key alone: it trains and is scored on a fixed number of CPU
threads (:func:`run_threads`), whichever process runs it (a chapter's kernel or a worker).
"""
from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED
from concurrent.futures.process import BrokenProcessPool
from concurrent.futures import wait as wait_futures
from contextlib import contextmanager

import torch
from tqdm import tqdm

from . import workers as worker_processes
from .config import Preset
from .train import pick_device

SMALL_LATENT = 256  # a model this small trains on one thread; the paper's sizes use all cores


def parse_devices(device) -> list[str]:
    """The devices of ``device``: one name, a comma-separated list (``"cuda:0,cuda:1"``) or a list.

    Each name is checked as :func:`mvae_lib.train.pick_device` checks it.
    """
    names = device.split(",") if isinstance(device, str) else [device] if device is None else list(device)
    names = [None if n is None else str(n).strip() for n in names]
    if any(n == "" for n in names):
        raise ValueError(f"expected device names separated by commas, e.g. cuda:0,cuda:1; found {device!r}")
    for n in names:
        pick_device(n)
    return names


def default_workers(device, preset: Preset) -> int:
    """Parallel processes: one per CPU core for small models, else one.

    A small model's training step is dominated by per-operation overhead that more
    threads do not shorten, so on the CPU the runs are spread over the cores, each
    single-threaded: two processes on two cores train two models in the time of one. The
    paper's widths are matmul-bound and use all threads in one process (and the MIR
    Flickr release is read once); a GPU takes one run at a time. Several devices
    (``"cuda:0,cuda:1"``) get one process each.
    """
    devices = parse_devices(device)
    if len(devices) > 1:
        return len(devices)
    if pick_device(devices[0]).type == "cuda" or preset.model.latent > SMALL_LATENT:
        return 1
    return max(1, os.cpu_count() or 1)


def run_threads(preset: Preset) -> int:
    """The CPU threads a run trains and is scored on, fixed by its preset.

    Thread counts change the order of floating-point sums, hence a run's last digits
    (AE, setting 1, split 0: LRAP .8786 on two threads against .8777 on one). Small models
    train on one thread (that is also the fastest, see :func:`default_workers`); the
    paper's widths on every core of the machine, so their last digits depend on it.
    """
    return 1 if preset.model.latent <= SMALL_LATENT else max(1, os.cpu_count() or 1)


def run_threads_on(preset: Preset, device):
    """:func:`torch_threads` of a run of ``preset`` on ``device``: its fixed :func:`run_threads`
    on the CPU, the setting left alone on a GPU. Every process that trains or scores a run
    (a chapter's kernel or a worker) enters it, so a run's digits depend on its key alone."""
    return torch_threads(run_threads(preset) if pick_device(device).type == "cpu" else None)


@contextmanager
def torch_threads(threads: int | None):
    """Run on ``threads`` CPU threads (None: leave the setting), restoring it afterwards."""
    if threads is None:
        yield
        return
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def run_jobs(fn: Callable, jobs: dict, *, workers: int = 1, devices=(None,), progress: bool = True,
             desc: str = "runs", again: Callable[[dict], dict] | None = None,
             imports: tuple[str, ...] = (),
             ) -> Iterator[tuple[object, object]]:
    """``fn(**kwargs)`` for every ``key: kwargs`` of ``jobs``, yielding ``(key, result)`` as each ends.

    ``workers`` > 1 runs them in that many spawned processes (one per device of ``devices``
    when several are named: each worker calls ``fn`` with its own ``device``). A job whose
    result is None (its run is being made by another process) is run again last, with
    ``again(kwargs)``. ``imports`` are modules each worker imports first (e.g. the module that
    declares a model of the user's own).
    """
    if workers <= 1 or len(jobs) <= 1:
        later = []
        for retry in (False, True):
            for key, kwargs in (later if retry else jobs.items()):
                result = fn(**kwargs)
                if result is None and not retry and again is not None:
                    later.append((key, again(kwargs)))
                else:
                    yield key, result
        return
    # a kept pool has the workers asked for, to serve a later, larger grid too; it is kept by
    # that number and the devices, so a process that always asks for the same keeps one pool
    workers = workers if _keep else min(workers, len(jobs))
    devices = list(devices)
    own = devices[:workers] if len(devices) > 1 else None
    kept = (workers, None if own is None else tuple(own))
    pool = _KEPT.pop(kept, None)
    if pool is not None and getattr(pool, "_broken", False):
        pool.shutdown(wait=True, cancel_futures=True)
        pool = None
    if pool is None:
        pool = worker_processes.start(workers, own)
    submit = lambda kwargs: pool.submit(worker_processes.call, fn, kwargs, imports)
    try:
        futures = {submit(kwargs): (key, kwargs) for key, kwargs in jobs.items()}
    except BrokenProcessPool:  # a kept pool whose worker died while it waited
        pool.shutdown(wait=False, cancel_futures=True)
        pool = worker_processes.start(workers, own)
        futures = {submit(kwargs): (key, kwargs) for key, kwargs in jobs.items()}
    bar = tqdm(total=len(jobs), desc=desc, disable=not progress, leave=False, dynamic_ncols=True)
    finished = False
    try:
        while futures:
            done, _ = wait_futures(futures, return_when=FIRST_COMPLETED)
            for future in done:
                key, kwargs = futures.pop(future)
                result = future.result()
                if result is None and again is not None:  # made by another process: wait for it
                    futures[submit(again(kwargs))] = (key, again(kwargs))
                else:
                    bar.update()
                    yield key, result
        finished = True
    except (KeyboardInterrupt, GeneratorExit):
        worker_processes.stop(pool)  # each releases the run it holds and exits; finished work stays saved
        raise
    finally:
        bar.close()
        if finished and _keep and not getattr(pool, "_broken", False) and kept not in _KEPT:
            _KEPT[kept] = pool  # idle until this process's next grid
        else:
            pool.shutdown(wait=True, cancel_futures=True)  # after an error: the jobs in progress finish, saved


_keep = False
_KEPT: dict = {}  # (workers, devices) -> an idle pool, while keep_workers is on


def keep_workers(keep: bool = True) -> None:
    """Keep the worker processes of a finished grid for this process's next one (``keep``),
    or stop the kept ones (``keep=False``, the default state).

    Starting a worker costs about 3.5 s of CPU (importing torch and the library, then torch's
    compiler stack when the first optimizer is made); a chapter of the book runs several
    grids, so its kernel keeps its workers (``mvae_lib.book.setup``). Kept workers wait
    idle between grids and still end with this process; a grid that fails or is stopped
    stops its workers, as without keeping."""
    global _keep
    _keep = keep
    if not keep:
        while _KEPT:
            _KEPT.popitem()[1].shutdown(wait=True, cancel_futures=True)
