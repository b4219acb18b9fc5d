"""Claims: which process is making a saved run, so that no two make it at once.

While a process makes a run it holds a *claim*: ``<key>.claim``, created exclusively,
holding its pid, host and start time, its modification time refreshed every
``HEARTBEAT_S``. Another process that wants the run waits for it and then loads it
(:func:`mvae_lib.runcache.obtain`). A claim is stale, and is broken, when its process is
dead (same host), or when it has not been refreshed for ``STALE_AFTER_S`` (any host: a
process on another node of a cluster cannot be asked whether it lives), so a crashed owner
never blocks a run for good.
"""
from __future__ import annotations

import json
import os
import signal
import socket
import threading
import time
from contextlib import contextmanager
from pathlib import Path

HEARTBEAT_S = 30.0  # how often a claim's owner refreshes it
STALE_AFTER_S = 300.0  # a claim not refreshed for this long is abandoned
HOST = socket.gethostname()
_held: set[Path] = set()  # claims this process holds


def _process_alive(pid: int) -> bool:
    """Whether ``pid`` is a live process on this host (a zombie is dead)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # Linux: a dead child not yet reaped still answers kill(pid, 0)
        stat = Path(f"/proc/{pid}/stat").read_text()
        return stat.rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return True


def _stale_reason(claim: Path, text: str) -> str | None:
    """Why the claim with contents ``text`` is abandoned, or None if its owner may be alive."""
    try:
        age = time.time() - claim.stat().st_mtime
    except FileNotFoundError:
        return "gone"
    if age > STALE_AFTER_S:
        return f"not refreshed for {age:.0f} s"
    try:
        owner = json.loads(text)
        pid, host = int(owner["pid"]), owner["host"]
    except (ValueError, KeyError, TypeError):
        return "unreadable" if age > 10 else None  # its owner may be writing it right now
    if host == HOST and ((pid == os.getpid() and claim not in _held) or not _process_alive(pid)):
        return f"process {pid} is gone"
    return None


def _break(claim: Path, seen: str) -> None:
    """Remove ``claim`` if it still holds ``seen``; a guard file makes the check-and-remove atomic."""
    guard = claim.with_name(claim.name + ".break")
    try:
        fd = os.open(guard, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
    except FileExistsError:
        try:
            if time.time() - guard.stat().st_mtime > 60:  # left by a process killed in here
                guard.unlink()
        except FileNotFoundError:
            pass
        return
    try:
        try:
            if claim.read_text() == seen:
                claim.unlink()
        except FileNotFoundError:
            pass
    finally:
        os.close(fd)
        guard.unlink(missing_ok=True)


class Claim:
    """An exclusive claim on making the run at ``path``, refreshed while held."""

    def __init__(self, path: Path):
        self.path = path.with_suffix(".claim")
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def owner(self) -> str:
        """Who holds the claim, in words (for messages)."""
        try:
            owner = json.loads(self.path.read_text())
            return f"process {owner['pid']} on {owner['host']}"
        except (OSError, ValueError, KeyError, TypeError):
            return "another process"

    def try_acquire(self) -> bool:
        """Take the claim if it is free or stale; False if a live process holds it."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        for _ in range(3):
            try:
                fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
            except FileExistsError:
                try:
                    seen = self.path.read_text()
                except FileNotFoundError:
                    continue  # released meanwhile: try again
                if _stale_reason(self.path, seen) is None:
                    return False
                _break(self.path, seen)
                continue
            with os.fdopen(fd, "w") as f:
                json.dump({"pid": os.getpid(), "host": HOST, "since": time.time()}, f)
            _held.add(self.path)
            self._thread = threading.Thread(target=self._refresh, daemon=True)
            self._thread.start()
            return True
        return False

    def _refresh(self) -> None:
        while not self._stop.wait(HEARTBEAT_S):
            try:
                os.utime(self.path)
            except FileNotFoundError:
                return

    def release(self) -> None:
        self.path.unlink(missing_ok=True)
        _held.discard(self.path)
        self._stop.set()



@contextmanager
def signals_deferred():
    """Hold SIGINT, SIGTERM and SIGHUP until the block ends, then act on them as before.

    Their handlers raise (Ctrl-C, a stopped command, a worker whose parent died); raised
    between creating a claim and noting it, or inside its release, they would leave the
    claim behind.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    caught = []
    names = [getattr(signal, n) for n in ("SIGINT", "SIGTERM", "SIGHUP") if hasattr(signal, n)]
    before = {s: signal.signal(s, lambda signum, frame: caught.append(signum)) for s in names}
    try:
        yield
    finally:
        for s, handler in before.items():
            signal.signal(s, handler)
        for s in caught:
            if callable(before[s]):
                before[s](s, None)
            elif before[s] == signal.SIG_DFL:
                signal.raise_signal(s)
