"""A 1,000-VM drill: its report stays within Slack's limits and its figures are what the store
holds; the RPO chart plots the readiness history."""

from __future__ import annotations

from datetime import timedelta

import numpy as np

from bot.reports.blocks import MAX_BLOCKS, check_message, json_size
from bot.reports.charts import rpo_figure
from bot.reports.drill_report import drill_message
from bot.reports.measure import drill_report
from bot.reports.models import PoolReadiness
from tests.reports.synthetic import record_drill


def test_thousand_vm_drill_with_failures_reports_within_slacks_limits(store, clock):
    """1,000 VMs in 100 vApps, 150 failed to start: the summary fits in 50 blocks and Slack's
    size, names the first failures and counts the rest; every VM's RTO is the store's."""
    written = record_drill(store, clock, vms=1000, apps=100, failures=150)
    report = drill_report(store, written.run_id, rto_target_seconds=600)
    text, blocks = drill_message(report)
    check_message(text, blocks)
    assert len(blocks) <= MAX_BLOCKS
    assert json_size(blocks) < 11_000
    assert "FAILED" in text
    body = str(blocks)
    assert "more" in body
    assert sum(1 for name in written.failed if name in body) >= 5
    measured = {v.name: v.rto_running_seconds for v in report.vms if v.started}
    expected = {
        name: (at - written.rto_start).total_seconds() for name, at in written.start_at.items()
    }
    assert measured == expected
    assert {v.name for v in report.failed_vms} == set(written.failed)
    assert report.rpo_seconds == 120.0  # the worst of the plan's four LUN lags (30-120 s)


def test_rpo_chart_plots_lag_and_metadata_age_per_pool(store, clock):
    """The RPO chart has one lag line and one metadata-age line per pool with the samples'
    values, and the target line."""
    samples = []
    for i in range(30):
        for pool, base in (("prod", 10.0), ("erp", 100.0)):
            samples.append(
                PoolReadiness(
                    pool=pool,
                    verdict="ready",
                    at=clock.now() + timedelta(days=i),
                    lag_seconds=base + i,
                    metadata_age_seconds=2 * base + i,
                )
            )
    fig = rpo_figure(samples, 30, 300)
    (lag_ax,) = [ax for ax in fig.axes if ax.get_gid() == "rpo-lag"]
    (age_ax,) = [ax for ax in fig.axes if ax.get_gid() == "rpo-metadata-age"]
    lines = {line.get_gid(): line for ax in (lag_ax, age_ax) for line in ax.get_lines()}
    assert np.allclose(lines["lag:prod"].get_ydata(), [10.0 + i for i in range(30)])
    assert np.allclose(lines["age:erp"].get_ydata(), [200.0 + i for i in range(30)])
    assert sorted(k for k in lines if k) == ["age:erp", "age:prod", "lag:erp", "lag:prod"]
    assert any(list(line.get_ydata()) == [300, 300] for line in lag_ax.get_lines())
