"""A hostile Bot API's lies, for the worker's bounds to be tried against (standin/faults.py).

A download that streams more than the file holds (with or without a Content-Length that says
so), one that drips a byte at a time, and getFile answers whose file_size or file_path lie.
"""

from __future__ import annotations

import time
from http.server import BaseHTTPRequestHandler
from pathlib import Path

from standin import link
from standin.faults import Fault

_JUNK = b"\xa5" * 65536  # what a lying download sends past the file's end


def answer(result: object, fault: Fault | None) -> object:
    """A getFile result with the fault's lie in it (others unchanged)."""
    if fault is None or not isinstance(result, dict) or "file_path" not in result:
        return result
    if fault.kind == "size":
        return {**result, "file_size": int(fault.said)}
    if fault.kind == "path":
        return {**result, "file_path": fault.said}
    return result


def send_file(handler: BaseHTTPRequestHandler, path: Path, size: int, fault: Fault | None) -> int:
    """Answer a download with the file at `path` (`size` bytes), lying as the fault says;
    the bytes sent."""
    kind = fault.kind if fault is not None else ""
    extra = int(float(fault.said)) if fault is not None and kind in ("oversize", "length") else 0
    cut = kind == "cut"
    count = size // 2 if cut else size
    handler.send_response(200)
    handler.send_header("Content-Type", "application/octet-stream")
    if kind == "oversize":
        handler.send_header("Connection", "close")  # the body ends when the socket does
    else:
        handler.send_header("Content-Length", str(size + extra))
    handler.end_headers()
    with path.open("rb") as source:
        if kind == "drip":
            assert fault is not None
            while byte := source.read(1):
                handler.wfile.write(byte)
                handler.wfile.flush()
                time.sleep(float(fault.said))
            return size
        if isinstance(handler.wfile, link.PacedWriter):
            handler.wfile.copy(source, count)
        else:
            handler.connection.sendfile(source, count=count or None)
    sent = count
    try:
        while extra and sent < size + extra:
            sent += handler.connection.send(_JUNK[: size + extra - sent])
    except OSError:
        pass  # the client stopped reading: what it was meant to do
    handler.close_connection = handler.close_connection or cut or kind == "oversize"
    return sent
