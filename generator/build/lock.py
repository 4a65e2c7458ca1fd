"""Who may write an output directory: one build at a time, shards side by side, one model per directory.

A build holds ``<out>/.atlas-lock`` for its whole run: a JSON file naming its host and pid, created with
``O_CREAT | O_EXCL``, so exactly one of two builds started together gets it. The other stops with one line naming
the holder, or with ``wait`` polls until the lock is free. A lock whose holder is gone (same host, no such
process, or the pid now belongs to a younger process) was left by a killed run and is taken over with a notice;
the killed run's finished units stay and are not redone.

Shards (``--shard I/N``) write only their own units, so they run side by side: each holds its own lock
``<out>/.atlas-lock.shard-I-of-N`` instead (the same shard twice still collides), and takes the directory's lock
only for the short steps that touch shared files (checking which model the directory holds, rendering the site),
waiting for it if another shard has it. A whole build and a shard exclude each other: each takes its own lock,
then looks for the other kind, and backs off if it finds one.

``claim_output`` keeps one model per directory: a directory whose run.json names another model (or weights) is
refused unchanged, or with ``force`` its content is moved aside to ``<out>.old-<timestamp>``.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import socket
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from generator.errors import AtlasError
from generator.store import directory, layout

POLL_SECONDS = 0.5
UNREADABLE_GRACE_SECONDS = 5.0  # a lock file still without JSON this long after its creation was left half written

Notify = Callable[[str], None]


def _ignore(text: str) -> None:
    pass


def _start_time(pid: int) -> str | None:
    """The process's start time in clock ticks since boot (Linux), to tell a reused pid from the holder."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat.rsplit(")", 1)[-1].split()[19]  # field 22; the command name before ")" may hold spaces


@dataclass(frozen=True)
class Holder:
    host: str
    pid: int
    purpose: str  # build | shard | claim | render
    token: str
    start_time: str | None = None

    @classmethod
    def me(cls, purpose: str) -> Holder:
        return cls(socket.gethostname(), os.getpid(), purpose, uuid.uuid4().hex, _start_time(os.getpid()))

    def describe(self) -> str:
        return f"pid {self.pid} on host {self.host}"

    def is_gone(self) -> bool:
        """True only when certain: the holder ran on this host and its process no longer exists (or the pid was
        reused by a process started later). A lock from another host is never taken over."""
        if self.host != socket.gethostname():
            return False
        try:
            os.kill(self.pid, 0)
        except ProcessLookupError:
            return True
        except PermissionError:
            pass  # another user's live process
        now = _start_time(self.pid)
        return self.start_time is not None and now is not None and now != self.start_time


