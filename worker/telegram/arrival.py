"""When an upload will reach Telegram: the process's upload rate, and the gate on the last bytes.

    rate = Throughput()
    lead = rate.expected(size)               # seconds the upload should take
    slot = pacer.take(pairs, lead=lead)      # the slot is the message's arrival
    gate = Gate(pacer, slot, rate, size)     # start the upload slot.wait - lead from now
    client.send_document(..., before_end=gate.hold)
    gate.answered()                          # the link's rate, from the answer (less the hold)

Telegram counts a sendDocument when the whole body has arrived. The gate holds the body's last
block until the slot's time, so an upload faster than expected still arrives on time, and moves
the slot when the upload was slower (its old time is too near the next message). The rate is
measured to the answer, not to the last block: the bytes the kernel still buffers when the last
block leaves are on the way too, and a lead that counts them lets them drain during the hold
instead of after the slot. Why: docs/fleet.md.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from worker import errors
from worker.telegram import pacer as fleetpacer

SMOOTHING = 0.3  # weight of the newest upload in the rate's moving average
# Seconds a body's last block may wait for a moved slot; past it the request is dropped and sent
# again in a later slot, rather than left half-sent for a front end's body timeout.
MAX_HOLD = 10.0
MIN_BODY = 256 * 1024  # bytes: smaller bodies say more about latency than about the link


class Throughput:
    """Bytes per second of this process's recent uploads, to foresee how long the next one takes.

    Shared by the process's threads: uploads running at once share the link, and their rates,
    each measured alone, say so.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._rate: float | None = None

    def expected(self, size: int) -> float:
        """Seconds an upload of `size` bytes should take; 0 before any upload was measured."""
        with self._lock:
            rate = self._rate
        return 0.0 if rate is None else size / rate

    def observe(self, size: int, seconds: float) -> None:
        """An upload of `size` bytes took `seconds` (up to its last block)."""
        if size < MIN_BODY or not seconds > 0:
            return
        rate = size / seconds
        with self._lock:
            old = self._rate
            self._rate = rate if old is None else old + SMOOTHING * (rate - old)


class Gate:
    """Holds an upload's last block until its slot; moves the slot when the upload came late."""

    def __init__(
        self,
        pacer: fleetpacer.Pacer,
        slot: fleetpacer.Reservation,
        rate: Throughput,
        size: int,
        *,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        tolerance: float = 0.0,
    ) -> None:
        self.slot = slot
        self._tolerance = tolerance  # seconds late that the margin absorbs: no new slot
        self.held = 0.0  # seconds the last block waited for the slot, or for a new one
        self._pacer = pacer
        self._rate = rate
        self._size = size
        self._sleep = sleep
        self._clock = clock
        self._deadline = clock() + pacer.until(slot)
        self._started = clock()

    def start(self) -> None:
        """The upload begins now (after any wait for its start)."""
        self._started = self._clock()

    def answered(self, *, idle: float = 0.0) -> None:
        """Telegram answered: the upload took this long on the link, its hold and `idle`
        (seconds its body waited for bytes not yet written) left out."""
        self._rate.observe(self._size, self._clock() - self._started - self.held - idle)

    def hold(self) -> None:
        """Called with the body's last block ready: wait for the slot, or take a new one."""
        now = self._clock()
        left = self._deadline - now
        if left < -self._tolerance:
            self.slot = self._pacer.retake(self.slot)
            left = self.slot.wait
            if left > MAX_HOLD:
                self._pacer.release(self.slot)
                raise errors.TelegramSlotMoved(
                    f"sendDocument: the upload ended late and the chat's next free slot is "
                    f"{left:.0f} s away: dropped, to be sent again then",
                    method="sendDocument",
                )
        if left > 0:
            self.held += left
            self._sleep(left)
