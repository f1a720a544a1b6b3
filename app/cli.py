"""Command line: ``flask --app wsgi preview PAYLOAD.json`` and ``... export PAYLOAD.json``.

A payload saved from Rossum's hook log is previewed, or exported for real, and the
answer printed as JSON.
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
    """Show the requests a saved hook payload would send (nothing is sent)."""
    with exit_1_on_bad_input():
        payload, redactor = checked_payload(read_payload(payload_file))
        previews = preview_hook(payload, current_app.extensions["runtime"], redactor)
    print_json({"requests": previews})


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
