"""`lstm-doctor serve | api | worker`, and the client's `submit | wait | plot | model`.

``serve`` is the whole service on one machine: an embedded Redis (unless LSTM_DOCTOR_REDIS_URL
is set), one Celery worker and the API, stopped together on Ctrl-C with no process left behind.
``api`` and ``worker`` run the parts separately against an external Redis (docker-compose).
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
from typing import Any

from core.redis_client import required_url
from core.settings import Settings
from service.worker_command import worker_command


def run_api(settings: Settings) -> None:
    import uvicorn

    from service.app import create_app
    from service.auth import KeyConfigError, Keyring, check_bind

    try:
        check_bind(settings, Keyring.from_settings(settings))
    except KeyConfigError as exc:
        raise SystemExit(f"lstm-doctor: {exc}") from None
    options: dict[str, Any] = dict(
        host=settings.host, port=settings.port, log_config=None, access_log=False, timeout_graceful_shutdown=5
    )
    if settings.api_workers > 1:
        # Each process builds its own app from the environment, which holds every setting
        # (`serve` exports the embedded Redis' URL before getting here).
        uvicorn.run("service.app:app_from_environment", factory=True, workers=settings.api_workers, **options)
    else:
        uvicorn.run(create_app(settings), **options)


def serve(settings: Settings) -> None:
    from core.embedded_redis import EmbeddedRedis
    from core.processes import die_with_parent
    from service.auth import KeyConfigError, Keyring, check_bind
    from service.supervisor import Supervisor

    try:
        check_bind(settings, Keyring.from_settings(settings))
    except KeyConfigError as exc:
        raise SystemExit(f"lstm-doctor: {exc}") from None
    supervisor = Supervisor()
    supervisor.trap()  # from here on a stop signal is never lost, even during start-up
    status = 1
    try:
        if not settings.redis_url:
            embedded = EmbeddedRedis(
                settings.data_dir / "redis",
                maxmemory_mb=settings.redis_maxmemory_mb,
                start_new_session=True,
                preexec_fn=die_with_parent(signal.SIGTERM),
            ).start()
            assert embedded.process is not None
            supervisor.adopt("redis-server", embedded.process, lambda _: embedded.stop())
            settings = settings.model_copy(update={"redis_url": embedded.url})
            print(f"lstm-doctor: embedded Redis on {embedded.url}", file=sys.stderr)
        os.environ["LSTM_DOCTOR_REDIS_URL"] = required_url(settings)
        os.environ["LSTM_DOCTOR_DATA_DIR"] = str(settings.data_dir)
        # KILL, not TERM, if we die: a warm shutdown would wait for the job to end with nobody to stop it.
        supervisor.start("worker", worker_command(settings), parent_death_signal=signal.SIGKILL)
        supervisor.start("api", [sys.executable, "-m", "service.cli", "api"])
        print(f"lstm-doctor: API on http://{settings.host}:{settings.port} (Ctrl-C stops everything)", file=sys.stderr)
        status = supervisor.wait()
    finally:
        supervisor.stop_all()
    if status:
        raise SystemExit(status)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="lstm-doctor", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("serve", help="embedded Redis + a worker + the API, until Ctrl-C")
    sub.add_parser("api", help="the HTTP API only (needs LSTM_DOCTOR_REDIS_URL)")
    sub.add_parser("worker", help="a training worker only (needs LSTM_DOCTOR_REDIS_URL)")
    # The client's commands (submit, wait, plot, model) talk to a running service over HTTP.
    from lstm_doctor_client import cli as client_cli

    client_cli.add_commands(sub)
    args = parser.parse_args(argv)
    if args.command in client_cli.COMMANDS:
        raise SystemExit(client_cli.run(args))
    settings = Settings()
    if args.command == "serve":
        serve(settings)
    elif not settings.redis_url:
        raise SystemExit(f"lstm-doctor {args.command}: set LSTM_DOCTOR_REDIS_URL (or use `lstm-doctor serve`).")
    elif args.command == "api":
        run_api(settings)
    else:
        os.execv(sys.executable, worker_command(settings))


if __name__ == "__main__":
    main()
