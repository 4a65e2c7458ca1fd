"""Progress of long work: what the pipeline reports (``Progress``), and how the command line shows it."""

from __future__ import annotations

import time
from typing import NamedTuple


class Notice(NamedTuple):
    """A feature that does not apply to this model, or a phase that failed: one line in the build's output and
    on the site's pages."""

    phase: str  # the phase it belongs to: facets, examples, circuits, maps
    text: str
    failed: bool = False  # an error, as opposed to a feature that cannot apply


class Progress:
    """What the pipeline reports; the command line shows it as progress bars, tests ignore it. Notices are kept
    (``notices``) for the site."""

    def __init__(self):
        self.notices: list[Notice] = []

    def start_layer(self, name: str, total: int, done: int, unit: str = "filters") -> None: ...

    def advance(self, name: str, count: int) -> None: ...

    def note(self, text: str) -> None: ...

    def notice(self, phase: str, text: str, failed: bool = False) -> None:
        self.notices.append(Notice(phase, text, failed))
        self.note(text)


class RichProgress(Progress):
    """A progress bar per layer on stderr: filters done / total, filters per second, time left. Where stderr is
    not a terminal (a log file, a batch job), a plain line instead, at most every ``LINE_SECONDS`` per layer and
    when a layer ends."""

    LINE_SECONDS = 10.0

    def __init__(self, clock=time.monotonic):
        super().__init__()
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

        self.console = Console(stderr=True)
        self.live = self.console.is_terminal
        self.bars = Progress(TextColumn("{task.description:<22}"), BarColumn(), MofNCompleteColumn(),
                             TextColumn("{task.fields[rate]}"),
                             TimeElapsedColumn(), TextColumn("left"), TimeRemainingColumn(), console=self.console)
        self.tasks: dict[str, int] = {}
        self.lines: dict[str, dict] = {}  # without a terminal: per layer, its counts and time spent on it
        self.clock = clock
        self.last_event = clock()  # units run one after another: a unit's time is since the last event

    def __enter__(self):
        if self.live:
            self.bars.start()
        return self

    def __exit__(self, *exc):
        if self.live:
            self.bars.stop()

    def start_layer(self, name: str, total: int, done: int, unit: str = "filters") -> None:
        if not self.live:
            self.lines[name] = dict(total=total, done=done, first=done, unit=unit, seconds=0.0, shown=0.0)
            self.last_event = self.clock()
            # a layer's first line says how many of its filters are done and how many are left
            self._line(name, self.last_event, "already done" if done >= total else f"done, {total - done} to do")
            return
        self.tasks[name] = self.bars.add_task(name, total=max(total, 1), completed=done, rate="", unit=unit)

    def advance(self, name: str, count: int) -> None:
        if not self.live:
            layer, now = self.lines[name], self.clock()
            layer["done"] += count
            layer["seconds"] += now - self.last_event
            self.last_event = now
            if layer["done"] >= layer["total"] or now - layer["shown"] >= self.LINE_SECONDS:
                self._line(name, now)
            return
        task = self.tasks[name]
        self.bars.advance(task, count)
        speed = self.bars.tasks[task].speed
        unit = self.bars.tasks[task].fields["unit"]
        self.bars.update(task, rate=f"{speed:6.2f} {unit}/s" if speed else "")

    def _line(self, name: str, now: float, state: str = "") -> None:
        layer = self.lines[name]
        layer["shown"] = now
        elapsed, made = layer["seconds"], layer["done"] - layer["first"]
        text = f"{name}: {layer['done']}/{layer['total']} {layer['unit']}"
        if state:
            text += f" {state}"
        elif made and elapsed > 0:
            rate = made / elapsed
            text += f", {rate:.2f} {layer['unit']}/s, {_duration(elapsed)} elapsed"
            if layer["done"] < layer["total"]:
                text += f", about {_duration((layer['total'] - layer['done']) / rate)} left"
        self.console.print(text, highlight=False, soft_wrap=True)

    def note(self, text: str) -> None:
        self.console.print(text, markup=False, highlight=False, soft_wrap=True)  # one line, as written


def _duration(seconds: float) -> str:
    minutes, seconds = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{seconds:02d}"
