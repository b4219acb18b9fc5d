"""Saved runs and their scores on disk: keys, atomic writes, loading that heals, scores per run.

A run is whatever a ``spec`` dict describes (for the runs of :func:`mvae_lib.get_run`:
data set, split, model, view, configs); this module knows nothing else about it. A saved
run is three files beside each other, found by a key that hashes the spec:

- ``<key>.json``  the record (a JSON object), written last: its presence marks the run done;
- ``<key>.npz``   arrays (the test-set codes);
- ``<key>.pt``    the model's weights (a state dict).

Every file is written through a temporary file and a rename, so a killed writer never
leaves half a file under a run's name. A saved run that still cannot be read (bad JSON,
a missing or unreadable archive, a record that is not the run its key names) is moved to
``quarantine/`` beside it with a one-line warning, and made again.

While a process makes a run it holds a *claim* on it (:mod:`mvae_lib.claims`), so that no
two processes make one run at once.
"""
from __future__ import annotations

import errno
import hashlib
import json
import os
import sys
import tempfile
import time
from collections.abc import Callable
from contextlib import contextmanager
from pathlib import Path

from .claims import Claim, signals_deferred

import numpy as np
import torch

RUN_FILES = (".json", ".npz", ".pt")  # the record last: written last, checked first
POLL_S = 0.5  # how often a waiting process looks again


def key_of(prefix: str, spec: dict) -> str:
    """``prefix`` plus the first 10 hex digits of the SHA-1 of ``spec`` as sorted JSON."""
    digest = hashlib.sha1(json.dumps(spec, sort_keys=True).encode()).hexdigest()[:10]
    return f"{prefix}-{digest}"


class DiskFull(OSError):
    """No space was left to save a run or its scores; the message names the run, the folder
    and what to do. Finished runs are kept; freeing space and rerunning resumes."""

    def __str__(self) -> str:
        return self.args[1] if len(self.args) > 1 else super().__str__()


def _out_of_space(err: BaseException) -> bool:
    """Whether a failed write ran out of space: ENOSPC, or PyTorch's writer failing on a full disk."""
    if isinstance(err, OSError):
        return err.errno in (errno.ENOSPC, errno.EDQUOT)
    return isinstance(err, RuntimeError) and "file write failed" in str(err)


def atomic_write(path: Path, write: Callable) -> None:
    """Write through a temporary file in the same folder, then rename: never a half file.

    Raises :class:`DiskFull`, one line that names the file and its folder, when the disk
    is full (instead of PyTorch's or the OS's chained traceback).
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
        os.replace(tmp, path)
    except BaseException as err:
        os.unlink(tmp)
        if _out_of_space(err):
            raise DiskFull(errno.ENOSPC, (
                f"no space left to save {path.name} in {path.parent}: the runs finished before it are "
                "kept there; free some space (or give another --out) and rerun the command, which "
                "resumes where it stopped")) from None
        raise


def warn(message: str) -> None:
    """One line on stderr, written so that progress bars are not garbled."""
    from tqdm import tqdm
    tqdm.write(f"warning: {message}", file=sys.stderr)


# --------------------------------------------------------------------------- loading
class DamagedRun(Exception):
    """A saved run's files exist but cannot be used; the message says which file and why."""


def _archive_problem(path: Path) -> str | None:
    """Why the zip archive at ``path`` (.npz and .pt are both zip files) cannot be read, or None.

    Opening reads the archive's directory, which sits at the end of the file, so a
    truncated or empty file is caught without reading the arrays themselves.
    """
    import zipfile
    if not path.exists():
        return "is missing"
    try:
        with zipfile.ZipFile(path) as z:
            if not z.namelist():
                return "is an empty archive"
    except (zipfile.BadZipFile, OSError, EOFError) as err:
        return f"cannot be read ({type(err).__name__}: {err}; {path.stat().st_size} bytes)"
    return None


@contextmanager
def reading(path: Path):
    """Name the file when reading a saved run's archive fails past :func:`inspect`'s checks."""
    import zipfile
    try:
        yield
    except (OSError, EOFError, ValueError, RuntimeError, KeyError, zipfile.BadZipFile) as err:
        raise DamagedRun(f"{path}: the saved run cannot be read ({type(err).__name__}: {err}); move "
                         f"{path.with_suffix('')}.* aside and rerun the command to train it again") from err


def _plain(value):
    return json.loads(json.dumps(value))  # tuples become lists, as in a record read back


def inspect(path: Path, spec: dict, required: tuple[str, ...] = ()) -> dict | None:
    """The record of the run saved at ``path`` (its ``.json``), None if it was never saved.

    Raises :class:`DamagedRun` if the record exists but is not valid JSON, lacks a field of
    ``required``, disagrees with ``spec`` on a field both hold (the record is not the run
    its key names), or if its ``.npz`` or ``.pt`` is missing or unreadable.
    """
    try:
        text = path.read_text()
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as err:
        raise DamagedRun(f"{path.name} cannot be read ({err})") from None
    try:
        record = json.loads(text)
    except json.JSONDecodeError as err:
        raise DamagedRun(f"{path.name} is not valid JSON ({err}; {len(text)} characters)") from None
    if not isinstance(record, dict):
        raise DamagedRun(f"{path.name} holds a JSON {type(record).__name__}, not a run's record")
    missing = [k for k in required if k not in record]
    if missing:
        raise DamagedRun(f"{path.name} lacks the fields {', '.join(missing)}")
    differs = [k for k in spec if k in record and record[k] != _plain(spec[k])]
    if differs:
        raise DamagedRun(f"{path.name} is not the run its name's key stands for "
                         f"(its {', '.join(differs)} differ)")
    for suffix in RUN_FILES[1:]:
        problem = _archive_problem(path.with_suffix(suffix))
        if problem:
            raise DamagedRun(f"{path.with_suffix(suffix).name} {problem}")
    return record


