"""drbot's logs: one JSON object a line (python-json-logger), each carrying the run and the
person it is about, with every secret drbot holds taken out before it is written.

    configure_logging(settings.observability, secrets_of(settings))

Each line has `time`, `level`, `logger`, `message`, and `run_id` and `actor` wherever a run or
a request is in context, whichever module wrote the line:
- given by the caller (`log.info(..., extra={"run_id": 12})`), or bound around a piece of work
  with `bound(run_id=..., actor=...)`: context variables, so threads do not mix them up. The
  Slack bot binds the person around each request it handles (`SlackBot.handle`), and work a
  request hands to other threads carries them along when started in a copy of the context
  (`contextvars.copy_context().run`, as commands/estate.py does: a thread does not inherit
  context variables by itself);
- otherwise the run a thread drives, read from its name (the engine names each run's worker
  `drbot-run-<id>`), and that run's actor: the person who asked for it, as `remember` was told
  (`run_log` tells it on a run's first event, which the runner emits before it starts the
  run's thread).
`run_log(store)` is a service listener that writes one line per step and state change of every
run, with the run's id and the person who asked for it (`requested_by`), so a run can be
followed in the logs alone.

Secrets (pool passwords, Slack tokens, the signing secret, the audit key) are replaced with
`[redacted]` in every line the handler writes, whichever library logged it: the filter sits on
the handler, which every logger's records pass through.
"""

from __future__ import annotations

import contextlib
import contextvars
import logging
import re
import sys
import threading
from collections.abc import Callable, Iterable, Iterator
from typing import IO, Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from pythonjsonlogger.json import JsonFormatter

from commands.events import ServiceEvent
from engine.events import RunEvent
from store import Store

REDACTED = "[redacted]"
_RUN_THREAD = re.compile(r"^drbot-run-(\d+)")
_run_id: contextvars.ContextVar[int | None] = contextvars.ContextVar("run_id", default=None)
_actor: contextvars.ContextVar[str | None] = contextvars.ContextVar("actor", default=None)


class LogConfig(BaseModel):
    """How drbot writes its logs (the `log_*` keys of `[observability]`)."""

    model_config = ConfigDict(extra="forbid")

    format: Literal["json", "text"] = "json"
    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"


# Run id -> the person who asked for it, for lines of a run's own threads (see `remember`).
_run_actors: dict[int, str | None] = {}
_run_actors_lock = threading.Lock()
_REMEMBERED = 4096  # runs; the oldest are forgotten beyond this (a long-lived bot)


def remember(run_id: int, actor: str | None) -> None:
    """Lines of run `run_id`'s threads carry `actor` from now on (the person who asked)."""
    with _run_actors_lock:
        _run_actors.pop(run_id, None)
        _run_actors[run_id] = actor
        while len(_run_actors) > _REMEMBERED:
            del _run_actors[next(iter(_run_actors))]


def _actor_of(run_id: int) -> str | None:
    with _run_actors_lock:
        return _run_actors.get(run_id)


def current() -> tuple[int | None, str | None]:
    """The run id and actor bound on this thread (None where none is)."""
    return _run_id.get(), _actor.get()


@contextlib.contextmanager
def bound(*, run_id: int | None = None, actor: str | None = None) -> Iterator[None]:
    """Every log line written inside the block (on this thread) carries `run_id` and `actor`."""
    run_token = _run_id.set(run_id) if run_id is not None else None
    actor_token = _actor.set(actor) if actor is not None else None
    try:
        yield
    finally:
        if actor_token is not None:
            _actor.reset(actor_token)
        if run_token is not None:
            _run_id.reset(run_token)


class Context(logging.Filter):
    """Adds `run_id` and `actor` to a record that does not carry them (see the module doc)."""

    def filter(self, record: logging.LogRecord) -> bool:
        run_id = getattr(record, "run_id", None)
        if run_id is None:
            run_id = _run_id.get()
            if run_id is None:
                match = _RUN_THREAD.match(record.threadName or "")
                run_id = int(match.group(1)) if match else None
            record.run_id = run_id
        if getattr(record, "actor", None) is None:
            actor = _actor.get()
            if actor is None and isinstance(run_id, int):
                actor = _actor_of(run_id)
            record.actor = actor
        return True


