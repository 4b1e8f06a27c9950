"""The training rules on health records (pure, no Keras), and findings on every diagnosis without
changing its verdict."""
from __future__ import annotations

import math

from diagnosis.engine import diagnose
from diagnosis.findings import training as rules
from diagnosis.findings.data import RULES as DATA_RULES


def records(epochs: int = 6, **series) -> list[dict]:
    """Health records with healthy defaults; ``series`` overrides a key with one value per epoch
    (index 0 = epoch 0)."""
    out = []
    for e in range(epochs + 1):
        r = {"epoch": e, "sample_loss": 0.7 * 0.9 ** e, "saturation/lstm_1": 0.05, "dead_units/lstm_1": 0.0,
             "non_finite": None}
        if e:
            r.update({"grad_norm": 0.2, "grad_norm_max": 0.3, "grad_norm_min": 0.1, "grad_norm/lstm_1": 0.1,
                      "grad_norm/output": 0.15, "update_ratio/lstm_1": 0.002, "update_ratio/output": 0.003})
        if e == 1:
            r["grad_norm_first"] = 0.2
        for key, values in series.items():
            if e < len(values) and values[e] is not ...:
                r[key] = values[e]
        out.append(r)
    return out


HISTORY = {"loss": [0.69, 0.6, 0.5, 0.45, 0.42, 0.41], "val_loss": [0.7, 0.62, 0.52, 0.47, 0.45, 0.44]}


def by_rule(history=HISTORY, recs=None, **kwargs) -> dict[str, dict]:
    return {f["rule"]: f for f in rules.evaluate([history], [recs if recs is not None else records()], **kwargs)}


def test_healthy_records_raise_nothing():
    found = by_rule()
    assert list(found) == list(rules.RULES)
    assert {f["status"] for f in found.values()} == {"ok"}


def test_exploding_gradients_compare_with_the_first_step():
    found = by_rule(recs=records(grad_norm=[..., 0.2, 0.5, 3.5]))
    exploding = found["exploding_gradients"]
    assert exploding["status"] == "issue_found"
    assert exploding["evidence"]["epoch"] == 3 and exploding["evidence"]["growth"] == 3.5 / 0.2
    assert exploding["parameters"] == {"growth": 10.0, "window_epochs": 3}
    # The same growth spread over more epochs than the window is not an explosion.
    slow = [..., 0.2, 0.35, 0.6, 1.0, 1.7, 2.9]
    assert by_rule(recs=records(grad_norm=slow))["exploding_gradients"]["status"] == "ok"


def test_vanishing_gradients_over_the_last_epochs():
    tiny = [..., 1e-3, 1e-6, 1e-8, 1e-9, 1e-9, 1e-10]
    found = by_rule(recs=records(**{"grad_norm/lstm_1": tiny}))
    assert found["vanishing_gradients"]["status"] == "issue_found"
    assert found["vanishing_gradients"]["evidence"]["layer"] == "lstm_1"


def test_update_ratio_frozen_and_thrashing():
    frozen = by_rule(recs=records(**{"update_ratio/lstm_1": [..., *[1e-8] * 6]}))["update_ratio"]
    assert frozen["status"] == "issue_found" and frozen["evidence"]["state"] == "frozen"
    thrashing = by_rule(recs=records(**{"update_ratio/output": [..., 0.35, 0.05]}))["update_ratio"]
    assert thrashing["status"] == "issue_found" and thrashing["evidence"]["state"] == "thrashing"


def test_saturated_gates_and_dead_units():
    found = by_rule(recs=records(**{"saturation/lstm_1": [0.97] * 7, "dead_units/lstm_1": [0.2] * 6 + [0.6]}))
    assert found["saturated_gates"]["status"] == "issue_found"
    assert found["saturated_gates"]["evidence"]["share"] == 0.97
    assert "Scale your inputs" in found["saturated_gates"]["recommendation"]
    assert found["dead_units"]["status"] == "issue_found" and found["dead_units"]["evidence"]["epoch"] == 6


