"""Quiet output for the command line: spiree's own lines on stderr, other libraries' kept aside.

torch, torch-mlir and IREE talk on their own: Python warnings (torch's pytree `FutureWarning` on
every `.pt2`), their own logging handlers (torch logs a whole traceback when `torch.export.load`
fails, before spiree's error), and `iree-compile`'s stderr (logged by compile.py to the "iree"
logger). `capture()` collects all of it while a command runs:

    with quiet.capture(echo=verbose) as messages:
        ...                                   # messages.lines: "[torch.export] WARNING: ..."

- Python warnings are recorded instead of printed;
- records of every logger outside "spiree" go to the collection: torch's loggers, which print
  through their own handlers and do not propagate, get the collector in place of their handlers
  for the duration, and the root logger gets it for everyone else;
- with `echo=True` (`spiree --verbose`) each message is also printed to stderr as it comes.

On a failure the CLI writes the messages into the failure's repro directory (`keep()`), so they
are never lost, and still prints one `spiree: error:` line.
"""
from __future__ import annotations

import contextlib
import logging
import sys
import tempfile
import warnings
from pathlib import Path
from typing import Iterator

SPIREE_LOGGER = "spiree"
MESSAGES_FILE = "messages.txt"


class Messages:
    """What other libraries said while a command ran, one entry per warning or log record."""

    def __init__(self, echo: bool = False):
        self.lines: list[str] = []
        self.echo = echo

    def add(self, text: str) -> None:
        self.lines.append(text)
        if self.echo:
            print(text, file=sys.stderr)

    def __len__(self) -> int:
        return len(self.lines)


class _Collect(logging.Handler):
    def __init__(self, messages: Messages):
        super().__init__(logging.DEBUG)
        self.messages = messages
        self.setFormatter(logging.Formatter("[%(name)s] %(levelname)s: %(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.messages.add(self.format(record))
        except Exception:  # a message that cannot be formatted is not worth a crash
            self.messages.add(f"[{record.name}] {record.levelname}: (unformattable message)")


def _foreign_loggers() -> list[logging.Logger]:
    return [lg for name, lg in list(logging.root.manager.loggerDict.items())
            if isinstance(lg, logging.Logger) and lg.handlers
            and name != SPIREE_LOGGER and not name.startswith(SPIREE_LOGGER + ".")]


@contextlib.contextmanager
def capture(*, echo: bool = False) -> Iterator[Messages]:
    """Collect other libraries' warnings and log records for the duration (see the module
    docstring); spiree's own logger is left alone."""
    messages = Messages(echo)
    handler = _Collect(messages)
    swapped = [(lg, lg.handlers[:]) for lg in _foreign_loggers()]
    for lg, _ in swapped:
        lg.handlers[:] = [handler]
    root_handlers = logging.root.handlers[:]
    logging.root.handlers[:] = [handler]

    def show(message, category, filename, lineno, file=None, line=None):
        messages.add(f"[warnings] {category.__name__}: {message} ({filename}:{lineno})")

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("default")
            warnings.showwarning = show
            yield messages
    finally:
        logging.root.handlers[:] = root_handlers
        for lg, handlers in swapped:
            lg.handlers[:] = handlers


def keep(messages: Messages, repro_dir: "str | Path | None" = None) -> Path:
    """Write the messages to `repro_dir`/messages.txt (a new spiree-repro-* directory when the
    failure has none) and return the file's path."""
    d = Path(repro_dir) if repro_dir is not None else Path(tempfile.mkdtemp(prefix="spiree-repro-"))
    d.mkdir(parents=True, exist_ok=True)
    path = d / MESSAGES_FILE
    path.write_text("\n".join(messages.lines) + "\n")
    return path


def setup_logging(level: int) -> None:
    """spiree's progress lines ("[spiree] ...") on stderr at `level`; nothing else goes through
    this handler (other libraries' records are `capture()`d)."""
    log = logging.getLogger(SPIREE_LOGGER)
    log.setLevel(level)
    log.propagate = False
    if not any(isinstance(h, _Stderr) for h in log.handlers):
        h = _Stderr()
        h.setFormatter(logging.Formatter("[spiree] %(message)s"))
        log.addHandler(h)


class _Stderr(logging.StreamHandler):
    """A handler on whatever `sys.stderr` is when a record comes (main() may run many times in
    one process, e.g. under pytest's capture)."""

    @property
    def stream(self):
        return sys.stderr

    @stream.setter
    def stream(self, _value):
        pass
