"""The devhost's log output: ``time LEVEL logger message`` lines on stdout.

One line per invocation is thousands of records a second under load, so records skip
what no line prints: the thread, process and multiprocessing names (the switches the
logging module documents for exactly this) and, in ``log_invocation``, the caller's
file and line.

The main process writes each line when it is logged, before the response or the
settlement it describes, so whoever reads its log (a test, an engineer following a
request id) never sees an effect of a trigger before its line. An HTTP worker process
(``configure(..., batched=True)``) renders each message when it is logged and keeps
the record; a writer thread lays out the lines and writes what gathered every 10 ms in
one write: formatting and writing each line where
it was logged cost a worker 80-100 us of CPU per API request under load (the writing
thread gives up the GIL for the system call and queues to get it back behind the
function threads), a fifth of a cached read. The writer drains everything before the
process exits, so no line is lost on a clean stop.
"""

from __future__ import annotations

import atexit
import logging
import sys
import threading
from collections import deque
from typing import TextIO

FORMAT = "%(asctime)s %(levelname)s %(name)s %(message)s"
WRITE_INTERVAL = 0.01


def configure(level: str, *, batched: bool = False) -> None:
    logging.logThreads = False
    logging.logProcesses = False
    logging.logMultiprocessing = False
    if not batched:
        logging.basicConfig(level=level.upper(), stream=sys.stdout, force=True, format=FORMAT)
        return
    handler = BatchedLineHandler(sys.stdout)
    handler.setFormatter(logging.Formatter(FORMAT))
    logging.basicConfig(level=level.upper(), handlers=[handler], force=True)
    atexit.register(handler.close)


class BatchedLineHandler(logging.Handler):
    """Keeps records; a writer thread formats and writes what gathered every ``interval`` s.

    The caller renders the message and appends (no lock, no wake-up, no system call);
    each record's time is its own (``record.created``), whenever it is written.
    """

    def __init__(self, stream: TextIO, interval: float = WRITE_INTERVAL) -> None:
        super().__init__()
        self.stream = stream
        self.interval = interval
        self._records: deque[logging.LogRecord] = deque()
        self._stop = threading.Event()
        self._writer = threading.Thread(target=self._write_loop, name="log-writer", daemon=True)
        self._writer.start()

    def emit(self, record: logging.LogRecord) -> None:
        # The message and any traceback are rendered now (as QueueHandler does): the
        # arguments may change or vanish before the writer gets to them. The time and
        # the line's layout are left to the writer.
        try:
            record.msg = record.getMessage()
            record.args = None
            if record.exc_info:
                record.exc_text = logging.Formatter().formatException(record.exc_info)
                record.exc_info = None
        except Exception:
            self.handleError(record)
            return
        self._records.append(record)  # deque.append is atomic: no lock, no lost record

    def flush(self) -> None:
        lines = []
        while True:
            try:
                record = self._records.popleft()
            except IndexError:
                break
            try:
                lines.append(self.format(record) + "\n")
            except Exception:
                self.handleError(record)
        if not lines:
            return
        try:
            self.stream.write("".join(lines))
            self.stream.flush()
        except (OSError, ValueError):
            pass  # stdout gone (the reader exited): nothing left to tell

    def close(self) -> None:
        self._stop.set()
        if self._writer is not threading.current_thread():
            self._writer.join(timeout=5)
        self.flush()
        super().close()

    def _write_loop(self) -> None:
        while not self._stop.wait(self.interval):
            self.flush()