def load(path: Path, spec: dict, required: tuple[str, ...] = ()) -> dict | None:
    """The record of a sound saved run at ``path``, else None (never saved, or damaged)."""
    try:
        return inspect(path, spec, required)
    except DamagedRun:
        return None


def quarantine(path: Path, reason: str) -> Path:
    """Move a damaged run's files into ``quarantine/`` beside them and warn, in one line."""
    folder = path.parent / "quarantine"
    folder.mkdir(exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    for suffix in RUN_FILES:
        src = path.with_suffix(suffix)
        try:
            os.replace(src, folder / f"{src.name}.{stamp}")
        except FileNotFoundError:
            pass
    warn(f"saved run {path.with_suffix('')} is damaged: {reason}; moved it to {folder}/ "
         "and training it again")
    return folder


def save(path: Path, record: dict, arrays: dict[str, np.ndarray], weights: dict) -> None:
    """Write a run: weights, arrays, then the record that marks it done."""
    atomic_write(path.with_suffix(".pt"), lambda f: torch.save(weights, f))
    atomic_write(path.with_suffix(".npz"), lambda f: np.savez(f, **arrays))
    atomic_write(path.with_suffix(".json"), lambda f: f.write(json.dumps(record, indent=1).encode()))


def obtain(path: Path, spec: dict, make: Callable[[], tuple[dict, dict, dict]],
           required: tuple[str, ...] = (), wait: bool = True, quiet: bool = False) -> dict | None:
    """The record of the run at ``path``: loaded if saved, else made by ``make`` and saved.

    ``make()`` returns ``(record, arrays, weights)``. It runs under the run's claim, so no
    two processes make one run at once: while another live process holds the claim this
    one waits (``wait=True``) and then loads what it saved, or returns None at once
    (``wait=False``: the caller can do other work first); it says so once unless ``quiet``
    (a wait of seconds, for something small). A damaged saved run is moved aside
    (:func:`quarantine`) under the claim, then made again.
    """
    claim = Claim(path)
    told, acquired = quiet, False
    try:
        while True:
            record = load(path, spec, required)
            if record is not None:
                return record
            with signals_deferred():  # a claim taken is a claim released (finally, below)
                acquired = claim.try_acquire()
            if acquired:
                break
            if not wait:
                return None
            if not told:
                warn(f"waiting for {path.with_suffix('').name}, being made by {claim.owner()}")
                told = True
            time.sleep(POLL_S)
        try:
            record = inspect(path, spec, required)  # saved by another while we waited?
        except DamagedRun as err:
            quarantine(path, str(err))
            record = None
        if record is None:
            record, arrays, weights = make()
            save(path, record, arrays, weights)
        return record
    finally:
        if acquired:
            with signals_deferred():
                claim.release()


# --------------------------------------------------------------------------- per-run scores
def content_hash(path: Path) -> str:
    """The first 12 hex digits of the SHA-1 of a saved run's weights (``<key>.pt``): what a
    retrained run changes, so that scores computed from an older run are never reused."""
    digest = hashlib.sha1()
    with reading(path.with_suffix(".pt")), open(path.with_suffix(".pt"), "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()[:12]


def scores_path(path: Path, name: str, spec: dict) -> Path:
    """Where scores ``name`` (e.g. ``"table3"``) of the run at ``path``, computed as ``spec``
    says, are kept: ``<key>.<name>-<hash of spec>.json`` beside the run."""
    digest = hashlib.sha1(json.dumps(spec, sort_keys=True).encode()).hexdigest()[:8]
    return path.with_name(f"{path.stem}.{name}-{digest}.json")


def load_scores(path: Path, name: str, spec: dict) -> dict:
    """The scores ``name`` saved for the run at ``path`` under ``spec`` (``{}`` if none, if
    damaged, or if they were computed from another run saved under the same key)."""
    try:
        saved = json.loads(scores_path(path, name, spec).read_text())
        if saved.get("run") == content_hash(path) and isinstance(saved.get("scores"), dict):
            return saved["scores"]
    except (OSError, ValueError, AttributeError, DamagedRun):
        pass
    return {}


def save_scores(path: Path, name: str, spec: dict, scores: dict) -> None:
    """Keep ``scores`` beside the run at ``path``, tied to its weights' :func:`content_hash`."""
    blob = {"run": content_hash(path), "spec": spec, "scores": scores}
    atomic_write(scores_path(path, name, spec), lambda f: f.write(json.dumps(blob, indent=1).encode()))
