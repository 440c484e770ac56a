"""Prometheus metrics of a running bot, served on `/metrics` by bot/health.py.

Where each comes from (the engine imports neither prometheus_client nor Slack):

- `drbot_runs_total{kind,outcome}`: runs that ended; from the service's run events
  (`Service.subscribe`).
- `drbot_step_duration_seconds{step}`: the same events, `step-started` to `step-finished` or
  `step-failed`, per verb of the step key (`recover`, `start`, `attach` ...).
- `drbot_xapi_call_duration_seconds{method}`, `drbot_xapi_call_errors_total{method,code}`:
  every XAPI round trip (`Wiring.xapi_observer`, the engine client's observer hook).
- `drbot_slack_api_errors_total{method,error}`, `drbot_slack_rate_limited_total{method}`:
  every Slack Web API answer with `ok: false`, an HTTP error or a 429 (a retry handler that only
  watches, first among the client's retry handlers).
- `drbot_pool_readiness{pool,verdict}` (1 for its verdict), `drbot_pool_replication_lag_seconds
  {pool}`: the newest readiness sample of each pool in the store.
- `drbot_pool_reachable{pool}`: the health monitor's last look at each pool (bot/health.py).
- `drbot_last_drill_rto_seconds{pool,dr_pool}`, `drbot_last_drill_rpo_seconds{pool,dr_pool}`,
  `drbot_last_drill_timestamp_seconds{pool,dr_pool}`: the newest drill (test failover) of each
  protected pool (`pool`, as in the readiness gauges) into each DR pool it was drilled into
  (`dr_pool`): a DR pool takes several protected pools, and one's drill must never stand for
  another's. The RPO is the drill report's: the largest replication lag of the LUNs its plan
  recovered from (bot/reports/measure.py).

Labels are kept few and bounded: kinds, outcomes, step verbs, XAPI method names and Slack
method names and error codes; never a run id, a VM or a user.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from slack_sdk.http_retry.handler import RetryHandler
from slack_sdk.http_retry.request import HttpRequest
from slack_sdk.http_retry.response import HttpResponse
from slack_sdk.http_retry.state import RetryState

from commands.events import ServiceEvent
from engine.events import RunEvent
from store import TERMINAL, RunState, Store

log = logging.getLogger(__name__)

VERDICTS = ("ready", "degraded", "not-ready")
# Seconds: XAPI round trips span a millisecond read to a task that waits minutes.
XAPI_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300)
STEP_BUCKETS = (0.1, 0.5, 1, 5, 10, 30, 60, 120, 300, 600, 1800, 3600)


class Metrics:
    """The bot's metrics in a registry of their own (tests make one each; nothing global)."""

    def __init__(self, store: Store | None = None) -> None:
        self.registry = CollectorRegistry()
        self.runs = Counter(
            "drbot_runs",
            "Runs that ended, by kind and outcome.",
            ["kind", "outcome"],
            registry=self.registry,
        )
        self.steps = Histogram(
            "drbot_step_duration_seconds",
            "Journaled steps of runs, by verb.",
            ["step"],
            buckets=STEP_BUCKETS,
            registry=self.registry,
        )
        self.xapi_calls = Histogram(
            "drbot_xapi_call_duration_seconds",
            "XAPI round trips, by method.",
            ["method"],
            buckets=XAPI_BUCKETS,
            registry=self.registry,
        )
        self.xapi_errors = Counter(
            "drbot_xapi_call_errors",
            "XAPI calls that failed, by method and error code.",
            ["method", "code"],
            registry=self.registry,
        )
        self.slack_errors = Counter(
            "drbot_slack_api_errors",
            "Slack Web API answers that were errors.",
            ["method", "error"],
            registry=self.registry,
        )
        self.slack_rate_limited = Counter(
            "drbot_slack_rate_limited",
            "Slack Web API answers 429 (rate limited).",
            ["method"],
            registry=self.registry,
        )
        self._started: dict[tuple[int, str], datetime] = {}
        self._lock = threading.Lock()
        self._reachable: Callable[[], dict[str, bool]] = dict
        if store is not None:
            self.registry.register(StoreCollector(store, self))

    # -- the sources -----------------------------------------------------------------------------

    def on_event(self, store: Store) -> Callable[[ServiceEvent], None]:
        """The listener to give `Service.subscribe`: counts runs and times steps."""

        def listen(event: ServiceEvent) -> None:
            if isinstance(event, RunEvent):
                self._on_run_event(event, store)

        return listen

    def _on_run_event(self, event: RunEvent, store: Store) -> None:
        if event.type == "step-started" and event.step_key:
            with self._lock:
                self._started[(event.run_id, event.step_key)] = event.at
        elif event.type in ("step-finished", "step-failed") and event.step_key:
            with self._lock:
                began = self._started.pop((event.run_id, event.step_key), None)
            if began is not None:
                verb = event.step_key.split(":", 1)[0]
                self.steps.labels(verb).observe(max(0.0, (event.at - began).total_seconds()))
        elif event.type == "state" and event.state and RunState(event.state) in TERMINAL:
            kind = store.runs.get(event.run_id).kind
            self.runs.labels(str(kind), event.state).inc()
            with self._lock:  # what a run left unfinished will never finish now
                for key in [k for k in self._started if k[0] == event.run_id]:
                    del self._started[key]

    def xapi_observer(self, method: str, seconds: float, error: str | None) -> None:
        """`Wiring.xapi_observer`: one XAPI round trip."""
        self.xapi_calls.labels(method).observe(seconds)
        if error is not None:
            self.xapi_errors.labels(method, error).inc()

    def watch_slack(self, client: Any) -> None:
        """Count the errors and 429s of a slack_sdk `WebClient` (put first among its retry
        handlers, it sees every answer and never asks for a retry itself)."""
        if not any(isinstance(h, SlackObserver) for h in client.retry_handlers):
            client.retry_handlers = [SlackObserver(self), *client.retry_handlers]

    def pools_reachable(self, fn: Callable[[], dict[str, bool]]) -> None:
        """Where `drbot_pool_reachable` reads from (the health monitor's last look)."""
        self._reachable = fn


