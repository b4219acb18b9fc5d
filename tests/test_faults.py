"""Faults on purpose: killed commands, damaged saved runs, concurrent writers, one run per job."""
from __future__ import annotations

import json
from dataclasses import replace
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

import mvae_lib.runs as ex
from mvae_lib import claims, runcache, workers
from mvae_lib.cli import main
from mvae_lib.config import PRESETS
from mvae_lib import TABLE_ROWS, find_run, get_run, run_table
from mvae_lib.runner import default_workers, parse_devices
from mvae_lib.runs import run_key

ROOT = Path(__file__).resolve().parents[1]
# subprocesses import this checkout, and train on one thread: the tests run several at once
ENV = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}


@pytest.fixture
def one_thread():
    """Train on one thread in this process too (two threads on a busy 2-core machine crawl)."""
    import torch
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def pristine(tmp_path_factory, small_split):
    """One saved MVAE run (tiny sizes), to copy and damage."""
    from mvae_lib.config import ModelConfig, Preset, TrainConfig
    preset = Preset("tiny", ModelConfig(hidden=(16,), latent=4), TrainConfig(epochs=2, batch_size=8, seed=3))
    out = tmp_path_factory.mktemp("pristine")
    run = get_run("mnist-halves", "MVAE", 3, 0, preset=preset, out_dir=out, data=small_split, progress=False)
    return preset, out, run


def test_run_keys_are_unchanged():
    """Saved runs stay valid: keys are the ones the version before the run cache module wrote."""
    assert run_key("mnist-halves", 0, "AE", "x", PRESETS["small"]) == "AE-x-split0-9e5c9955f8"
    assert run_key("mnist-halves", 4, "MVAE", "x+w", PRESETS["small"]) == "MVAE-x_w-split4-bbbfe51ad3"
    one_epoch = replace(PRESETS["small"], train=replace(PRESETS["small"].train, epochs=1))  # warm-up as it was
    assert run_key("mnist-halves", 0, "AE", "x", one_epoch) == "AE-x-split0-0c076fabe8"


# --------------------------------------------------------------------------- item 2: the cache heals
def _truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def _wrong_key(path: Path) -> None:
    record = json.loads(path.read_text())
    record["train_config"]["epochs"] += 1  # e.g. a record copied under another run's name
    path.write_text(json.dumps(record))


DAMAGES = {  # (file, damage, what the warning must say)
    "json truncated": (".json", _truncate, "is not valid JSON"),
    "json not a record": (".json", lambda p: p.write_text("[1, 2]"), "holds a JSON list"),
    "json of another run": (".json", _wrong_key, "its train_config differ"),
    "npz empty": (".npz", lambda p: p.write_bytes(b""), "cannot be read"),
    "npz truncated": (".npz", _truncate, "cannot be read"),
    "npz missing": (".npz", Path.unlink, "is missing"),
    "pt truncated": (".pt", _truncate, "cannot be read"),
    "pt missing": (".pt", Path.unlink, "is missing"),
}


@pytest.mark.parametrize("case", list(DAMAGES))
def test_damaged_run_is_moved_aside_and_trained_again(case, pristine, small_split, tmp_path, capsys):
    preset, out, run = pristine
    suffix, damage, reason = DAMAGES[case]
    shutil.copytree(out, tmp_path, dirs_exist_ok=True)
    path = tmp_path / run.path.relative_to(out)
    damage(path.with_suffix(suffix))
    args = ("mnist-halves", "MVAE", 3, 0)
    assert find_run(*args, preset=preset, out_dir=tmp_path) is None  # damaged counts as not saved
    again = get_run(*args, preset=preset, out_dir=tmp_path, data=small_split, progress=False)
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("warning: saved run ")
    assert path.with_suffix(suffix).name in err[0] and reason in err[0] and "training it again" in err[0]
    assert again.trained_now and again.metrics == run.metrics  # seeded: the same run again
    assert again.latents()["z_test_s3_mean"].shape == (100, 4) and again.model().config.latent == 4
    moved = sorted(p.name.split(".")[1] for p in (path.parent / "quarantine").iterdir())
    assert "json" in moved and (suffix[1:] in moved or "missing" in case)
    assert find_run(*args, preset=preset, out_dir=tmp_path).path == path and not list(tmp_path.rglob("*.claim"))


