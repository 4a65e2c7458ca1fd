"""One output directory, one writer: a second build stops or waits, a killed build's lock is taken over, shards
share a directory, and a directory keeps one model's atlas unless --force moves it aside."""

import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from sitecheck import broken_links
from typer.testing import CliRunner

from generator.build import lock
from generator.cli import app
from generator.errors import AtlasError
from generator.store import layout

ROOT = Path(__file__).resolve().parent.parent
TINY = ["build", "--model", "tiny-cnn", "--layers", "conv1,conv3", "--size", "16", "--steps", "3", "--batch-size",
        "4", "--profile", "full", "--method", "classic", "--examples", "none", "--facets", "0"]
NUM_FILTERS = 8 + 16
REFUSAL = re.compile(r"^error: another build \(pid (\d+) on host (\S+)\) is writing (.+)/; wait for it or use "
                     r"another --out$")

# The command line in a subprocess, with tiles.write_atomically instrumented: every file written is logged with
# the writer's pid (to count writes); with a gate, the first tile write waits until the gate file exists (so a
# test decides how long a build holds its lock); with a stall count, the writer stops for good after that many
# unit manifests (so a test can kill a build with finished units, at a known point); with a slow partial render,
# a render that finds some planned filters missing pauses before writing (so renders that are not serialised
# would let an early shard's partial atlas.json land after the complete one).
PROBE = """
import os, sys, time
from pathlib import Path
from generator.store import tiles
log, gate, stall, slow = (os.environ.get(name) for name in ("PROBE_LOG", "PROBE_GATE", "PROBE_STALL_AFTER",
                                                             "PROBE_SLOW_PARTIAL_RENDER"))
real, manifests = tiles.write_atomically, []
def write_atomically(path, data):
    path = Path(path)
    if gate and "tiles" in path.parts:
        deadline = time.time() + 90
        while not Path(gate).exists() and time.time() < deadline:
            time.sleep(0.02)
    real(path, data)
    if log:
        with open(log, "a") as file:
            file.write(f"{os.getpid()} {path}\\n")
    if "units" in path.parts:
        manifests.append(path)
        if stall and len(manifests) >= int(stall):
            time.sleep(600)
tiles.write_atomically = write_atomically
from generator.site import pages
real_collect = pages.collect
def collect(out):
    record = real_collect(out)
    if slow and any(len(layer["filters"]) < layer["num_planned"] for layer in record["layers"]):
        time.sleep(float(slow))
    return record
pages.collect = collect
from generator.cli import app
app(prog_name="atlas")
"""


def start(arguments, **probe) -> subprocess.Popen:
    environment = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
                   **{f"PROBE_{name.upper()}": str(value) for name, value in probe.items()}}
    return subprocess.Popen([sys.executable, "-c", PROBE, *map(str, arguments)], env=environment, cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def writes(log: Path) -> list[tuple[int, str]]:
    if not log.exists():
        return []
    return [(int(pid), path) for pid, path in (line.split(" ", 1) for line in log.read_text().splitlines())]


def wait_for(condition, seconds: float = 90, what: str = "") -> None:
    deadline = time.time() + seconds
    while not condition():
        assert time.time() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)


def snapshot(folder: Path) -> dict[str, bytes | None]:
    """Every file (with its bytes) and every folder under ``folder``, hidden ones included."""
    return {str(path.relative_to(folder)): path.read_bytes() if path.is_file() else None
            for path in sorted(folder.rglob("*"))}


def filter_ids(site: Path) -> list[list[int]]:
    record = json.loads((site / "atlas.json").read_text())
    return [[entry["id"] for entry in layer["filters"]] for layer in record["layers"]]


def write_lock(out: Path, **fields) -> Path:
    out.mkdir(parents=True, exist_ok=True)
    path = out / layout.LOCK_FILE
    path.write_text(json.dumps({"host": socket.gethostname(), "pid": os.getpid(), "purpose": "build",
                                "token": "theirs", "start_time": None, **fields}))
    return path


def dead_pid() -> int:
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


