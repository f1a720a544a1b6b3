"""Command line: ``flask --app wsgi preview PAYLOAD.json`` and ``... export PAYLOAD.json``.

A payload saved from Rossum's hook log is previewed, or exported for real, and the
answer printed as JSON. Either exits 1 when the export failed, or would fail.
"""

import json
import sys
from contextlib import contextmanager
from pathlib import Path

import click
from flask import current_app
from flask.cli import with_appcontext

from .errors import InputError, RefusedCall
from .hooks import checked_payload
from .payload import parse_json_body
from .pipeline import preview_hook, run_hook


def read_payload(path: str) -> dict:
    return parse_json_body(Path(path).read_bytes())


def print_json(data) -> None:
    click.echo(json.dumps(data, indent=2, ensure_ascii=False))


@contextmanager
def exit_1_on_bad_input():
    """A payload or settings that cannot be used: the reason on stderr, exit status 1."""
    try:
        yield
    except (InputError, RefusedCall) as error:
        click.echo(str(error), err=True)
        sys.exit(1)


@click.command("preview")
@click.argument("payload_file", type=click.Path(exists=True, dir_okay=False))
@with_appcontext
def preview_command(payload_file: str) -> None:
    """Show the requests a saved hook payload would send (nothing is sent).

    Exits 1, saying why on stderr, when an export would fail: a step that failed in the
    preview (a file Rossum did not give, a missing secret or datapoint), or a request the
    real export would refuse to send (a non-public address).
    """
    with exit_1_on_bad_input():
        payload, redactor = checked_payload(read_payload(payload_file))
        previews = preview_hook(payload, current_app.extensions["runtime"], redactor)
    print_json({"requests": previews})
    failing = would_fail(previews)
    for line in failing:
        click.echo(line, err=True)
    sys.exit(1 if failing else 0)


def would_fail(previews: list[dict]) -> list[str]:
    """One line per reason a previewed export would fail: a step that failed, a refusal."""
    lines = []
    for entry in previews:
        label = entry["path"] or "the export"  # export_configs[i] when there are several
        reasons = [entry["error"]] if "error" in entry else entry.get("warnings", [])
        lines.extend(f"{label} would fail: {reason}" for reason in reasons)
    return lines


@click.command("export")
@click.argument("payload_file", type=click.Path(exists=True, dir_okay=False))
@with_appcontext
def export_command(payload_file: str) -> None:
    """Run the export of a saved hook payload and print the hook answer."""
    with exit_1_on_bad_input():
        payload, redactor = checked_payload(read_payload(payload_file))
        answer = run_hook(payload, current_app.extensions["runtime"], redactor)
    print_json(answer.to_json())
    sys.exit(1 if answer.failed else 0)
