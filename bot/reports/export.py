"""The drill's per-VM results as CSV, and the whole report as one self-contained HTML page
(charts inlined as data URIs) for people outside Slack."""

from __future__ import annotations

import base64
import csv
import html
import io

from bot.reports import messages as m
from bot.reports.models import DrillReport
from bot.reports.units import duration

CSV_COLUMNS = (
    "vapp",
    "vm",
    "uuid",
    "status",
    "ok",
    "recovered",
    "started",
    "rto_recovered_seconds",
    "rto_running_seconds",
    "rpo_lag_seconds",
    "cleaned_up",
    "error",
)


def _num(value: float | None) -> str:
    return "" if value is None else f"{value:.3f}"


def vm_csv(report: DrillReport) -> bytes:
    """One row per VM, in the columns of `CSV_COLUMNS`."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for v in report.vms:
        writer.writerow(
            [
                v.appliance or "",
                v.name,
                v.uuid,
                v.status,
                v.ok,
                v.recovered,
                v.started,
                _num(v.rto_recovered_seconds),
                _num(v.rto_running_seconds),
                _num(v.lag_seconds),
                v.cleaned_up,
                v.error or "",
            ]
        )
    return buffer.getvalue().encode()


_STYLE = """
body{font-family:system-ui,sans-serif;margin:2em;color:#222}
table{border-collapse:collapse;margin:1em 0;font-size:.9em}
td,th{border:1px solid #ccc;padding:.25em .6em;text-align:left}
th{background:#f3f3f3}.pass{color:#2e7d32}.fail{color:#c62828}img{max-width:100%}
"""


def html_page(report: DrillReport, rto_png: bytes, rpo_png: bytes) -> str:
    """The report as one HTML page that needs nothing else (no network, no files)."""
    e = html.escape
    verdict = m.DRILL_PASS if report.passed else m.DRILL_FAIL
    cls = "pass" if report.passed else "fail"

    def img(data: bytes, alt: str) -> str:
        return f'<img alt="{e(alt)}" src="data:image/png;base64,{base64.b64encode(data).decode()}">'

    apps = "".join(
        f"<tr><td>{e(a.name)}</td><td>{a.vms}</td><td>{a.failed}</td>"
        f"<td>{e(duration(a.rto_seconds))}</td>"
        f'<td class="{"pass" if a.within_target else "fail"}">'
        f"{'yes' if a.within_target else 'no'}</td></tr>"
        for a in report.appliances
    )
    vms = "".join(
        f"<tr><td>{e(v.appliance or '')}</td><td>{e(v.name)}</td><td>{e(v.status)}</td>"
        f"<td>{e(duration(v.rto_recovered_seconds))}</td>"
        f"<td>{e(duration(v.rto_running_seconds))}</td><td>{e(duration(v.lag_seconds))}</td>"
        f"<td>{'yes' if v.cleaned_up else 'no'}</td><td>{e(v.error or '')}</td></tr>"
        for v in report.vms
    )
    title = m.DRILL_TITLE.format(run_id=report.run_id, verdict=verdict)
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{e(title)}</title>
<style>{_STYLE}</style></head><body>
<h1 class="{cls}">{e(title)}</h1>
<p>{e(report.target)} from <b>{e(report.source_pool)}</b> into <b>{e(report.dest_pool)}</b>,
started {e(str(report.started_at))}, ended {e(str(report.ended_at))}: {e(report.state)}.</p>
<p>RTO <b>{e(duration(report.rto_seconds))}</b> (target {e(duration(report.rto_target_seconds))});
RPO {e(duration(report.rpo_seconds))}; metadata {e(duration(report.metadata_age_seconds))} old;
cleanup {"verified" if report.cleanup_verified else "NOT verified"}.</p>
<p>{e(report.reason)}</p>
{img(rto_png, "RTO per vApp and trend")}
{img(rpo_png, "RPO over time")}
<h2>vApps</h2><table><tr><th>vApp</th><th>VMs</th><th>failed</th><th>RTO</th>
<th>within target</th></tr>{apps}</table>
<h2>VMs</h2><table><tr><th>vApp</th><th>VM</th><th>status</th><th>to recovered</th>
<th>to running</th><th>RPO (lag)</th><th>cleaned up</th><th>error</th></tr>{vms}</table>
</body></html>
"""