class Redact(logging.Filter):
    """Replaces each secret in a record's final text (message, arguments, traceback) with
    `[redacted]`. Secrets shorter than 6 characters are not looked for: they would redact
    ordinary words, and no real token or password is that short."""

    def __init__(self, secrets: Iterable[str] | Callable[[], Iterable[str]]) -> None:
        super().__init__()
        self._secrets = secrets if callable(secrets) else (lambda s=list(secrets): s)

    def scrub(self, text: str) -> str:
        for secret in self._secrets():
            if len(secret) >= 6 and secret in text:
                text = text.replace(secret, REDACTED)
        return text

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        record.msg, record.args = self.scrub(message), None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = self.scrub(record.exc_text)
            record.exc_info = None  # the scrubbed text stands for it
        if record.stack_info:
            record.stack_info = self.scrub(record.stack_info)
        return True


def secrets_of(settings: Any) -> Callable[[], list[str]]:
    """The secrets of `settings` (a `bot.settings.Settings`) to keep out of the logs; the
    audit key is read when asked, as drbot makes it on first use."""
    values = [p.password.get_secret_value() for p in settings.engine.pools.values()]
    slack = settings.slack
    if slack is not None:
        for secret in (slack.bot_token, slack.app_token, slack.signing_secret):
            if secret is not None:
                values.append(secret.get_secret_value())
    key_file = settings.audit.files(settings.store_path).key_file

    def current() -> list[str]:
        try:
            key = key_file.read_text(encoding="ascii").strip()
        except (OSError, UnicodeDecodeError):
            return values
        return [*values, key]

    return current


def configure_logging(
    config: LogConfig,
    secrets: Iterable[str] | Callable[[], Iterable[str]],
    stream: IO[str] | None = None,
) -> logging.Handler:
    """Send every logger's records to `stream` (stderr) as JSON lines or text, with run and
    actor, secrets redacted; replaces the root logger's handlers. Returns the handler."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.addFilter(Redact(secrets))
    handler.addFilter(Context())
    if config.format == "json":
        handler.setFormatter(
            JsonFormatter(
                "{asctime}{levelname}{name}{message}{run_id}{actor}",
                style="{",
                rename_fields={"asctime": "time", "levelname": "level", "name": "logger"},
            )
        )
    else:
        handler.setFormatter(
            logging.Formatter(
                "%(asctime)s %(levelname)s %(name)s [run %(run_id)s %(actor)s] %(message)s"
            )
        )
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(config.level)
    return handler


RUN_EVENT = "run %s %s"


def run_log(store: Store) -> Callable[[ServiceEvent], None]:
    """A service listener: one log line per step and state change of every run, carrying the
    run id and the actor who asked for it."""
    log = logging.getLogger("drbot.runs")
    actors: dict[int, str | None] = {}
    lock = threading.Lock()

    def actor_of(run_id: int) -> str | None:
        with lock:
            if run_id not in actors:
                actors[run_id] = store.runs.get(run_id).requested_by
                remember(run_id, actors[run_id])
            return actors[run_id]

    def listen(event: ServiceEvent) -> None:
        if not isinstance(event, RunEvent) or event.type in ("progress", "vm"):
            return
        what = event.state or event.step_key or event.message
        level = logging.WARNING if event.type == "step-failed" else logging.INFO
        log.log(
            level,
            RUN_EVENT,
            event.type,
            what,
            extra={"run_id": event.run_id, "actor": actor_of(event.run_id)},
        )

    return listen


class ObservabilityConfig(BaseModel):
    """`[observability]`: the health and metrics server of `drbot serve`, and the logs.

    ```toml
    [observability]
    enabled = true            # serve /healthz, /readyz and /metrics
    host = "127.0.0.1"        # 0.0.0.0 in a container or pod, for the probes and Prometheus
    port = 9464
    pool_check_seconds = 30   # how often /readyz looks at each pool
    log_format = "json"       # or "text"
    log_level = "INFO"
    ```
    """

    model_config = ConfigDict(extra="forbid")

    enabled: bool = True
    host: str = "127.0.0.1"
    port: int = Field(default=9464, ge=0, le=65535)
    pool_check_seconds: float = Field(default=30.0, ge=1.0, le=3600.0)
    log_format: Literal["json", "text"] = "json"
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"

    @property
    def logs(self) -> LogConfig:
        return LogConfig(format=self.log_format, level=self.log_level)
