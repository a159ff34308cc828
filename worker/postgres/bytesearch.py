"""Finding a pattern in a large bytes object with the C library's memmem, bytes.find otherwise.

A restore's decoding thread searches every byte of the archive for the data offsets
(worker.postgres.offsets), beside zstd, on a core it shares with the downloads. memmem takes
about half of bytes.find's time, and ctypes releases the GIL for the call, so the download
threads run meanwhile (docs/restore.md has the measure). Where the C library has no memmem,
bytes.find gives the same answers.
"""

from __future__ import annotations

import ctypes
import functools
from collections.abc import Callable

_Memmem = Callable[[int, int, bytes, int], int | None]


def find(data: bytes, pattern: bytes, start: int = 0) -> int:
    """Where `pattern` first occurs in `data` at or after `start`; -1 if nowhere (bytes.find)."""
    memmem = _memmem()
    # A bytes object's buffer is immutable and stays alive while `data` does; anything else
    # (a bytearray could be resized meanwhile) takes the safe path.
    if memmem is None or type(data) is not bytes or not pattern or not 0 <= start < len(data):
        return data.find(pattern, start)
    address = ctypes.cast(ctypes.c_char_p(data), ctypes.c_void_p).value
    assert address is not None
    hit = memmem(address + start, len(data) - start, pattern, len(pattern))
    return -1 if hit is None else hit - address


@functools.cache
def _memmem() -> _Memmem | None:
    """The C library's memmem, looked up once, on first use; None where there is none."""
    try:
        function = ctypes.CDLL(None).memmem
    except (OSError, AttributeError):
        return None
    function.restype = ctypes.c_void_p  # NULL comes back as None
    function.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_char_p, ctypes.c_size_t]
    return function