def test_loss_not_decreasing_on_the_sample_batch_and_on_the_history():
    flat = records(sample_loss=[0.7] * 7)
    assert by_rule(recs=flat)["loss_not_decreasing"]["status"] == "issue_found"
    stuck = {"loss": [0.693, 0.6931, 0.693, 0.6929, 0.693]}
    found = by_rule(history=stuck, recs=[])
    assert found["loss_not_decreasing"]["status"] == "issue_found"
    assert found["loss_not_decreasing"]["evidence"]["source"] == "training loss"


def test_non_finite_names_epoch_step_and_layers():
    event = {"what": "gradient", "layers": ["lstm_1", "output"], "step": 15}
    found = by_rule(recs=records(non_finite=[None, None, event, event]))["non_finite"]
    assert found["status"] == "issue_found"
    assert found["evidence"] == {"epoch": 2, "step": 15, "what": "gradient", "layers": ["lstm_1", "output"]}
    from_history = by_rule(history={"loss": [0.7, None, None]}, recs=[])["non_finite"]
    assert from_history["status"] == "issue_found" and from_history["evidence"]["epoch"] == 2


def test_without_health_numbers_rules_are_not_evaluated():
    found = by_rule(recs=[])
    for rule in (rules.EXPLODING, rules.VANISHING, rules.UPDATE_RATIO, rules.SATURATED, rules.DEAD):
        assert found[rule]["status"] == "not_evaluated"
    assert found["non_finite"]["status"] == "ok"  # the history's own loss is checked


def test_several_runs_flag_the_runs_with_the_issue():
    healthy, bad = records(), records(**{"saturation/lstm_1": [0.9] * 7})
    combined = {f["rule"]: f for f in rules.evaluate([HISTORY, HISTORY, HISTORY], [healthy, bad, bad])}
    assert combined["saturated_gates"]["status"] == "issue_found"
    assert combined["saturated_gates"]["evidence"]["runs"] == [2, 3]


def test_stop_reason_follows_stop_on():
    bad = records(grad_norm=[..., 0.2, 5.0])
    assert rules.stop_reason(bad, HISTORY, ["exploding_gradients"]) == ("exploding_gradients", rules.EXPLODING)
    assert rules.stop_reason(bad, HISTORY, ["nan"]) is None
    rising = {"loss": [0.6, 0.5, 0.4, 0.35, 0.3, 0.25, 0.2, 0.15], "val_loss": [0.6, 0.5, 0.45, 0.5, 0.55, 0.6, 0.62, 0.65]}
    assert rules.stop_reason(records(), rising, ["overfit"]) == ("overfit", rules.OVERFIT)


def test_every_diagnosis_carries_findings_and_the_verdict_does_not_move():
    history = {"loss": [0.7, 0.5, 0.3, 0.2, 0.15, 0.12, 0.1, 0.09],
               "val_loss": [0.7, 0.52, 0.35, 0.3, 0.33, 0.38, 0.42, 0.47]}
    bare = diagnose([history], task="binary_classification", baseline_loss=0.69)
    saturated = records(8, **{"saturation/lstm_1": [0.95] * 9})
    data = [{"rule": "class_imbalance", "status": "issue_found", "parameters": {}, "evidence": {},
             "message": "20:1"}]
    full = diagnose([history], task="binary_classification", baseline_loss=0.69, data_findings=data,
                    health=[saturated])
    assert {k: v for k, v in full.items() if k != "findings"} == {k: v for k, v in bare.items() if k != "findings"}
    assert [f["rule"] for f in full["findings"]] == ["class_imbalance", *rules.RULES]
    assert {f["rule"] for f in full["findings"] if f["status"] == "issue_found"} == {"class_imbalance",
                                                                                   "saturated_gates"}
    # A history trained elsewhere: the data rules are named, not evaluated.
    assert [f["rule"] for f in bare["findings"]][:len(DATA_RULES)] == list(DATA_RULES)
    assert all(f["status"] == "not_evaluated" for f in bare["findings"][:len(DATA_RULES)])
    for f in full["findings"]:
        assert all(not isinstance(v, float) or math.isfinite(v) for v in f["evidence"].values())
