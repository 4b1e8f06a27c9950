import math

import numpy as np
import pytest

from diagnosis.baseline import baseline_loss


def test_binary_is_cross_entropy_of_the_training_prior():
    y_train = np.array([1, 1, 1, 0])  # prior 0.75
    y_val = np.array([1, 0])
    expected = -(math.log(0.75) + math.log(0.25)) / 2
    assert baseline_loss("binary_classification", y_train, y_val) == pytest.approx(expected)


def test_balanced_binary_is_log_two():
    assert baseline_loss("binary_classification", np.array([0, 1] * 50), np.array([1, 0] * 5)) == pytest.approx(math.log(2))


def test_multiclass_is_sparse_cross_entropy_of_the_training_frequencies():
    y_train = np.array([0, 0, 1, 2])
    y_val = np.array([0, 2])
    expected = -(math.log(0.5) + math.log(0.25)) / 2
    assert baseline_loss("multiclass_classification", y_train, y_val) == pytest.approx(expected)


def test_regression_is_mse_of_the_training_mean():
    assert baseline_loss("regression", np.array([1.0, 3.0]), np.array([2.0, 6.0])) == pytest.approx((0 + 16) / 2)


def test_regression_with_several_outputs_averages_them():
    y_train = np.array([[0.0, 10.0], [2.0, 10.0]])
    y_val = np.array([[1.0, 12.0]])
    assert baseline_loss("regression", y_train, y_val) == pytest.approx((0 + 4) / 2)


def test_empty_validation_part_scores_on_training_part():
    y = np.array([0.0, 2.0])
    assert baseline_loss("regression", y, np.array([])) == pytest.approx(1.0)


@pytest.mark.parametrize("task, y_train, y_val", [
    ("binary_classification", np.zeros(10), np.ones(3)),
    ("multiclass_classification", np.array([0, 0, 1]), np.array([2, 2])),
])
def test_a_class_missing_from_training_costs_a_finite_loss(task, y_train, y_val):
    loss = baseline_loss(task, y_train, y_val)
    assert math.isfinite(loss) and loss > 10


def test_unknown_task_is_refused_by_name():
    with pytest.raises(ValueError, match="unknown task 'ranking'"):
        baseline_loss("ranking", np.zeros(3), np.zeros(3))
