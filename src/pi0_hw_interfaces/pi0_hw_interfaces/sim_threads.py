"""The simulators' threading: `FairLock`, a re-entrant lock granted in the order it was asked
for, and `own_groups`, their callback groups.

`threading.RLock` is not fair: a thread that releases it and asks again at once (a physics
loop, tick after tick) nearly always gets it back before a waiting thread has woken up, so a
reset or a trajectory callback waits for the whole catch-up loop, or longer. Here a waiting
thread queues, and a release hands the lock to the oldest one: it gets in at the next release.
"""
from __future__ import annotations

import threading
from collections import deque


class FairLock:
    """Re-entrant, first come first served (`with lock:`)."""

    def __init__(self):
        self._cond = threading.Condition(threading.Lock())
        self._queue: deque[int] = deque()
        self._owner: int | None = None
        self._depth = 0

    def acquire(self) -> bool:
        me = threading.get_ident()
        with self._cond:
            if self._owner == me:
                self._depth += 1
                return True
            self._queue.append(me)
            try:
                self._cond.wait_for(lambda: self._owner is None and self._queue[0] == me)
            except BaseException:  # interrupted while waiting: leave the queue, let the next one in
                self._queue.remove(me)
                self._cond.notify_all()
                raise
            self._queue.popleft()
            self._owner, self._depth = me, 1
            return True

    @property
    def waiting(self) -> int:
        """How many threads wait for the lock."""
        with self._cond:
            return len(self._queue)

    def release(self) -> None:
        with self._cond:
            if self._owner != threading.get_ident():
                raise RuntimeError("FairLock released by a thread that does not hold it")
            self._depth -= 1
            if self._depth == 0:
                self._owner = None
                self._cond.notify_all()

    def __enter__(self) -> FairLock:
        self.acquire()
        return self

    def __exit__(self, *exc) -> None:
        self.release()


def own_groups(*names: str) -> dict:
    """A MutuallyExclusiveCallbackGroup per name. A simulator gives each of its timers one of its
    own and its subscriptions and services one together ("commands"): rclpy's executors hand a
    node's ready timers out before its subscriptions, and on a multi-threaded executor (as
    `pi0 bringup`/`pi0 eval` spin every node) a timer of the same group that is due again
    whenever it finishes (a loaded CPU, long renders) would keep the subscriptions from ever
    running. The node's lock, not the groups, protects its state."""
    from rclpy.callback_groups import MutuallyExclusiveCallbackGroup

    return {name: MutuallyExclusiveCallbackGroup() for name in names}