def _method_of(request: HttpRequest) -> str:
    return urlsplit(request.url).path.rsplit("/", 1)[-1] or "unknown"


class SlackObserver(RetryHandler):
    """A retry handler that only watches: slack_sdk asks every handler in turn about each
    answer (a 200 with its parsed body, an HTTP error, a lost connection) until one retries."""

    def __init__(self, metrics: Metrics) -> None:
        super().__init__(max_retry_count=0)
        self.metrics = metrics

    def can_retry(
        self,
        *,
        state: RetryState,
        request: HttpRequest,
        response: HttpResponse | None = None,
        error: Exception | None = None,
    ) -> bool:
        method = _method_of(request)
        if response is not None and response.status_code == 429:
            self.metrics.slack_rate_limited.labels(method).inc()
        elif response is not None and response.status_code >= 400:
            self.metrics.slack_errors.labels(method, f"http_{response.status_code}").inc()
        elif response is not None and isinstance(response.body, dict):
            if response.body.get("ok") is False:
                error_code = str(response.body.get("error", "unknown"))
                self.metrics.slack_errors.labels(method, error_code).inc()
        elif error is not None:
            self.metrics.slack_errors.labels(method, type(error).__name__).inc()
        return False

    def _can_retry(self, **_: Any) -> bool:
        return False


class StoreCollector(Collector):
    """What the store knows, read at each scrape: readiness and the last drill of each pool."""

    def __init__(self, store: Store, metrics: Metrics) -> None:
        self.store = store
        self.metrics = metrics

    def collect(self) -> Iterator[Metric]:
        readiness = GaugeMetricFamily(
            "drbot_pool_readiness",
            "Newest readiness verdict of each protected pool (1 for its verdict).",
            labels=["pool", "verdict"],
        )
        lag = GaugeMetricFamily(
            "drbot_pool_replication_lag_seconds",
            "Replication lag in the newest readiness sample.",
            labels=["pool"],
        )
        drill = ["pool", "dr_pool"]
        rto = GaugeMetricFamily(
            "drbot_last_drill_rto_seconds",
            "RTO of the newest drill of each protected pool into each DR pool.",
            labels=drill,
        )
        rpo = GaugeMetricFamily(
            "drbot_last_drill_rpo_seconds",
            "RPO (largest LUN replication lag) of the newest drill of each protected pool.",
            labels=drill,
        )
        when = GaugeMetricFamily(
            "drbot_last_drill_timestamp_seconds",
            "When the newest drill of each protected pool into each DR pool ran.",
            labels=drill,
        )
        reachable = GaugeMetricFamily(
            "drbot_pool_reachable",
            "1 when the pool answered the last health look.",
            labels=["pool"],
        )
        try:
            for row in self._newest("readiness_samples"):
                for verdict in VERDICTS:
                    readiness.add_metric([row["pool"], verdict], float(row["verdict"] == verdict))
                if row["lag_seconds"] is not None:
                    lag.add_metric([row["pool"]], float(row["lag_seconds"]))
            for row in self._newest_drills():
                labels = [row["protected_pool"] or "", row["pool"]]
                if row["rto_seconds"] is not None:
                    rto.add_metric(labels, float(row["rto_seconds"]))
                drill_rpo = _drill_rpo(row["plan_json"])
                if drill_rpo is not None:
                    rpo.add_metric(labels, drill_rpo)
                when.add_metric(labels, datetime.fromisoformat(row["at"]).timestamp())
        except Exception:  # a scrape never fails the bot; the gap in the graph says enough
            log.exception("metrics: reading the store failed")
        for pool, up in sorted(self.metrics._reachable().items()):
            reachable.add_metric([pool], float(up))
        yield from (readiness, lag, rto, rpo, when, reachable)

    def _newest_drills(self) -> list[dict[str, Any]]:
        """The newest test failover of each protected pool into each DR pool, with its plan."""
        query = (
            "SELECT drills.*, runs.plan_json AS plan_json FROM drills "
            "LEFT JOIN runs ON runs.id = drills.run_id WHERE drills.id IN ("
            "SELECT max(id) FROM drills WHERE kind = 'test-failover' "
            "GROUP BY coalesce(protected_pool, ''), pool)"
        )
        with self.store.conn.lock:
            return list(self.store.db.query(query))

    def _newest(self, table: str, where: str = "1") -> list[dict[str, Any]]:
        """The newest row of `table` for each pool (among those matching `where`)."""
        # Table and condition are constants of this module, never input.
        query = f"SELECT * FROM {table} WHERE id IN (SELECT max(id) FROM {table} WHERE {where} GROUP BY pool)"  # noqa: S608, E501
        with self.store.conn.lock:
            return list(self.store.db.query(query))


def _drill_rpo(plan_json: str | None) -> float | None:
    """A drill's RPO as its report states it: the largest replication lag of the LUNs its
    plan recovered from (None when the plan knew none)."""
    try:
        plan = json.loads(plan_json or "{}")
    except ValueError:
        return None
    lags = [lun.get("lag_seconds") for lun in plan.get("luns", []) if isinstance(lun, dict)]
    known = [float(lag) for lag in lags if isinstance(lag, int | float)]
    return max(known) if known else None
