"""`hyperopt serve`: the HTTP API and web page over the runs directory (needs the serve extra)."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from hyperopt_cli.cli.app import DEBUG_OPTION, RUNS_DIR_OPTION, CommandFailed, app, cli_state
from hyperopt_cli.core.errors import EXIT_OK


@app.command()
def serve(
    ctx: typer.Context,
    host: str = typer.Option("127.0.0.1", "--host", help="Address to bind; anything but loopback needs --token."),
    port: int = typer.Option(8000, "--port", help="TCP port."),
    runs_dir: Optional[Path] = RUNS_DIR_OPTION,
    config: Optional[Path] = typer.Option(
        None,
        "--config",
        "-c",
        help="Base config of runs started over HTTP; request fields override it "
        "(default: configs/default.yaml, else built-in defaults).",
    ),
    token: Optional[str] = typer.Option(
        None,
        "--token",
        envvar="HYPEROPT_TOKEN",
        help="Require `Authorization: Bearer TOKEN` on every request. "
        "A command-line value is visible to every user in `ps`: prefer HYPEROPT_TOKEN or --token-file.",
    ),
    token_file: Optional[Path] = typer.Option(
        None, "--token-file", help="Read the token from the first line of this file (mode 600, or it is refused)."
    ),
    no_token: bool = typer.Option(
        False, "--no-token", help="Require no token (loopback only): every local user can then control runs."
    ),
    configs_dir: Path = typer.Option(
        Path("configs"),
        "--configs-dir",
        help="The only folder whose YAML files a start request may name, by file name.",
    ),
    debug: bool = DEBUG_OPTION,
) -> int:
    """Serve the original HTTP API (/api/hyperopt/...) and a web page at / over the runs directory.

    Runs started over HTTP are ordinary `hyperopt start` processes in runs/<job_id>/: stop
    them from the shell or the page alike; stopping the server never stops a run. Needs the
    serve extra: pip install 'hyperopt-cli[serve]'. Without --token/--token-file/--no-token
    it makes a random token and prints the page's URL with it. Exits 2 for a non-loopback
    --host without a token, 3 for a token under 16 characters or a token file others can read.

    Example: hyperopt serve --port 8000 --runs-dir runs --config configs/quick.yaml
    """
    runs_dir = cli_state(ctx, runs_dir, debug).runs_dir
    try:
        from hyperopt_cli.server import app as server
    except ImportError as exc:
        raise CommandFailed(
            f"hyperopt serve needs FastAPI and uvicorn ({exc}); install: pip install 'hyperopt-cli[serve]'", 1
        ) from None
    server.serve(host, port, runs_dir, config, token, configs_dir, token_file=token_file, no_token=no_token)
    return EXIT_OK
