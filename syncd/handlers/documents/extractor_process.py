"""The extractor process: `python -m syncd.handlers.documents.extractor_process FUNCTION MEMORY`.

It reads requests on stdin and writes replies on stdout, one at a time, until
stdin closes. Parsers meet hostile files here, so this process is built to be
killed: its address space is capped, it holds no database connection and no
job state, and the daemon replaces it whenever it hangs, dies or misbehaves.

The wire format is in frames.py.
"""

from __future__ import annotations

import contextlib
import ctypes
import importlib
import json
import os
import resource
import signal
import sys
import warnings
from collections.abc import Callable
from typing import Any, BinaryIO

from syncd.handlers.documents.file_to_text import Extraction, Refused, Request, Vanished
from syncd.handlers.documents.frames import REPLY, REQUEST

_PR_SET_PDEATHSIG = 1

Function = Callable[[Request], Extraction]


def main(argv: list[str]) -> None:
    function_name, memory_limit = argv[0], int(argv[1])
    _detach_from_signals()
    replies = _private_stdout()
    function = _load(function_name)
    # Imports are done: everything the parsers allocate from now on counts.
    resource.setrlimit(resource.RLIMIT_AS, (memory_limit, memory_limit))
    _send(replies, {"ok": True, "ready": True})
    requests = sys.stdin.buffer
    while True:
        raw = _receive(requests)
        if raw is None:
            return  # the daemon closed our stdin: time to go
        header, text = _answer(function, Request(**json.loads(raw)))
        _send(replies, header, text)
        if header.get("retire"):
            return


def _answer(function: Function, request: Request) -> tuple[dict[str, Any], bytes]:
    try:
        extraction = function(request)
    except Refused as exc:
        return {"ok": False, "reason": exc.reason, "message": str(exc)}, b""
    except Vanished as exc:
        return {"ok": False, "reason": "vanished", "message": str(exc)}, b""
    except MemoryError:
        limit = resource.getrlimit(resource.RLIMIT_AS)[0] // (1024 * 1024)
        message = f"the file needs more memory than the extractor's limit ({limit} MiB)"
        # After a MemoryError the heap may be in any state: start afresh.
        return {"ok": False, "reason": "memory", "message": message, "retire": True}, b""
    except Exception as exc:
        message = f"{type(exc).__name__}: {exc}"
        return {"ok": False, "reason": "error", "message": message, "retire": True}, b""
    return {"ok": True, **extraction.header()}, extraction.text


def _detach_from_signals() -> None:
    # Ctrl-C on a terminal and systemd's SIGTERM reach the whole group; the daemon
    # decides when its extractors stop (after the shutdown grace), not the signal.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    # If the daemon dies (kill -9), die with it instead of parsing on as an orphan.
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
        if os.getppid() == 1:  # the daemon died before prctl took effect
            os._exit(1)


def _private_stdout() -> BinaryIO:
    """Keep the reply channel for ourselves; a library's print() goes to stderr."""
    replies = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    warnings.simplefilter("ignore")
    return replies


def _load(name: str) -> Function:
    module, _, attribute = name.partition(":")
    function: Function = getattr(importlib.import_module(module), attribute)
    # Load the parsers now, not on the first file, so that the first file's time
    # limit is not spent importing.
    from syncd.handlers.documents import detect, html_page, pdf, text, word  # noqa: F401

    return function


def _receive(stream: BinaryIO) -> bytes | None:
    head = stream.read(REQUEST.size)
    if len(head) < REQUEST.size:
        return None
    (length,) = REQUEST.unpack(head)
    body = stream.read(length)
    return body if len(body) == length else None


def _send(stream: BinaryIO, header: dict[str, Any], text: bytes = b"") -> None:
    encoded = json.dumps(header).encode("utf-8")
    stream.write(REPLY.pack(len(encoded), len(text)))
    stream.write(encoded)
    stream.write(text)
    stream.flush()


if __name__ == "__main__":
    main(sys.argv[1:])
