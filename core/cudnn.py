"""Can this LSTM config use the fused cuDNN kernel on a GPU? (Keras' LSTM falls back to a much
slower generic kernel when any layer departs from cuDNN's fixed formulation.)

We never vary activation, recurrent activation, unroll or bias, and do not mask inputs, so of
Keras' conditions only recurrent dropout can rule the fused kernel out here.
"""

from __future__ import annotations

from core.job_config import JobConfig


def cudnn_eligibility(config: JobConfig) -> dict:
    reasons = [
        f"layer {i} has recurrent_dropout={layer.recurrent_dropout} (cuDNN supports only 0)"
        for i, layer in enumerate(config.model.layers)
        if layer.recurrent_dropout > 0
    ]
    return {"eligible": not reasons, "reasons": reasons}