def test_damage_inside_an_archive_is_named_when_read(pristine, tmp_path):
    preset, out, run = pristine
    shutil.copytree(out, tmp_path, dirs_exist_ok=True)
    path = tmp_path / run.path.relative_to(out)
    npz = path.with_suffix(".npz")
    data = bytearray(npz.read_bytes())
    data[60:90] = b"x" * 30  # inside the first array; the archive's directory is intact
    npz.write_bytes(bytes(data))
    saved = find_run("mnist-halves", "MVAE", 3, 0, preset=preset, out_dir=tmp_path)
    with pytest.raises(runcache.DamagedRun, match=rf"{npz.name}: the saved run cannot be read .* aside and rerun"):
        saved.latents()


# --------------------------------------------------------------------------- item 4: claims
def _dead_pid() -> int:
    p = subprocess.Popen([sys.executable, "-c", "pass"])
    p.wait()
    return p.pid


def _claim(path: Path, pid: int, host: str = claims.HOST, age_s: float = 0.0) -> Path:
    claim = path.with_suffix(".claim")
    claim.write_text(json.dumps({"pid": pid, "host": host, "since": time.time() - age_s}))
    os.utime(claim, (time.time() - age_s,) * 2)
    return claim


@pytest.mark.parametrize("pid, host, age_s, live", [
    ("parent", claims.HOST, 0, True),          # a live process on this host
    ("dead", claims.HOST, 0, False),           # its process is gone
    ("parent", "other-node", 10, True),          # another host, refreshed recently
    ("parent", "other-node", 3600, False),       # another host, abandoned
])
def test_claims_block_until_stale(pid, host, age_s, live, pristine, small_split, tmp_path):
    preset, out, run = pristine
    path = tmp_path / run.path.relative_to(out)
    path.parent.mkdir(parents=True)
    claim = _claim(path, os.getppid() if pid == "parent" else _dead_pid(), host, age_s)
    got = get_run("mnist-halves", "MVAE", 3, 0, preset=preset, out_dir=tmp_path, data=small_split, progress=False,
                  wait=False)
    if live:
        assert got is None and claim.exists() and not path.exists()
    else:
        assert got.trained_now and not claim.exists()


def test_waiter_loads_what_the_claim_holder_saved(pristine, small_split, tmp_path, monkeypatch, capsys):
    preset, out, run = pristine
    path = tmp_path / run.path.relative_to(out)
    path.parent.mkdir(parents=True)
    claim = _claim(path, os.getppid())
    holder = subprocess.Popen([sys.executable, "-c", textwrap.dedent(f"""
        import shutil, time, pathlib
        time.sleep(1.0)
        for suffix in (".pt", ".npz", ".json"):
            shutil.copy({str(run.path)!r}[:-5] + suffix, {str(path)!r}[:-5] + suffix)
        pathlib.Path({str(claim)!r}).unlink()""")])
    monkeypatch.setattr(runcache, "POLL_S", 0.05)
    monkeypatch.setattr(ex, "train_and_evaluate", lambda *a, **k: pytest.fail("trained a claimed run"))
    got = get_run("mnist-halves", "MVAE", 3, 0, preset=preset, out_dir=tmp_path, data=small_split, progress=False)
    holder.wait()
    assert not got.trained_now and got.metrics == run.metrics
    assert f"being made by process {os.getppid()}" in capsys.readouterr().err


TWO_WRITERS = """
import json, sys, time, pathlib
import numpy as np
import torch
torch.set_num_threads(1)  # two of these share the machine
import mvae_lib
import mvae_lib.runs as ex
from mvae_lib.config import ModelConfig, Preset, TrainConfig
from mvae_lib.datasets import mnist_halves
s = mnist_halves(0)
cut = lambda d: {k: v[:300] for k, v in d.items()}
small = type(s)(s.name, 0, cut(s.train), cut(s.test), s.y_train[:300], s.y_test[:300], s.modalities, s.label_names)
ex.load_split = lambda *a, **k: small
out = pathlib.Path(sys.argv[1])
(out / f"ready-{sys.argv[2]}").touch()
while not (out / "go").exists():
    time.sleep(0.02)
preset = Preset("tiny", ModelConfig(hidden=(16,), latent=4), TrainConfig(epochs=2, batch_size=50, seed=3))
res = mvae_lib.run_table(mvae_lib.TABLE_ROWS, "mnist-halves", [0], preset=preset, out_dir=out, progress=False,
                         workers=1)
print(json.dumps({"trained": res.trained, "rows": res.rows}))
"""


