"""A real Prefect server on 127.0.0.1 for the local pipeline, started when none runs.

Schedules never fire on Prefect's ephemeral API, so `streamlake serve` and
`streamlake run` use a server process. It keeps its database in the project's
.prefect folder (STREAMLAKE_PREFECT_HOME), is left running for the UI after
`streamlake run`, and `streamlake server-stop` stops it.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from ingestion.settings import Settings

START_TIMEOUT_SECONDS = 120


class PrefectServerError(RuntimeError):
    pass


def api_url(settings: Settings) -> str:
    return f"http://127.0.0.1:{settings.prefect_port}/api"


def ui_url(settings: Settings) -> str:
    return f"http://127.0.0.1:{settings.prefect_port}"


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now, for a server of one's own."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _home(settings: Settings) -> Path:
    return Path(settings.prefect_home).resolve()


def is_healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/health", timeout=2) as response:
            return response.status == 200
    except (urllib.error.URLError, TimeoutError, ConnectionError):
        return False


def external_api_url(settings: Settings) -> str | None:
    """The Prefect API the environment names (PREFECT_API_URL, Prefect's own
    setting) when it is not this project's local server: Prefect Cloud or a
    self-hosted server, as the runner on ECS uses. None: the local server."""
    named = os.environ.get("PREFECT_API_URL", "").strip().rstrip("/")
    return named if named and named != api_url(settings) else None


def server_environment(settings: Settings) -> dict[str, str]:
    return {
        "PREFECT_HOME": str(_home(settings)),
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PREFECT_API_URL": api_url(settings),
    }


def ensure_server(settings: Settings) -> bool:
    """Start the local server unless one answers already; True when this call started it."""
    url = api_url(settings)
    if is_healthy(url):
        return False
    home = _home(settings)
    home.mkdir(parents=True, exist_ok=True)
    log = home / "server.log"
    env = {**os.environ, **server_environment(settings)}
    env.pop("PREFECT_API_URL")  # the server serves the API; it is no client of one
    command = [
        str(Path(sys.executable).with_name("prefect")),
        "server",
        "start",
        "--host",
        "127.0.0.1",
        "--port",
        str(settings.prefect_port),
    ]
    with open(log, "ab") as output:
        # Its own session: the server outlives this command, for the UI.
        process = subprocess.Popen(
            command, env=env, stdout=output, stderr=subprocess.STDOUT, start_new_session=True
        )
    (home / "server.pid").write_text(str(process.pid))
    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            tail = log.read_text(errors="replace").splitlines()[-5:]
            raise PrefectServerError(
                f"the Prefect server exited at start ({log}): {' | '.join(tail)}"
            )
        if is_healthy(url):
            return True
        time.sleep(0.5)
    raise PrefectServerError(f"the Prefect server did not answer within {START_TIMEOUT_SECONDS} s")


def stop_server(settings: Settings) -> bool:
    """Stop the server this project started; False when none was running."""
    pid_file = _home(settings) / "server.pid"
    if not pid_file.exists():
        return False
    pid = int(pid_file.read_text())
    pid_file.unlink()
    try:
        os.killpg(pid, signal.SIGTERM)
    except ProcessLookupError:
        return False
    return True
