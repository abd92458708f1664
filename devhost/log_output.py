"""The devhost's log output: ``time LEVEL logger message`` lines on stdout.

One line per invocation is thousands of records a second under load, so records skip
what no line prints: the thread, process and multiprocessing names (the switches the
logging module documents for exactly this) and, in ``log_invocation``, the caller's
file and line. Each line is still written when it is logged, before the response or
the settlement it describes, so whoever reads the log (a test, an engineer following a
request id) never sees an effect before its line.
"""

from __future__ import annotations

import logging
import sys


def configure(level: str) -> None:
    logging.logThreads = False
    logging.logProcesses = False
    logging.logMultiprocessing = False
    logging.basicConfig(level=level.upper(), stream=sys.stdout, force=True,
                        format="%(asctime)s %(levelname)s %(name)s %(message)s")
