"""The job configuration of docs/api.md as pydantic models: the contract, shared by the API
(validation at submit time) and the worker (what it trains)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

Task = Literal["binary_classification", "multiclass_classification", "regression"]

# Hard caps on every list and number (issue 13): far above any sane job, they bound what a body
# can make the server hold or loop over before the operator's limits (settings) are checked.
MAX_NAME = 256  # a column name, tag key or value
MAX_LIST = 64  # LSTM or Dense layers
MAX_COUNT = 1_000_000  # epochs, patience, window, horizon, units
ColumnName = Annotated[str, Field(min_length=1, max_length=MAX_NAME)]

# The metric Keras reports beside the loss for each task: what a job's plots and its diagnosis
# show next to the loss.
MAIN_METRIC: dict[str, str] = {
    "binary_classification": "accuracy",
    "multiclass_classification": "accuracy",
    "regression": "mae",
}


def main_metric(task: str | None) -> str:
    """The task's main metric; accuracy when the task is not known (a history sent without one)."""
    return MAIN_METRIC.get(task or "", "accuracy")


def run_seeds(seed: int, runs: int) -> list[int]:
    """The seed of each run (run 1 first): ``seed, seed + 1, …``, so every run is independent and
    each one can be reproduced on its own."""
    return [seed + i for i in range(runs)]


class _Strict(BaseModel):
    # Unknown fields are a 422 naming the field: a typo must not silently train the default.
    model_config = ConfigDict(extra="forbid")


class DataConfig(_Strict):
    target: ColumnName | None = Field(None, description="CSV/Parquet: target column (required for tables).")
    features: list[ColumnName] | None = Field(
        None, max_length=100_000, description="Feature columns; null = every numeric column but the target."
    )
    window: int = Field(1, ge=1, le=MAX_COUNT, description="Timesteps per sample (lookback).")
    horizon: int = Field(
        0, ge=0, le=MAX_COUNT, description="Predict the target this many rows after the window's last row."
    )
    validation_split: float = Field(0.2, ge=0.0, lt=1.0, description="Last fraction of samples, in time order.")
    scale: Literal["standard", "minmax", "none"] = Field("standard", description="Fitted on the training part only.")


class LSTMLayer(_Strict):
    units: int = Field(5, gt=0, le=MAX_COUNT)
    dropout: float = Field(0.0, ge=0.0, lt=1.0)
    recurrent_dropout: float = Field(0.0, ge=0.0, lt=1.0)
    bidirectional: bool = False


class ModelConfig(_Strict):
    layers: list[LSTMLayer] = Field(default_factory=lambda: [LSTMLayer()], min_length=1, max_length=MAX_LIST)
    dense: list[Annotated[int, Field(le=MAX_COUNT)]] = Field(
        default_factory=list,
        max_length=MAX_LIST,
        description="Hidden Dense units between the LSTM stack and the output.",
    )

    @model_validator(mode="after")
    def _dense_positive(self) -> ModelConfig:
        if any(u <= 0 for u in self.dense):
            raise ValueError("every dense layer needs units > 0")
        return self


class EarlyStopping(_Strict):
    patience: int = Field(5, ge=0, le=MAX_COUNT)
    min_delta: float = Field(0.0, ge=0.0, le=1e6, allow_inf_nan=False)
    restore_best_weights: bool = True


class TrainingConfig(_Strict):
    epochs: int = Field(50, gt=0, le=MAX_COUNT)
    batch_size: int = Field(32, gt=0, le=2**31 - 1)
    optimizer: Literal["adam", "rmsprop", "sgd"] = "adam"
    learning_rate: float = Field(0.001, gt=0.0, le=10.0, allow_inf_nan=False)
    clipnorm: float | None = Field(None, gt=0.0, le=1e6, allow_inf_nan=False, description="Gradient clipping by norm.")
    shuffle: bool = True
    # Keras seeds are 32-bit; seed + repeats - 1 must stay below 2**32.
    seed: int = Field(0, ge=0, le=2**31 - 1)
    repeats: int = Field(1, ge=1, le=1_000, description="Independent runs with seeds seed, seed+1, …")
    early_stopping: EarlyStopping | None = None
    keep: Literal["best", "last"] = Field(
        "best", description="Weights each run's saved model keeps: the best validation epoch's, or the last epoch's."
    )
    stop_on: list[Literal["nan", "exploding_gradients", "overfit"]] = Field(
        default_factory=list,
        description="Stop a run when one of these findings fires during training "
        "(overfit restores the best validation epoch's weights).",
    )

    @model_validator(mode="after")
    def _stop_on_once(self) -> TrainingConfig:
        if len(set(self.stop_on)) != len(self.stop_on):
            raise ValueError("stop_on lists a rule twice; list each once")
        return self


WebhookEvent = Literal["running", "epoch", "succeeded", "failed", "cancelled"]
TERMINAL_WEBHOOK_EVENTS: tuple[WebhookEvent, ...] = ("succeeded", "failed", "cancelled")


class WebhookConfig(_Strict):
    url: str = Field(min_length=1, max_length=2048, description="http(s) URL the signed deliveries are POSTed to.")
    events: list[WebhookEvent] = Field(
        default_factory=lambda: list(TERMINAL_WEBHOOK_EVENTS),
        min_length=1,
        description="Events delivered; the terminal three by default.",
    )

    @model_validator(mode="after")
    def _unique_events(self) -> WebhookConfig:
        self.events = list(dict.fromkeys(self.events))
        return self


class JobConfig(_Strict):
    dataset_id: str = Field(max_length=64)
    task: Task = "binary_classification"
    data: DataConfig = Field(default_factory=DataConfig)
    model: ModelConfig = Field(default_factory=ModelConfig)
    training: TrainingConfig = Field(default_factory=TrainingConfig)
    device: Literal["auto", "gpu", "cpu"] = "auto"
    tags: dict[Annotated[str, Field(max_length=64)], Annotated[str, Field(max_length=MAX_NAME)]] = Field(
        default_factory=dict, max_length=32, description="Up to 32 labels of your own (keys ≤ 64, values ≤ 256 chars)."
    )
    webhook: WebhookConfig | None = Field(None, description="Where signed job events are delivered.")