# --- the lock itself ----------------------------------------------------------------------------------------

def test_the_lock_names_its_holder_and_a_second_taker_is_refused_in_one_line(tmp_path):
    with lock.output_lock(tmp_path):
        held = json.loads((tmp_path / layout.LOCK_FILE).read_text())
        assert (held["host"], held["pid"]) == (socket.gethostname(), os.getpid())
        with pytest.raises(AtlasError) as refused, lock.output_lock(tmp_path):
            pass
    assert str(refused.value) == (f"another build (pid {os.getpid()} on host {socket.gethostname()}) is writing "
                                  f"{tmp_path}/; wait for it or use another --out")
    assert refused.value.exit_code == 2
    assert not (tmp_path / layout.LOCK_FILE).exists()  # released


def test_a_dead_processs_lock_is_taken_over_with_a_notice(tmp_path):
    pid = dead_pid()
    write_lock(tmp_path, pid=pid)
    notes = []
    with lock.output_lock(tmp_path, notify=notes.append):
        assert json.loads((tmp_path / layout.LOCK_FILE).read_text())["pid"] == os.getpid()
    assert notes == [(f"Taking over the lock of a build that is gone (pid {pid} on host {socket.gethostname()}): "
                      f"its finished units are kept.")]
    assert sorted(path.name for path in tmp_path.iterdir()) == []


def test_a_reused_pid_does_not_keep_a_dead_builds_lock(tmp_path):
    write_lock(tmp_path, start_time="1")  # our pid, but a process started at another time held it
    with lock.output_lock(tmp_path):
        pass


def test_a_lock_from_another_host_is_never_taken_over(tmp_path):
    write_lock(tmp_path, host="elsewhere", pid=1)
    with pytest.raises(AtlasError, match=r"another build \(pid 1 on host elsewhere\) is writing"), \
            lock.output_lock(tmp_path):
        pass
    assert json.loads((tmp_path / layout.LOCK_FILE).read_text())["host"] == "elsewhere"


def test_a_lock_being_written_is_read_again_and_one_left_half_written_is_stale(tmp_path, monkeypatch):
    monkeypatch.setattr(lock, "UNREADABLE_GRACE_SECONDS", 5.0)
    path = tmp_path / layout.LOCK_FILE
    path.write_text("")  # created, its JSON not written yet: the holder is named once it is there
    threading.Timer(0.3, lambda: path.write_text(json.dumps(
        {"host": "elsewhere", "pid": 7, "purpose": "build", "token": "theirs"}))).start()
    with pytest.raises(AtlasError, match=r"another build \(pid 7 on host elsewhere\)"), lock.output_lock(tmp_path):
        pass
    path.write_text("")  # never finished: stale after the grace period
    monkeypatch.setattr(lock, "UNREADABLE_GRACE_SECONDS", 0.3)
    notes = []
    with lock.output_lock(tmp_path, notify=notes.append):
        assert json.loads(path.read_text())["pid"] == os.getpid()
    assert notes == [f"Removed an unreadable lock {path} left by a build that stopped while taking it."]


def test_wait_takes_the_lock_once_the_holder_releases_it(tmp_path, monkeypatch):
    monkeypatch.setattr(lock, "POLL_SECONDS", 0.05)
    taken, release = threading.Event(), threading.Event()

    def holder():
        with lock.output_lock(tmp_path):
            taken.set()
            release.wait(10)

    thread = threading.Thread(target=holder)
    thread.start()
    taken.wait(10)
    threading.Timer(0.5, release.set).start()
    notes = []
    started = time.perf_counter()
    with lock.output_lock(tmp_path, wait=True, notify=notes.append):
        waited = time.perf_counter() - started
    thread.join()
    assert waited >= 0.4 and release.is_set()
    assert notes == [(f"Waiting for another build (pid {os.getpid()} on host {socket.gethostname()}) to finish "
                      f"writing {tmp_path}/ ...")]