def _read(path: Path) -> Holder | None | str:
    """The lock's holder; None when there is no lock; "unreadable" while it is being written or if it is broken."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return Holder(str(data["host"]), int(data["pid"]), str(data.get("purpose", "build")), str(data["token"]),
                      data.get("start_time"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, TypeError):
        return "unreadable"


def _create(path: Path, holder: Holder) -> bool:
    """Create the lock file if there is none (atomically); False if another one exists."""
    try:
        descriptor = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
    except FileExistsError:
        return False
    except OSError as error:
        raise AtlasError(f"Cannot create the lock '{path}': {error.strerror or error}; choose another --out.") from None
    with os.fdopen(descriptor, "w", encoding="utf-8") as file:
        json.dump({"host": holder.host, "pid": holder.pid, "purpose": holder.purpose, "token": holder.token,
                   "start_time": holder.start_time}, file)
    return True


def _release(path: Path, holder: Holder) -> None:
    """Remove the lock if it is still ours (never another build's)."""
    found = _read(path)
    if isinstance(found, Holder) and found.token == holder.token:
        path.unlink(missing_ok=True)


def _remove_stale(path: Path, stale: Holder | tuple) -> bool:
    """Move a dead holder's lock away and delete it. Renaming is atomic, so of several builds that found the same
    stale lock one removes it; one that renamed a fresh lock by mistake puts it back. ``stale`` is the holder
    read from the lock, or for an unreadable lock its (inode, mtime)."""
    aside = path.with_name(f"{path.name}.stale-{os.getpid()}-{uuid.uuid4().hex[:8]}")
    try:
        os.rename(path, aside)
    except FileNotFoundError:
        return False
    if isinstance(stale, Holder):
        same = _read(aside) == stale
    else:
        status = aside.stat()
        same = (status.st_ino, status.st_mtime_ns) == stale
    if not same:
        with contextlib.suppress(FileExistsError):
            os.link(aside, path)  # a live lock taken in between: restore it unless yet another one exists
    aside.unlink(missing_ok=True)
    return same


def _live_holder(path: Path, notify: Notify | None = None) -> Holder | None:
    """The live holder of the lock at ``path``, or None when there is none. A lock left by a dead process (or
    never finished) is removed; with ``notify``, saying so."""
    while True:
        found = _read(path)
        if found is None:
            return None
        if found == "unreadable":
            try:
                status = path.stat()
            except FileNotFoundError:
                continue
            if time.time() - status.st_mtime < UNREADABLE_GRACE_SECONDS:
                time.sleep(0.01)  # created this moment, its JSON not yet written: read it again
                continue
            if _remove_stale(path, (status.st_ino, status.st_mtime_ns)) and notify:
                notify(f"Removed an unreadable lock {path} left by a build that stopped while taking it.")
            continue
        if not found.is_gone():
            return found
        if _remove_stale(path, found) and notify:
            notify(f"Taking over the lock of a build that is gone ({found.describe()}): its finished units are "
                   f"kept.")


def _try_take(path: Path, me: Holder, notify: Notify) -> Holder | None:
    """Take the lock at ``path``; None on success, else its live holder."""
    while True:
        if _create(path, me):
            return None
        holder = _live_holder(path, notify)
        if holder is not None:
            return holder


def _refusal(out: Path, holder: Holder) -> AtlasError:
    return AtlasError(f"another build ({holder.describe()}) is writing {out}/; wait for it or use another --out")


def _live_shard_lock(out: Path) -> Holder | None:
    """The holder of a live shard lock in ``out``, if any (shard locks left by dead processes are removed)."""
    for path in layout.shard_lock_paths(out):
        holder = None if ".stale-" in path.name else _live_holder(path)
        if holder is not None:
            return holder
    return None


def _whole_build(out: Path) -> Holder | None:
    """The holder of the directory's lock if it is a whole build (shards' brief steps do not count)."""
    holder = _live_holder(layout.lock_path(out))
    return holder if holder is not None and holder.purpose == "build" else None


def _no_conflict() -> None:
    return None


@contextlib.contextmanager
def _holding(path: Path, purpose: str, wait: bool, notify: Notify,
             conflict: Callable[[], Holder | None] = _no_conflict) -> Iterator[None]:
    """Hold the lock at ``path`` (``path.parent`` is the output directory). Having taken it, a build looks for the
    other kind of writer (``conflict``) and backs off if there is one: of a whole build and a shard that start
    together, at least one sees the other."""
    out = path.parent
    me = Holder.me(purpose)
    announced = False
    while True:
        holder = _try_take(path, me, notify)
        if holder is None:
            holder = conflict()
            if holder is not None:
                _release(path, me)
        if holder is None:
            break
        if not wait:
            raise _refusal(out, holder)
        if not announced:
            notify(f"Waiting for another build ({holder.describe()}) to finish writing {out}/ ...")
            announced = True
        time.sleep(POLL_SECONDS * random.uniform(0.8, 1.2))
    try:
        yield
    finally:
        _release(path, me)


class Held:
    """What a build holds while it writes ``out``."""

    def __init__(self, out: Path, shard: tuple[int, int] | None, notify: Notify):
        self.out, self.shard, self.notify = out, shard, notify

    @contextlib.contextmanager
    def exclusive(self, purpose: str) -> Iterator[None]:
        """The whole directory, for a step that writes shared files: a whole build holds it already; a shard waits
        for it (other shards hold it only briefly)."""
        if self.shard is None:
            yield
            return
        with _holding(layout.lock_path(self.out), purpose, True, self.notify):
            yield

    def claim(self, model: str, weights: str, force: bool) -> None:
        with self.exclusive("claim"):
            claim_output(self.out, model, weights, force, self.notify)


@contextlib.contextmanager
def output_lock(out: Path, wait: bool = False, shard: tuple[int, int] | None = None,
                notify: Notify = _ignore) -> Iterator[Held]:
    """Hold ``out`` for writing: the whole directory, or with ``shard`` that shard's units. Raises AtlasError
    naming the holder when another build writes there, or waits for it with ``wait``."""
    if shard is None:
        with _holding(layout.lock_path(out), "build", wait, notify, lambda: _live_shard_lock(out)):
            yield Held(out, None, notify)
    else:
        with _holding(layout.shard_lock_path(out, shard), "shard", wait, notify, lambda: _whole_build(out)):
            yield Held(out, shard, notify)


def claim_output(out: Path, model: str, weights: str, force: bool, notify: Notify = _ignore) -> Path | None:
    """Make sure ``out`` holds no other model's atlas. A directory whose run.json names another model or other
    weights is refused untouched, or with ``force`` its content (all but the lock files) is moved to
    ``<out>.old-<timestamp>``, which is returned. Call it while holding the directory's lock."""
    try:
        run = directory.load_run(out)
        if run is None:
            return None
        found = (run["model"]["name"], run["model"]["weights"])
    except (OSError, ValueError, KeyError, TypeError):
        found = ("an unreadable run.json", "?")
    if found == (model, weights):
        return None
    if not force:
        raise AtlasError(f"{out}/ holds the atlas of another model ({found[0]}, weights {found[1]}), not "
                         f"{model} (weights {weights}): use another --out, or --force to move the old atlas aside "
                         f"(to {out.resolve().name}.old-<time>/ beside it)")
    stamp = time.strftime("%Y%m%d-%H%M%S")
    aside = out.resolve().with_name(f"{out.resolve().name}.old-{stamp}")
    suffix = 1
    while aside.exists():
        aside = aside.with_name(f"{out.resolve().name}.old-{stamp}-{suffix}")
        suffix += 1
    try:
        aside.mkdir()
        for entry in sorted(out.iterdir()):
            if not layout.is_lock_file(entry.name):
                os.rename(entry, aside / entry.name)
    except OSError as error:
        raise AtlasError(f"Cannot move the old atlas in {out}/ aside to {aside}/: {error.strerror or error}; "
                         f"move or delete it yourself, or use another --out.") from None
    notify(f"Moved the atlas of {found[0]} (weights {found[1]}) aside to {aside}/")
    return aside
