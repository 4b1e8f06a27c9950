"""The body of POST /v1/diagnoses: a Keras ``history.history`` (or several runs) trained
elsewhere, bounded in size, and the checks pydantic cannot express (every metric as long as
``loss``)."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from core.job_config import Task
from service.problems import invalid

MAX_EPOCHS = 100_000
MAX_RUNS = 100
MAX_METRICS = 64

# A value is a number, null, or NaN/Infinity spelt as a string (JSON has no NaN literal).
Value = float | None | Annotated[str, Field(pattern=r"^\s*[+-]?(?i:nan|inf|infinity)\s*$")]
KerasHistory = Annotated[
    dict[Annotated[str, Field(min_length=1, max_length=200)], Annotated[list[Value], Field(max_length=MAX_EPOCHS)]],
    Field(min_length=1, max_length=MAX_METRICS),
]


class RunIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    history: KerasHistory


class DiagnosisRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    history: KerasHistory | None = Field(None, description="One run's `history.history`.")
    runs: list[RunIn] | None = Field(None, min_length=1, max_length=MAX_RUNS, description="Several runs instead.")
    task: Task | None = None
    baseline_loss: float | None = Field(None, gt=0, description="Loss of the trivial predictor, if you know it.")

    @model_validator(mode="after")
    def _one_of(self) -> DiagnosisRequest:
        if (self.history is None) == (self.runs is None):
            raise ValueError("send either 'history' (one run) or 'runs' (several), not both or neither")
        return self

    def histories(self) -> list[dict[str, list[Any]]]:
        return [self.history] if self.history is not None else [run.history for run in self.runs or []]


def check_histories(histories: list[dict[str, list[Any]]]) -> None:
    errors = []
    for i, history in enumerate(histories):
        where = ["body", "history"] if len(histories) == 1 else ["body", "runs", i, "history"]
        if "loss" not in history:
            errors.append({"loc": where, "msg": "a history needs 'loss' (and 'val_loss' to judge overfitting)"})
            continue
        lengths = {name: len(values) for name, values in history.items()}
        if lengths["loss"] == 0:
            errors.append({"loc": [*where, "loss"], "msg": "'loss' has no epochs"})
        for name, length in lengths.items():
            if length != lengths["loss"]:
                errors.append({"loc": [*where, name], "msg": f"has {length} epochs but 'loss' has {lengths['loss']}"})
    if errors:
        raise invalid("The history cannot be read: ", errors)
