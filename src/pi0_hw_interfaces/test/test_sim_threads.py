"""`sim_threads.FairLock`: a thread that releases and asks again at once (the physics loop, tick
after tick) hands the lock to the thread already waiting; re-entrant; misuse is named."""
import threading

import pytest
from hw_test_support import wait

from pi0_hw_interfaces.sim_threads import FairLock


def test_a_waiting_thread_gets_the_lock_before_the_releasing_thread_takes_it_back():
    lock, order = FairLock(), []

    def waiter():
        with lock:
            order.append("waiter")

    lock.acquire()
    thread = threading.Thread(target=waiter)
    thread.start()
    wait(lambda: lock.waiting == 1, what="the waiter to queue")
    for tick in range(3):  # as the stepping loop does: release, and at once take it again
        lock.release()
        lock.acquire()
        order.append(f"tick {tick}")
    lock.release()
    thread.join(timeout=10)
    assert order == ["waiter", "tick 0", "tick 1", "tick 2"]
    assert lock.waiting == 0


def test_waiters_are_served_in_arrival_order():
    lock, order = FairLock(), []
    lock.acquire()
    threads = []
    for name in ("first", "second", "third"):
        threads.append(threading.Thread(target=lambda n=name: (lock.acquire(), order.append(n), lock.release())))
        threads[-1].start()
        wait(lambda: lock.waiting == len(threads), what=f"{name} to queue")
    lock.release()
    for thread in threads:
        thread.join(timeout=10)
    assert order == ["first", "second", "third"]


def test_reentrant_and_released_only_by_its_holder():
    lock = FairLock()
    with lock:
        with lock:  # the holder takes it again (a locked method calling another)
            pass
        taken = []
        other = threading.Thread(target=lambda: taken.append(lock.acquire()) or lock.release())
        other.start()
        wait(lambda: lock.waiting == 1, what="the other thread to queue")  # still held after the inner exit
        assert taken == []
    other.join(timeout=10)
    assert taken == [True]
    with pytest.raises(RuntimeError, match="released by a thread that does not hold it"):
        lock.release()
