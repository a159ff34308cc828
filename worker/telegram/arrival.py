"""When an upload will reach Telegram: the process's upload rate, and the gate on the last bytes.

    rate = Throughput()
    lead = rate.expected(size)               # seconds the upload should take
    slot = pacer.take(pairs, lead=lead)      # the slot is the message's arrival
    gate = Gate(pacer, slot, rate, size)     # start slot.wait - rate.ahead(size) from now
    client.send_document(..., before_end=gate.hold)
    gate.answered()                          # the link's rate, from the answer

Telegram counts a sendDocument when the whole body has arrived. The gate holds the body's last
block until the slot's time, so an upload faster than expected still arrives on time, and moves
the slot when the upload was slower (its old time is too near the next message). The rate is
measured to the answer, not to the last block: the bytes buffered on the way when the last block
leaves are part of the upload, and a lead that counts them lets them drain during the hold
instead of after the slot. Whether they did shows in the answer: it comes back no later after the
last block than the quickest answers do when nothing was left on the way. Why: docs/fleet.md.
"""

from __future__ import annotations

import collections
import threading
import time
from collections.abc import Callable

from worker import errors
from worker.telegram import pacer as fleetpacer

SMOOTHING = 0.3  # weight of the newest upload in the rate's moving average
SLOWER = 0.6  # its weight when slower than foreseen: a late message costs the chain its lateness
# Weight of an upload whose body had all arrived while its last block was held: it says only that
# the link took somewhere between its time less the hold and its time, and the estimate creeps
# toward the faster end until an upload's bytes are still arriving at its slot.
CREEP = 0.1
SPILL = 0.005  # seconds an answer may come later after the last block and still count as prompt
LATENCY_SPAN = 16  # held uploads whose quickest answer gives the round trip after a last block
# Seconds a body's last block may wait for a moved slot; past it the request is dropped and sent
# again in a later slot, rather than left half-sent for a front end's body timeout.
MAX_HOLD = 10.0
MIN_BODY = 256 * 1024  # bytes: smaller bodies say more about latency than about the link
# An upload waiting for its slot begins this much earlier than the rate foresees, and a request's
# setup earlier still: begun early it waits at the gate, begun late it comes late and moves every
# later message of its chat (a backup's 400 MB on 1gbit: 0.005-0.026 s late a part with none).
# Its slot is reserved from the time foreseen alone: a slot pushed later would hold the last
# block of an upload that had no slot to wait for (0.3 s a 20 MB part on 100mbit).
AHEAD = 0.2  # of the time foreseen
AHEAD_SETUP = 0.005  # seconds


class Throughput:
    """Bytes per second of this process's recent uploads, to foresee how long the next one takes.

    Shared by the process's threads: uploads running at once share the link, and their rates,
    each measured alone, say so.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._rate: float | None = None
        self._after: collections.deque[float] = collections.deque(maxlen=LATENCY_SPAN)

    def expected(self, size: int) -> float:
        """Seconds an upload of `size` bytes should take; 0 before any upload was measured."""
        with self._lock:
            rate = self._rate
        return 0.0 if rate is None else size / rate

    def ahead(self, size: int) -> float:
        """Seconds before its slot to begin an upload of `size` bytes: the time foreseen, with
        room (AHEAD); 0 before any upload was measured."""
        expected = self.expected(size)
        return expected * (1 + AHEAD) + AHEAD_SETUP if expected > 0 else 0.0

    def observe(
        self, size: int, seconds: float, *, held: float = 0.0, after: float | None = None
    ) -> None:
        """An upload of `size` bytes was answered `seconds` after it began; its last block
        waited `held` of them for the slot and left `after` seconds before the answer."""
        if size < MIN_BODY or not seconds > 0:
            return
        with self._lock:
            if held > 0 and after is not None:
                self._after.append(after)
            # Its bytes had all arrived while the last block waited: the link took between
            # `seconds - held` and `seconds`.
            arrived = held > 0 and after is not None and after - min(self._after) <= SPILL
            took = seconds - held if arrived else seconds
            if not took > 0:
                return
            rate = size / took
            old = self._rate
            if old is None:
                self._rate = rate
                return
            weight = CREEP if arrived else SLOWER if rate < old else SMOOTHING
            self._rate = old + weight * (rate - old)


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
        # Redis is asked first and the clock read after its answer: read before, the time the
        # call took (a round trip, a wait for the GIL) would let the last block go that much
        # before its slot, and the slot after an answered message is one window from it, exact.
        until = pacer.until(slot)
        self._deadline = clock() + until
        self._started = clock()
        self._left: float | None = None  # when the last block left

    def start(self) -> None:
        """The upload begins now (after any wait for its start)."""
        self._started = self._clock()

    def answered(self, *, idle: float = 0.0) -> None:
        """Telegram answered: the upload's time on the link, `idle` (seconds its body waited for
        bytes not yet written) left out, goes into the rate."""
        now = self._clock()
        after = None if self._left is None else now - self._left
        self._rate.observe(self._size, now - self._started - idle, held=self.held, after=after)

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
        self._left = self._clock()
