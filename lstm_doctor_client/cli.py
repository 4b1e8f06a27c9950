"""`lstm-doctor submit | wait | plot | model`: the client from a shell.

Reads LSTM_DOCTOR_URL and LSTM_DOCTOR_API_KEY (or --url / --api-key).

    lstm-doctor submit data.csv --target label --epochs 50 --wait
    lstm-doctor plot JOB loss.png
"""

from __future__ import annotations

import argparse
import json
import sys

from tqdm import tqdm

from lstm_doctor_client.client import Client
from lstm_doctor_client.errors import JobTimeout, LstmDoctorError
from lstm_doctor_client.types import Job, Progress

COMMANDS = ("submit", "wait", "plot", "model")


def add_commands(sub: argparse._SubParsersAction) -> None:
    """Registers the client commands on an argparse sub-command set (the `lstm-doctor` CLI's)."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--url", help="API base URL (default: $LSTM_DOCTOR_URL or http://127.0.0.1:8000)")
    common.add_argument("--api-key", help="API key (default: $LSTM_DOCTOR_API_KEY)")

    submit = sub.add_parser("submit", parents=[common], help="upload a dataset and train a job on it")
    submit.add_argument("data", help="CSV, NPZ or Parquet file")
    submit.add_argument("--target", help="target column (tables)")
    submit.add_argument("--task", choices=["binary_classification", "multiclass_classification", "regression"])
    submit.add_argument("--epochs", type=int)
    submit.add_argument("--window", type=int)
    submit.add_argument("--config", help="a JSON job config (file path or inline JSON) to start from")
    submit.add_argument("--wait", action="store_true", help="follow the job with a progress bar; print the verdict")
    submit.add_argument("--timeout", type=float, help="seconds to wait at most")

    wait = sub.add_parser("wait", parents=[common], help="follow a job until it ends; print the verdict")
    wait.add_argument("job")
    wait.add_argument("--timeout", type=float)

    plot = sub.add_parser("plot", parents=[common], help="save a job's plot (loss.png, accuracy.svg, report.png)")
    plot.add_argument("job")
    plot.add_argument("path", help="output file; its name is the metric and its suffix the format")
    plot.add_argument("--metric", help="metric to draw, if not the file's name")

    model = sub.add_parser("model", parents=[common], help="save a job's trained model (zip)")
    model.add_argument("job")
    model.add_argument("path")
    model.add_argument("--run", type=int, default=1)


def run(args: argparse.Namespace) -> int:
    try:
        with Client(args.url, args.api_key) as doctor:
            return _COMMANDS[args.command](doctor, args)
    except LstmDoctorError as exc:
        print(f"lstm-doctor: {exc}", file=sys.stderr)
        for error in exc.problem.get("errors") or []:
            print(f"  {'.'.join(map(str, error.get('loc', [])))}: {error.get('msg')}", file=sys.stderr)
        return 1
    except JobTimeout as exc:
        print(f"lstm-doctor: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:  # unreachable server, unreadable file
        print(f"lstm-doctor: {exc}", file=sys.stderr)
        return 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="lstm-doctor")
    add_commands(parser.add_subparsers(dest="command", required=True))
    return run(parser.parse_args(argv))


def _submit(doctor: Client, args: argparse.Namespace) -> int:
    config = _load_config(args.config)
    if args.task:
        config["task"] = args.task
    if args.epochs is not None:
        config.setdefault("training", {})["epochs"] = args.epochs
    if args.window is not None:
        config.setdefault("data", {})["window"] = args.window
    dataset = doctor.upload(args.data)
    job = doctor.submit(dataset.id, config, target=args.target)
    print(f"job {job.id} ({job.status}) on dataset {dataset.id}", file=sys.stderr)
    if not args.wait:
        print(job.id)
        return 0
    return _follow(doctor, job.id, args.timeout)


def _wait(doctor: Client, args: argparse.Namespace) -> int:
    return _follow(doctor, args.job, args.timeout)


def _follow(doctor: Client, job_id: str, timeout: float | None) -> int:
    first = doctor.job(job_id)
    total = first.progress.runs * first.progress.epochs
    with tqdm(total=total, unit="epoch", desc=job_id, file=sys.stderr, dynamic_ncols=True) as bar:

        def advance(progress: Progress) -> None:
            done = (progress.run - 1) * progress.epochs + progress.epoch
            bar.update(max(done - bar.n, 0))

        job = doctor.wait(job_id, timeout=timeout, on_progress=advance)
    return _report(doctor, job)


def _report(doctor: Client, job: Job) -> int:
    if job.status != "succeeded":
        error = f": {job.error.type}: {job.error.message}" if job.error else ""
        print(f"{job.id} {job.status}{error}")
        return 1
    diagnosis = doctor.diagnosis(job.id)
    print(f"verdict: {diagnosis.verdict} (confidence {diagnosis.confidence:.2f})")
    print(diagnosis.summary)
    for recommendation in diagnosis.recommendations:
        print(f"- {recommendation}")
    return 0


def _plot(doctor: Client, args: argparse.Namespace) -> int:
    print(doctor.plot(args.job, args.path, metric=args.metric))
    return 0


def _model(doctor: Client, args: argparse.Namespace) -> int:
    print(doctor.download_model(args.job, args.path, run=args.run))
    return 0


def _load_config(text: str | None) -> dict:
    if not text:
        return {}
    if text.lstrip().startswith("{"):
        return json.loads(text)
    with open(text, encoding="utf-8") as f:
        return json.load(f)


_COMMANDS = {"submit": _submit, "wait": _wait, "plot": _plot, "model": _model}

if __name__ == "__main__":
    raise SystemExit(main())
