"""The job configuration of docs/api.md as pydantic models: the contract, shared by the API
(validation at submit time) and the worker (what it trains)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

Task = Literal["binary_classification", "multiclass_classification", "regression"]


class _Strict(BaseModel):
    # Unknown fields are a 422 naming the field: a typo must not silently train the default.
    model_config = ConfigDict(extra="forbid")


class DataConfig(_Strict):
    target: str | None = Field(None, description="CSV/Parquet: target column (required for tables).")
    features: list[str] | None = Field(None, description="Feature columns; null = every numeric column but the target.")
    window: int = Field(1, ge=1, description="Timesteps per sample (lookback).")
    horizon: int = Field(0, ge=0, description="Predict the target this many rows after the window's last row.")
    validation_split: float = Field(0.2, ge=0.0, lt=1.0, description="Last fraction of samples, in time order.")
    scale: Literal["standard", "minmax", "none"] = Field("standard", description="Fitted on the training part only.")


class LSTMLayer(_Strict):
    units: int = Field(5, gt=0)
    dropout: float = Field(0.0, ge=0.0, lt=1.0)
    recurrent_dropout: float = Field(0.0, ge=0.0, lt=1.0)
    bidirectional: bool = False


class ModelConfig(_Strict):
    layers: list[LSTMLayer] = Field(default_factory=lambda: [LSTMLayer()], min_length=1)
    dense: list[int] = Field(
        default_factory=list, description="Hidden Dense units between the LSTM stack and the output."
    )

    @model_validator(mode="after")
    def _dense_positive(self) -> ModelConfig:
        if any(u <= 0 for u in self.dense):
            raise ValueError("every dense layer needs units > 0")
        return self


class EarlyStopping(_Strict):
    patience: int = Field(5, ge=0)
    min_delta: float = Field(0.0, ge=0.0)
    restore_best_weights: bool = True


class TrainingConfig(_Strict):
    epochs: int = Field(50, gt=0)
    batch_size: int = Field(32, gt=0)
    optimizer: Literal["adam", "rmsprop", "sgd"] = "adam"
    learning_rate: float = Field(0.001, gt=0.0)
    clipnorm: float | None = Field(None, gt=0.0, description="Gradient clipping by norm.")
    shuffle: bool = True
    seed: int = Field(0, ge=0)
    repeats: int = Field(1, ge=1, description="Independent runs with seeds seed, seed+1, …")
    early_stopping: EarlyStopping | None = None
    keep: Literal["best", "last"] = Field(
        "best", description="Weights each run's saved model keeps: the best validation epoch's, or the last epoch's."
    )


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
    dataset_id: str
    task: Task = "binary_classification"
    data: DataConfig = Field(default_factory=DataConfig)
    model: ModelConfig = Field(default_factory=ModelConfig)
    training: TrainingConfig = Field(default_factory=TrainingConfig)
    device: Literal["auto", "gpu", "cpu"] = "auto"
    tags: dict[str, str] = Field(default_factory=dict)
    webhook: WebhookConfig | None = Field(None, description="Where signed job events are delivered.")