def test_two_processes_share_one_folder_without_training_a_run_twice(tmp_path):
    procs = [subprocess.Popen([sys.executable, "-c", TWO_WRITERS, str(tmp_path), str(i)], env=ENV,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for i in range(2)]
    deadline = time.time() + 120
    while not all((tmp_path / f"ready-{i}").exists() for i in range(2)):
        assert time.time() < deadline and all(p.poll() is None for p in procs), procs[0].stderr.read()
        time.sleep(0.02)
    (tmp_path / "go").touch()  # both start the same grid at once
    results = [json.loads(p.communicate(timeout=120)[0]) for p in procs]
    assert all(p.returncode == 0 for p in procs)
    a, b = (set(r["trained"]) for r in results)
    assert not a & b  # no run trained twice
    assert len(a | b) == 6 == len(list((tmp_path / "runs/mnist-halves").glob("*.json")))
    assert results[0]["rows"] == results[1]["rows"]
    assert not list(tmp_path.rglob("*.claim")) and not list(tmp_path.rglob("*.tmp"))


# --------------------------------------------------------------------------- item 5: several devices, one run
def test_device_lists_are_parsed_and_each_worker_gets_its_own(tmp_path, monkeypatch):
    assert parse_devices("cpu") == ["cpu"] and parse_devices(None) == [None]
    assert parse_devices("cpu:0, cpu:1") == ["cpu:0", "cpu:1"]
    for bad, message in [("cpu,", "separated by commas"), ("cpu,tpu", "unknown device")]:
        with pytest.raises(ValueError, match=message):
            parse_devices(bad)
    assert default_workers("cpu:0,cpu:1,cpu:2", PRESETS["paper"]) == 3  # one per device, whatever the sizes
    with pytest.raises(ValueError, match="one worker per device"):
        run_table(TABLE_ROWS[:2], splits=[0], device="cpu:0,cpu:1", workers=1, out_dir=tmp_path)
    # the assignment, in this process: each worker takes the next device from the queue
    import queue
    devices = queue.Queue()
    for d in ("cpu:0", "cpu:1"):
        devices.put(d)
    seen = []
    monkeypatch.setattr(workers, "_die_with_parent", lambda parent_pid: None)  # not in pytest's own process
    old = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    from tqdm import tqdm
    lock = tqdm.get_lock()
    try:
        for _ in range(2):
            workers._init(os.getppid(), devices)
            workers.call(lambda **kwargs: seen.append(kwargs["device"]), {"device": "cpu"})
    finally:
        for s, h in old.items():
            signal.signal(s, h)
        tqdm.set_lock(lock)
        workers._device = None
    assert seen == ["cpu:0", "cpu:1"]


def test_run_jobs_fill_a_folder_that_reproduce_only_assembles(tmp_path, capsys, one_thread):
    preset = tmp_path / "tiny.json"
    preset.write_text(json.dumps({"name": "tiny", "model": {"hidden": [16], "latent": 4},
                                  "train": {"epochs": 1, "batch_size": 100, "seed": 3}}))
    common = ["--preset", str(preset), "--out", str(tmp_path / "out"), "--quiet", "--split", "0"]
    jobs = [("MVAE", 3), ("AE", 1), ("AE", 2), ("VAE", 1), ("VAE", 2), ("MAE", 4)]
    procs = [subprocess.Popen([sys.executable, "-m", "mvae_lib", "run", "--model", m, "--setting", str(s), *common],
                              env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for m, s in jobs[:2]]  # two jobs at once, as a cluster would run them
    for m, s in jobs[2:]:
        assert main(["run", "--model", m, "--setting", str(s), *common]) == 0
    for p in procs:
        stdout, stderr = p.communicate(timeout=120)
        assert p.returncode == 0, stderr
        assert stdout.startswith("trained and saved ") and "LRAP" in stdout
    assert main(["run", "--model", "MVAE", "--setting", "4", *common]) == 0  # settings 3 and 4 share a run
    assert capsys.readouterr().out.splitlines()[-1].startswith("already saved: ")
    assert main(["reproduce", "--splits", "1", *common[:-2]]) == 0
    out = capsys.readouterr().out
    assert "Table 1" in out and "Table 2" in out and "0 runs trained now" in out
    assert main(["run", "--model", "MVAE", "--setting", "1", *common]) == 1
    assert "MVAE does not run in setting 1" in capsys.readouterr().err


# --------------------------------------------------------------------------- item 1: killed commands
def test_sighup_and_sigterm_stop_like_ctrl_c(tmp_path, capsys):
    from mvae_lib.cli import Stopped, _failed, _stop_on_signals
    before = signal.getsignal(signal.SIGHUP)
    for sig in (signal.SIGHUP, signal.SIGTERM):
        with pytest.raises(Stopped) as stop, _stop_on_signals():
            os.kill(os.getpid(), sig)
            time.sleep(5)  # interrupted by the handler
        (tmp_path / "runs").mkdir(exist_ok=True)
        assert _failed(stop.value, tmp_path) == 128 + sig
        assert capsys.readouterr().err == (f"stopped by {signal.Signals(sig).name} (finished runs are kept in "
                                           f"{tmp_path / 'runs'}; rerunning the command resumes)\n")
    assert signal.getsignal(signal.SIGHUP) == before  # restored
    assert _failed(ValueError("bad"), tmp_path) == 1
    assert "resumes" not in capsys.readouterr().err  # an error is not cured by rerunning


def _session_processes(sid: int) -> list[str]:
    """Live (not zombie) processes of session ``sid``."""
    found = []
    for d in Path("/proc").iterdir():
        try:
            stat = (d / "stat").read_text()
        except (OSError, ValueError):
            continue
        fields = stat.rsplit(")", 1)[1].split()
        if int(fields[3]) == sid and fields[0] != "Z":
            found.append(stat.split(")")[0] + ")")
    return found


def _reproduce(out: Path, preset: Path) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "mvae_lib", "reproduce", "--splits", "1", "--preset", str(preset),
                             "--device", "cpu", "--quiet", "--out", str(out)], env=ENV, start_new_session=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads the process table from /proc")
@pytest.mark.slow
def test_killed_reproduce_leaves_no_process_and_resumes(tmp_path):
    preset = tmp_path / "tiny.json"  # two workers, six runs of one epoch of a small network
    preset.write_text(json.dumps({"name": "tiny", "model": {"hidden": [32], "latent": 4},
                                  "train": {"epochs": 1, "batch_size": 50, "seed": 3}}))
    out = tmp_path / "out"
    runs = lambda: len(list(out.glob("runs/*/*.json")))
    for sig in (signal.SIGTERM, signal.SIGKILL):
        before = runs()
        proc = _reproduce(out, preset)
        deadline = time.time() + 120
        while runs() == before and proc.poll() is None and time.time() < deadline:
            time.sleep(0.02)
        assert proc.poll() is None, f"finished before it could be stopped: {proc.communicate()}"
        proc.send_signal(sig)  # mid-grid: at least one run saved, others in progress
        _, stderr = proc.communicate(timeout=60)
        assert proc.returncode == (-signal.SIGKILL if sig == signal.SIGKILL else 128 + sig)
        if sig == signal.SIGTERM:
            assert "stopped by SIGTERM" in stderr and "rerunning the command resumes" in stderr
        deadline = time.time() + 15
        while _session_processes(proc.pid) and time.time() < deadline:
            time.sleep(0.1)
        assert _session_processes(proc.pid) == []
        assert 0 < runs() < 6
    saved = runs()
    resumed = _reproduce(out, preset)
    stdout, stderr = resumed.communicate(timeout=120)
    assert resumed.returncode == 0, stderr
    assert f"{6 - saved} runs trained now" in stdout
    table = json.loads((out / "tables-mnist-halves-tiny-sample.json").read_text())["rows"]
    spec = json.loads(preset.read_text())
    from mvae_lib.config import ModelConfig, Preset, TrainConfig
    straight = run_table(TABLE_ROWS, "mnist-halves", [0], preset=Preset("tiny", ModelConfig((32,), 4),
                         TrainConfig(**spec["train"])), out_dir=tmp_path / "straight", progress=False, workers=2)
    assert table == straight.rows  # the same table as a run never stopped
    assert not list(out.rglob("*.claim"))


# --------------------------------------------------------------------------- a full disk
TORCH_FULL_DISK = ("[enforce fail at inline_container.cc:672] . PytorchStreamWriter failed writing file "
                   "data/0: file write failed")


@pytest.mark.parametrize("error", [OSError(28, "No space left on device"), RuntimeError(TORCH_FULL_DISK)])
def test_a_full_disk_is_one_clear_error_that_keeps_nothing_half_written(tmp_path, error):
    def write(f):
        f.write(b"half")
        raise error

    with pytest.raises(runcache.DiskFull) as caught:
        runcache.atomic_write(tmp_path / "runs" / "MVAE-x_w-split0-abc.pt", write)
    message = str(caught.value)
    assert "no space left to save MVAE-x_w-split0-abc.pt in " + str(tmp_path / "runs") in message
    assert "kept" in message and "free some space" in message and "\n" not in message
    assert caught.value.__cause__ is None and caught.value.__suppress_context__  # no chained traceback
    assert not list((tmp_path / "runs").iterdir())  # the temporary file is gone
    with pytest.raises(ValueError, match="other"):  # other errors pass through unchanged
        runcache.atomic_write(tmp_path / "x.json", lambda f: (_ for _ in ()).throw(ValueError("other")))


def test_the_command_line_says_a_full_disk_in_one_line_and_a_rerun_heals(tmp_path, monkeypatch, capsys):
    preset = tmp_path / "tiny.json"
    preset.write_text(json.dumps({"name": "tiny", "model": {"hidden": [8], "latent": 2},
                                  "train": {"epochs": 1, "batch_size": 500}}))
    argv = ["run", "--model", "AE", "--setting", "1", "--split", "0", "--preset", str(preset), "--quiet",
            "--out", str(tmp_path / "out"), "--device", "cpu"]
    real_save = runcache.torch.save

    def full(obj, f):
        raise RuntimeError(TORCH_FULL_DISK)

    monkeypatch.setattr(runcache.torch, "save", full)
    assert main(argv) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: no space left to save AE-x-split0-"), err
    assert str(tmp_path / "out" / "runs" / "mnist-halves") in err[0]
    monkeypatch.setattr(runcache.torch, "save", real_save)  # space freed: the rerun trains and saves it
    assert main(argv) == 0
    assert "trained and saved" in capsys.readouterr().out
    assert not list((tmp_path / "out").rglob("*.tmp")) and not list((tmp_path / "out").rglob("*.claim"))


def _worker_pid(k: int) -> int:
    return os.getpid()


def test_kept_workers_serve_the_next_grid_and_stop_when_asked():
    from mvae_lib import runner

    jobs = {k: {"k": k} for k in range(4)}
    try:
        runner.keep_workers()
        first = set(dict(runner.run_jobs(_worker_pid, jobs, workers=2, progress=False)).values())
        second = set(dict(runner.run_jobs(_worker_pid, jobs, workers=2, progress=False)).values())
        assert os.getpid() not in first and second <= first  # the same processes, started once
        assert all(_alive(p) for p in first)  # idle, waiting for the next grid
    finally:
        runner.keep_workers(False)
    assert not runner._KEPT
    deadline = time.time() + 10
    while any(_alive(p) for p in first) and time.time() < deadline:
        time.sleep(0.1)
    assert not any(_alive(p) for p in first), "kept workers outlived keep_workers(False)"
    # without keeping, a grid's workers end with it
    third = set(dict(runner.run_jobs(_worker_pid, jobs, workers=2, progress=False)).values())
    assert not third & first and not runner._KEPT


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(") ")[1][0] != "Z"  # a zombie has ended
    except FileNotFoundError:
        return False