def test_shards_share_a_directory_but_not_with_a_whole_build(tmp_path):
    with lock.output_lock(tmp_path, shard=(0, 2)) as first, lock.output_lock(tmp_path, shard=(1, 2)):
        with pytest.raises(AtlasError, match="another build"), lock.output_lock(tmp_path, shard=(0, 2)):
            pass  # the same shard twice
        with pytest.raises(AtlasError, match="another build"), lock.output_lock(tmp_path):
            pass  # a whole build beside shards
        assert not (tmp_path / layout.LOCK_FILE).exists()  # the refused whole build took nothing with it
        with first.exclusive("render"):  # a shard's brief step on shared files
            assert json.loads((tmp_path / layout.LOCK_FILE).read_text())["purpose"] == "render"
    with lock.output_lock(tmp_path), pytest.raises(AtlasError, match="another build"), \
            lock.output_lock(tmp_path, shard=(0, 2)):
        pass  # a shard beside a whole build
    assert list(tmp_path.iterdir()) == []


# --- builds in subprocesses ---------------------------------------------------------------------------------

def test_two_builds_started_together_one_builds_the_other_stops_naming_it(tmp_path):
    out, log, gate = tmp_path / "site", tmp_path / "writes.log", tmp_path / "gate"
    processes = [start([*TINY, "--out", out], log=log, gate=gate) for _ in range(2)]
    # The builder waits at its first tile until the gate opens; the other must stop before that, on its own.
    wait_for(lambda: any(process.poll() is not None for process in processes), what="one build to stop")
    gate.touch()
    results = [(process, *process.communicate(timeout=120)) for process in processes]
    (winner, _, winner_errors), = [result for result in results if result[0].returncode == 0]
    (loser, _loser_output, loser_errors), = [result for result in results if result[0].returncode != 0]
    assert loser.returncode == 2, loser_errors
    errors = [line for line in loser_errors.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "Traceback" not in loser_errors, loser_errors
    match = REFUSAL.match(errors[0])
    assert match and int(match[1]) == winner.pid and match[2] == socket.gethostname() and match[3] == str(out)

    assert f"Built {NUM_FILTERS} filters" in winner_errors
    assert filter_ids(out) == [list(range(8)), list(range(16))]
    assert broken_links(out) == []
    written = writes(log)
    tiles = [path for pid, path in written if "/tiles/" in path]
    assert {pid for pid, _ in written} == {winner.pid}  # the stopped build wrote nothing at all
    assert len(tiles) == len(set(tiles)) == NUM_FILTERS * 2 * 2  # positive and negative, PNG and WebP, once each
    assert not (out / layout.LOCK_FILE).exists()


def test_a_killed_builds_stale_lock_is_taken_over_and_finished_units_are_kept(tmp_path):
    out, log = tmp_path / "site", tmp_path / "writes.log"
    killed = start([*TINY, "--out", out], stall_after=3)

    def manifests():
        return sorted((out / "units").rglob("*.json")) if (out / "units").exists() else []

    wait_for(lambda: len(manifests()) >= 3, what="three finished units")
    killed.send_signal(signal.SIGKILL)
    killed.communicate()
    assert json.loads((out / layout.LOCK_FILE).read_text())["pid"] == killed.pid  # left behind
    finished = {path: (path.stat().st_mtime_ns, path.read_bytes()) for path in manifests()}
    done_tiles = {out / record[sign][key]: (out / record[sign][key]).stat().st_mtime_ns
                  for path in finished for record in json.loads(path.read_text())["filters"]
                  for sign in ("positive", "negative") for key in ("image", "thumbnail")}
    num_done = sum(len(json.loads(path.read_text())["filter_ids"]) for path in finished)
    assert 0 < num_done < NUM_FILTERS

    resumed = start([*TINY, "--out", out], log=log)
    _, errors = resumed.communicate(timeout=120)
    assert resumed.returncode == 0, errors
    assert (f"Taking over the lock of a build that is gone (pid {killed.pid} on host {socket.gethostname()}): its "
            f"finished units are kept.") in errors
    assert f"Built {NUM_FILTERS - num_done} filters" in errors
    assert {path: (path.stat().st_mtime_ns, path.read_bytes()) for path in finished} == finished  # not redone
    assert {path: path.stat().st_mtime_ns for path in done_tiles} == done_tiles
    assert not {path for _, path in writes(log)} & {str(path) for path in [*finished, *done_tiles]}
    assert filter_ids(out) == [list(range(8)), list(range(16))]
    assert not (out / layout.LOCK_FILE).exists()


def test_two_shards_in_parallel_into_one_directory_render_the_one_process_atlas(tmp_path):
    out, log, gate = tmp_path / "shared", tmp_path / "writes.log", tmp_path / "gate"
    shards = [start([*TINY, "--shard", f"{index}/2", "--out", out], log=log, gate=gate, slow_partial_render=3)
              for index in range(2)]
    wait_for(lambda: all((out / layout.shard_lock_name((index, 2))).exists() for index in range(2))
             or any(shard.poll() is not None for shard in shards), what="both shards to hold their locks")
    assert all(shard.poll() is None for shard in shards), "a shard stopped instead of running beside the other"
    gate.touch()  # both shards run at once from here
    for shard in shards:
        _, errors = shard.communicate(timeout=120)
        assert shard.returncode == 0, errors
    by_shard = [[path for pid, path in writes(log) if pid == shard.pid and "/tiles/" in path] for shard in shards]
    assert by_shard[0] and by_shard[1] and not set(by_shard[0]) & set(by_shard[1])  # each its own units
    assert len(by_shard[0]) + len(by_shard[1]) == NUM_FILTERS * 2 * 2

    whole = tmp_path / "whole"
    result = CliRunner().invoke(app, [*TINY, "--out", str(whole)])
    assert result.exit_code == 0, result.output
    assert (out / "atlas.json").read_text() == (whole / "atlas.json").read_text()
    assert broken_links(out) == []
    assert [path.name for path in out.glob(".atlas-lock*")] == []


def other_model(path: Path) -> Path:
    """A small model file with other layers than tiny-cnn's."""
    from generator.model.quiet_keras import keras

    inputs = keras.Input((None, None, 3))
    x = keras.layers.Conv2D(4, 3, padding="same", activation="relu", name="edges")(inputs)
    model = keras.Model(inputs, keras.layers.GlobalAveragePooling2D()(x))
    model.save(path)
    return path


def test_another_model_is_refused_unchanged_and_force_moves_the_old_atlas_aside(tmp_path):
    runner, out = CliRunner(), tmp_path / "site"
    assert runner.invoke(app, [*TINY, "--out", str(out)]).exit_code == 0
    before = snapshot(out)
    model = other_model(tmp_path / "other.keras")
    other = ["build", "--model", str(model), "--layers", "edges", "--size", "16", "--steps", "3", "--profile",
             "full", "--method", "classic", "--examples", "none", "--out", str(out)]

    refused = runner.invoke(app, other)
    assert refused.exit_code == 2
    errors = [line for line in refused.output.splitlines() if line.startswith("error:")]
    assert errors == [(f"error: {out}/ holds the atlas of another model (tiny-cnn, weights seeded), not other.keras "
                       f"(weights file): use another --out, or --force to move the old atlas aside (to "
                       f"site.old-<time>/ beside it)")], refused.output
    assert snapshot(out) == before  # nothing changed on disk
    assert sorted(path.name for path in tmp_path.iterdir()) == ["other.keras", "site"]

    forced = runner.invoke(app, [*other, "--force"])
    assert forced.exit_code == 0, forced.output
    (aside,) = tmp_path.glob("site.old-*")
    assert f"Moved the atlas of tiny-cnn (weights seeded) aside to {aside}/" in forced.output
    assert snapshot(aside) == before  # the old atlas, whole
    record = json.loads((out / "atlas.json").read_text())
    assert record["model"]["name"] == "other.keras" and [layer["name"] for layer in record["layers"]] == ["edges"]
    assert not (out / "tiles" / "conv1").exists() and not (out / "layers" / "conv3").exists()
    assert broken_links(out) == []
