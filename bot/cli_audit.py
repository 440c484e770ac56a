"""`drbot audit verify` and `drbot audit export`: check the audit trail, and take it away.

`verify` walks the keyed chain (store/audit.py) and compares its head with the anchors kept
outside the store: it names the first entry that was edited, removed, moved or is missing, and
exits 1 on any break (0 when the trail holds, 2 when it cannot be read at all). `export`
writes every entry as JSON lines or CSV, with its hash and the hash it links to, so an auditor
can keep and check a copy elsewhere.

Mounted on `drbot` by `bot/cli.py` (`cli_audit.register(app)`).
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
from collections.abc import Iterator
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from bot.ops.options import ConfigOpt, JsonOpt
from bot.ops.output import console, counted, dump, err, fail
from bot.settings import load_settings
from engine.errors import ConfigError
from store import Store, StoreError, open_store

audit_app = typer.Typer(help="Check and export the audit trail.", no_args_is_help=True)

OK = "Audit trail holds: {entries}{keyed}; {anchor}."
KEYED_FROM = ", keyed from entry {seq}"
LAST_ANCHOR = "the head matches the newest of {anchors} (entry {seq}, {at})"
ONLY_ANCHOR = "the head matches the only anchor (entry {seq}, {at})"
NO_ANCHOR = "no anchor yet in {path}"
BROKEN = "Audit trail broken: {problem}"
EXPORTED = "Wrote {entries} to {path} ({format})."
COLUMNS = ("seq", "at", "event_type", "actor", "payload_json", "prev_hash", "hash")


class Format(StrEnum):
    jsonl = "jsonl"
    csv = "csv"


@contextlib.contextmanager
def _store(config: str | None) -> Iterator[Store]:
    """The configured store, its audit files as configured; a person's error exits 2."""
    try:
        settings = load_settings(config)
        store = open_store(settings.store_path)
    except (ConfigError, StoreError) as exc:
        raise fail(str(exc)) from None
    try:
        yield store
    except StoreError as exc:
        raise fail(str(exc)) from None
    finally:
        store.close()


@audit_app.command("verify")
def verify(config: ConfigOpt = None, as_json: JsonOpt = False) -> None:
    """Check the audit trail: exit 0 when it holds, 1 naming the first break."""
    with _store(config) as store:
        result = store.audit.check()
        if as_json:
            dump({**result.model_dump(mode="json"), "ok": result.ok})
        else:
            for note in result.notes:
                console.print(note, markup=False)
            if result.ok:
                last = result.last_anchor
                anchor = (
                    (LAST_ANCHOR if result.anchors > 1 else ONLY_ANCHOR).format(
                        seq=last.seq, at=last.at, anchors=counted(result.anchors, "anchor")
                    )
                    if last is not None
                    else NO_ANCHOR.format(path=store.audit.anchor_file)
                )
                keyed = KEYED_FROM.format(seq=result.keyed_from) if result.keyed_from else ""
                console.print(
                    OK.format(
                        entries=counted(result.entries, "entry", "entries"),
                        keyed=keyed,
                        anchor=anchor,
                    ),
                    markup=False,
                )
            else:
                err.print(BROKEN.format(problem=result.problem), style="red", markup=False)
    if not result.ok:
        raise typer.Exit(1)


@audit_app.command("export")
def export(
    format: Annotated[Format, typer.Option("--format", "-f", help="jsonl or csv.")] = Format.jsonl,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="File to write (default: stdout).")
    ] = None,
    config: ConfigOpt = None,
) -> None:
    """Write every audit entry, oldest first, with its hashes (JSON lines or CSV)."""
    with _store(config) as store:
        rows = store.audit.entries()
    buffer = io.StringIO()
    if format is Format.csv:
        writer = csv.DictWriter(buffer, fieldnames=COLUMNS, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
    else:
        for row in rows:
            entry = {k: row[k] for k in COLUMNS if k != "payload_json"}
            buffer.write(json.dumps({**entry, "payload": row["payload"]}, sort_keys=True) + "\n")
    if output is None:
        typer.echo(buffer.getvalue(), nl=False)
        return
    try:
        output.write_text(buffer.getvalue(), encoding="utf-8")
    except OSError as exc:
        raise fail(f"Cannot write {output}: {exc.strerror}; choose another --output.") from None
    err.print(
        EXPORTED.format(
            entries=counted(len(rows), "audit entry", "audit entries"),
            path=output,
            format=format.value,
        ),
        markup=False,
    )


def register(app: typer.Typer) -> None:
    """Mount `drbot audit ...` on the `drbot` application."""
    app.add_typer(audit_app, name="audit")
