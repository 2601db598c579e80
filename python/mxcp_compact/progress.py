"""Progress on a terminal, and Ctrl-C as a clean stop.

The Rust core counts the bytes and lines it has decided (once per 16 MiB window) in a shared
`_core.Progress`; a watcher thread reads them ten times a second and, on a terminal and once a
run has lasted a second, draws one status line on standard error. Nothing is drawn for `--json`
or when the output is not a terminal. While the core holds the main thread, Python cannot run
its SIGINT handler, so the watcher also listens on the signal wakeup fd and asks the core to
stop at the next window: the file being compacted is left untouched. SIGTERM (`systemctl stop`,
`timeout`, `docker stop`) is the same request.
"""

from __future__ import annotations

import contextlib
import os
import select
import signal
import threading
import time

# typing.TYPE_CHECKING without importing typing, which costs ~5 ms of every command's start-up.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, TextIO

__all__ = ["Watch", "render"]


def _size(count: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if count < 1024 or unit == "GiB":
            return f"{count:.0f} {unit}" if unit == "B" else f"{count:.1f} {unit}"
        count /= 1024
    return f"{count:.1f} TiB"


def render(done: int, total: int, lines: int, elapsed: float, width: int = 30) -> str:
    """One status line: bar, percentage, bytes, throughput, lines per second and ETA."""
    fraction = min(done / total, 1.0) if total else 1.0
    filled = round(width * fraction)
    rate = done / elapsed if elapsed > 0 else 0.0
    line_rate = lines / elapsed if elapsed > 0 else 0.0
    remaining = (total - done) / rate if rate > 0 and total > done else 0.0
    minutes, seconds = divmod(round(remaining), 60)
    return (
        f"[{'#' * filled}{'.' * (width - filled)}] {fraction * 100:3.0f}%  {_size(done)} / {_size(total)}  "
        f"{_size(rate)}/s  {line_rate / 1000:.0f}k lines/s  ETA {minutes}:{seconds:02d}"
    )


#: The signals that ask a run to stop at the next window.
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


class Watch:
    """Context manager around a run: shows progress when `show`, and turns SIGINT and SIGTERM
    into `progress.cancel()`."""

    def __init__(self, progress: Any, total_bytes: int, stream: TextIO, show: bool, delay: float = 1.0) -> None:
        self._progress = progress
        self._total = total_bytes
        self._stream = stream
        self._show = show
        self._delay = delay
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="mxcp-compact-progress", daemon=True)
        self._reader: int | None = None
        self._writer: int | None = None
        self._previous_fd = -1
        self._previous_handlers: dict[int, Any] = {}
        self._drawn = False
        #: Set once Ctrl-C was pressed (or SIGTERM came); the caller stops before the next file.
        self.interrupted = False
        #: The signal that stopped the run (0: none).
        self.stop_signal = 0

    def __enter__(self) -> Watch:
        if threading.current_thread() is threading.main_thread():
            self._reader, self._writer = os.pipe()
            os.set_blocking(self._reader, False)
            os.set_blocking(self._writer, False)
            self._previous_fd = signal.set_wakeup_fd(self._writer, warn_on_full_buffer=False)
            # No KeyboardInterrupt in the middle of our bookkeeping: Ctrl-C is a stop request.
            for number in STOP_SIGNALS:
                self._previous_handlers[number] = signal.signal(number, self._on_signal)
        self._started = time.monotonic()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._writer is not None:
            # Wake the watcher from its select() now rather than at its next timeout.
            with contextlib.suppress(OSError):
                os.write(self._writer, b"\0")
        self._thread.join()
        if self._writer is not None and self._reader is not None:
            for number, handler in self._previous_handlers.items():
                signal.signal(number, handler)
            signal.set_wakeup_fd(self._previous_fd)
            os.close(self._writer)
            os.close(self._reader)
        if self._drawn:
            self._stream.write("\r\033[K")
            self._stream.flush()

    def _on_signal(self, signum: int, frame: object) -> None:
        self._stop_for(signum)

    def _stop_for(self, signum: int) -> None:
        self.stop_signal = self.stop_signal or signum
        self.interrupted = True
        self._progress.cancel()

    def _run(self) -> None:
        while not self._stop.is_set():
            if self._reader is not None:
                ready, _, _ = select.select([self._reader], [], [], 0.1)
                if ready:
                    try:
                        received = os.read(self._reader, 64)
                        for number in STOP_SIGNALS:
                            if number in received:
                                self._stop_for(number)
                    except BlockingIOError:
                        pass
            else:
                self._stop.wait(0.1)
            elapsed = time.monotonic() - self._started
            if self._show and elapsed >= self._delay:
                done, lines = self._progress.counts()
                self._stream.write("\r" + render(done, self._total, lines, elapsed))
                self._stream.flush()
                self._drawn = True
