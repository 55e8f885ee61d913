"""A single background thread that runs one job at a time (the policy inference), so the
executor thread keeps serving callbacks, timers and services while the model runs."""
from __future__ import annotations

import threading
from typing import Callable


class InferenceWorker:
    """Runs submitted jobs on one daemon thread, one at a time, never queueing a second one.

    ``submit(job)`` returns False (and drops the job) if a job is running; ``on_error(exc)`` is
    called with any exception a job raises, and the worker keeps going. ``stop()`` waits for the
    running job to finish and ends the thread.
    """

    def __init__(self, on_error: Callable[[BaseException], None], name: str = "pi0_inference"):
        self._on_error = on_error
        self._job: Callable[[], None] | None = None
        self._cond = threading.Condition()
        self._stopping = False
        self._busy = False
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    @property
    def busy(self) -> bool:
        with self._cond:
            return self._busy

    def submit(self, job: Callable[[], None]) -> bool:
        with self._cond:
            if self._busy or self._stopping:
                return False
            self._job, self._busy = job, True
            self._cond.notify()
            return True

    def wait_idle(self, timeout: float | None = None) -> bool:
        """Wait until no job runs; True if idle."""
        with self._cond:
            return self._cond.wait_for(lambda: not self._busy, timeout)

    def stop(self, timeout: float | None = None) -> None:
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        self._thread.join(timeout)

    def _run(self) -> None:
        while True:
            with self._cond:
                self._cond.wait_for(lambda: self._job is not None or self._stopping)
                if self._job is None:
                    return
                job = self._job
            try:
                job()
            except BaseException as e:  # noqa: BLE001 - reported, and the worker lives on
                self._on_error(e)
            finally:
                with self._cond:
                    self._job, self._busy = None, False
                    self._cond.notify_all()
