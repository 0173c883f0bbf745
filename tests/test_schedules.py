"""The schedules as the training loop calls them (rnnlab.schedules) and the time budget (rnnlab.budget)."""
import json
from types import SimpleNamespace

import numpy as np
import pytest

from rnnlab.budget import Reading, TimeBudget
from rnnlab.engine.optim import SGD
from rnnlab.schedules import make_schedule

OPTIONS = dict(epochs=2, step_size=1, lr_factor=0.5, minutes=1.0)
KINDS = ["none", "step", "plateau", "cosine", "cosine-time"]


def schedule_for(kind, steps_per_epoch=5, **changes):
    optimizer = SGD({"w": np.zeros(1)}, lr=1.0)
    options = SimpleNamespace(**{**OPTIONS, **changes, "schedule": kind})
    budget = TimeBudget(options.minutes)
    return make_schedule(options, optimizer, steps_per_epoch, budget), optimizer


def reading(seconds):
    return Reading(elapsed=seconds, stop=False, spent=False)


@pytest.mark.parametrize("kind", [k for k in KINDS if k != "cosine-time"])  # its clock restarts: see below
def test_every_schedule_takes_the_same_calls_and_round_trips_its_state_through_json(kind):
    a, opt_a = schedule_for(kind)
    b, opt_b = schedule_for(kind)
    for seconds in (6.0, 12.0):
        a.after_step(reading(seconds))
    a.after_eval(2.0, epoch_done=True)
    b.load_state_dict(json.loads(json.dumps(a.state_dict())))
    opt_b.lr = opt_a.lr
    a.after_step(reading(18.0)), b.after_step(reading(18.0))
    a.after_eval(3.0, epoch_done=True), b.after_eval(3.0, epoch_done=True)
    assert opt_a.lr == opt_b.lr


@pytest.mark.parametrize("kind", ["step", "plateau"])
def test_epoch_schedules_move_after_evaluations_at_epoch_ends_only(kind):
    schedule, optimizer = schedule_for(kind)
    schedule.after_step(reading(1.0))
    schedule.after_eval(2.0, epoch_done=True)  # plateau: the first value is an improvement
    schedule.after_eval(3.0, epoch_done=False)  # mid-epoch (the budget ran out): left alone
    assert optimizer.lr == (0.5 if kind == "step" else 1.0)
    schedule.after_eval(3.0, epoch_done=True)
    assert optimizer.lr == (0.25 if kind == "step" else 0.5)


def test_cosine_follows_the_steps_and_a_resume_with_more_epochs_stretches_it():
    schedule, optimizer = schedule_for("cosine", steps_per_epoch=5, epochs=1)
    for _ in range(5):
        schedule.after_step(reading(0.0))
    assert optimizer.lr == 0.0
    longer, longer_optimizer = schedule_for("cosine", steps_per_epoch=5, epochs=2)
    longer.load_state_dict(schedule.state_dict())
    longer.after_step(reading(0.0))
    assert longer_optimizer.lr == pytest.approx((1 + np.cos(np.pi * 6 / 10)) / 2)


def test_cosine_time_follows_the_budget_and_a_resumed_run_anneals_the_rest_over_its_new_budget():
    schedule, optimizer = schedule_for("cosine-time", steps_per_epoch=1000, minutes=1.0)
    schedule.after_step(reading(30.0))  # half the budget
    assert optimizer.lr == pytest.approx(0.5)
    resumed, resumed_optimizer = schedule_for("cosine-time", steps_per_epoch=1000, minutes=2.0)
    resumed.load_state_dict(schedule.state_dict())
    resumed.after_step(reading(60.0))  # half the new budget: half of the rest of the curve
    assert resumed_optimizer.lr == pytest.approx((1 + np.cos(np.pi * 0.75)) / 2)
    assert "annealed" in resumed.budget_note("run") and "--resume run" in schedule_for("step")[0].budget_note("run")


def test_cosine_time_with_no_epoch_count_follows_the_budget_alone():
    schedule, optimizer = schedule_for("cosine-time", steps_per_epoch=1000, minutes=1.0, epochs=0)
    for seconds in (15.0, 30.0):
        schedule.after_step(reading(seconds))
    assert optimizer.lr == pytest.approx(0.5)
    schedule.after_step(reading(61.0))
    assert optimizer.lr == 0.0 and schedule.state_dict()["total_steps"] is None


def test_the_budget_reads_the_agreed_clock_and_says_when_it_is_spent():
    budget = TimeBudget(1.0, agreed=lambda readings: (90.0, 1.0))  # another rank: 90 s, and a stop asked
    assert budget.read(False) == Reading(elapsed=90.0, stop=True, spent=True)
    assert budget.share(budget.read(), start=0.5) == pytest.approx(0.5 + 0.5 * 1.5)
    unlimited = TimeBudget(None)
    assert not unlimited.limited and not unlimited.read().spent and not unlimited.read().stop
