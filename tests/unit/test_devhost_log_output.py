"""The HTTP workers' batched log output: every line written exactly once, soon, in the
order each thread logged it, stamped with when it was logged, and all of it on close."""

from __future__ import annotations

import io
import logging
import threading
import time

from devhost.log_output import FORMAT, BatchedLineHandler


def logger_with(handler: logging.Handler, name: str) -> logging.Logger:
    handler.setFormatter(logging.Formatter(FORMAT))
    log = logging.getLogger(name)
    log.handlers = [handler]
    log.propagate = False
    log.setLevel(logging.INFO)
    return log


def test_lines_from_many_threads_are_each_written_once_in_each_threads_order():
    stream = io.StringIO()
    handler = BatchedLineHandler(stream, interval=0.001)
    log = logger_with(handler, "test.batched.many")

    def work(n: int) -> None:
        for i in range(500):
            log.info("t%d line %d", n, i)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    handler.close()
    lines = stream.getvalue().splitlines()
    assert len(lines) == 8 * 500
    for n in range(8):
        mine = [int(line.rsplit(" ", 1)[1]) for line in lines if f" t{n} line " in line]
        assert mine == list(range(500))


def test_a_line_appears_within_a_few_intervals_without_a_flush():
    stream = io.StringIO()
    handler = BatchedLineHandler(stream, interval=0.01)
    log = logger_with(handler, "test.batched.soon")
    try:
        log.info("hello")
        deadline = time.monotonic() + 2
        while "hello" not in stream.getvalue() and time.monotonic() < deadline:
            time.sleep(0.005)
        assert stream.getvalue().endswith("INFO test.batched.soon hello\n")
    finally:
        handler.close()


def test_a_line_keeps_the_time_and_the_values_it_was_logged_with():
    stream = io.StringIO()
    handler = BatchedLineHandler(stream, interval=60)  # written only at close
    log = logger_with(handler, "test.batched.time")
    order = {"status": "new"}
    before = time.strftime("%Y-%m-%d %H:%M:%S")
    log.info("order state %s", order)
    after = time.strftime("%Y-%m-%d %H:%M:%S")
    order["status"] = "filled"  # changed before the writer formats the line
    while time.strftime("%Y-%m-%d %H:%M:%S") in (before, after):
        time.sleep(0.05)  # so a line stamped when written would show a later second
    assert stream.getvalue() == ""
    handler.close()
    line = stream.getvalue()
    assert line[:19] in (before, after), line
    assert "order state {'status': 'new'}" in line


def test_a_traceback_is_kept_with_its_line():
    stream = io.StringIO()
    handler = BatchedLineHandler(stream, interval=60)
    log = logger_with(handler, "test.batched.exc")
    try:
        raise ValueError("boom")
    except ValueError:
        log.exception("it failed")
    handler.close()
    assert "it failed" in stream.getvalue() and "ValueError: boom" in stream.getvalue()


def test_a_closed_stream_does_not_break_the_logging_thread():
    stream = io.StringIO()
    handler = BatchedLineHandler(stream, interval=0.001)
    log = logger_with(handler, "test.batched.closed")
    stream.close()
    log.info("nobody reads this")
    time.sleep(0.02)
    assert handler._writer.is_alive()
    handler.close()
