"""The bot's own worker threads: every listener acknowledges Slack at once and hands its work
here, never to Bolt's listener pool.

Bolt runs listeners and lazy listeners on one `ThreadPoolExecutor(max_workers=5)`; when a few
slow handlers fill it, the next command waits past Slack's 3-second deadline and the person sees
`operation_timeout` (reference slack.md §1.5, §9). Work that calls Slack, the engine or the
store runs on this pool instead; a job that raises is logged and reported through `on_error`
(the listener tells the person something went wrong), and never stops the pool.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor

log = logging.getLogger(__name__)

ErrorHandler = Callable[[BaseException], None]


class Worker:
    """A named thread pool whose jobs never raise into the caller."""

    def __init__(
        self,
        threads: int = 8,
        name: str = "drbot-slack",
        *,
        after_job: Callable[[], None] | None = None,
    ) -> None:
        """`after_job` runs on the worker thread after each job (the bot closes the XAPI
        connections the job opened there: the client keeps them per thread)."""
        self._pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix=name)
        self._after_job = after_job
        self._pending = 0
        self._idle = threading.Condition()

    def submit(
        self, job: Callable[[], object], *, on_error: ErrorHandler | None = None
    ) -> Future[None]:
        """Run `job` on the pool; if it raises, log it and call `on_error` (which may not
        raise either)."""

        def run() -> None:
            try:
                job()
            except Exception as failure:  # one person's failed request must not stop others
                log.exception("slack work failed")
                if on_error is not None:
                    try:
                        on_error(failure)
                    except Exception:
                        log.exception("reporting a failure failed too")
            finally:
                if self._after_job is not None:
                    try:
                        self._after_job()
                    except Exception:
                        log.exception("cleaning up after a job failed")
                with self._idle:
                    self._pending -= 1
                    self._idle.notify_all()

        with self._idle:
            self._pending += 1
        return self._pool.submit(run)

    def wait_idle(self, timeout: float = 10.0) -> bool:
        """Wait (bounded) until no job is queued or running; for tests and shutdown."""
        with self._idle:
            return self._idle.wait_for(lambda: self._pending == 0, timeout)

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=False)
