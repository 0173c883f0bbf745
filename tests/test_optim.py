"""Optimisers, clipping and schedules against torch.optim, plus exact checkpoint/resume."""
import json

import numpy as np
import pytest

from rnnlab.engine.lr_schedules import SCHEDULES, CosineLR, ReduceLROnPlateau, StepLR
from rnnlab.engine.optim import OPTIMIZERS, SGD, Adagrad, Adam, RMSprop, clip_grad_norm

SHAPES = {"weight": (4, 3), "bias": (4,)}

VARIANTS = [
    ("sgd", dict(lr=0.1)),
    ("sgd", dict(lr=0.1, momentum=0.9)),
    ("sgd", dict(lr=0.1, momentum=0.9, nesterov=True, weight_decay=0.01)),
    ("sgd", dict(lr=0.05, momentum=0.5, dampening=0.3, weight_decay=0.1)),
    ("adam", dict()),
    ("adam", dict(lr=0.01, betas=(0.8, 0.99), eps=1e-6, weight_decay=0.05)),
    ("rmsprop", dict()),
    ("rmsprop", dict(lr=0.01, momentum=0.9, weight_decay=0.01)),
    ("rmsprop", dict(lr=0.01, centered=True, momentum=0.5)),
    ("adagrad", dict()),
    ("adagrad", dict(lr=0.1, weight_decay=0.1, lr_decay=0.01, initial_accumulator_value=0.1)),
]
TORCH_NAMES = {"sgd": "SGD", "adam": "Adam", "rmsprop": "RMSprop", "adagrad": "Adagrad"}


def _params(seed=0):
    rng = np.random.default_rng(seed)
    return {k: rng.standard_normal(s) for k, s in SHAPES.items()}


def _grads(steps, seed=1):
    rng = np.random.default_rng(seed)
    return [{k: rng.standard_normal(s) for k, s in SHAPES.items()} for _ in range(steps)]


@pytest.mark.parametrize("name,kwargs", VARIANTS)
def test_optimiser_matches_torch_over_ten_steps(name, kwargs):
    torch = pytest.importorskip("torch")
    params = _params()
    tparams = {k: torch.nn.Parameter(torch.from_numpy(v.copy())) for k, v in params.items()}
    ours = OPTIMIZERS[name](params, **kwargs)
    theirs = getattr(torch.optim, TORCH_NAMES[name])(list(tparams.values()), **kwargs)
    for grads in _grads(10):
        ours.step(grads)
        for k, p in tparams.items():
            p.grad = torch.from_numpy(grads[k].copy())
        theirs.step()
    for k in params:
        np.testing.assert_allclose(params[k], tparams[k].detach().numpy(), rtol=1e-10, atol=1e-10)


def test_optimiser_defaults_are_pytorchs():
    params = _params()
    assert Adam(params).lr == 1e-3 and Adam(params).betas == (0.9, 0.999) and Adam(params).eps == 1e-8
    assert RMSprop(params).lr == 1e-2 and RMSprop(params).alpha == 0.99
    assert Adagrad(params).lr == 1e-2 and Adagrad(params).eps == 1e-10


@pytest.mark.parametrize("name,kwargs", VARIANTS)
def test_optimiser_updates_the_same_arrays_in_place_and_leaves_gradients_alone(name, kwargs):
    params = _params()
    before = {k: id(v) for k, v in params.items()}
    opt = OPTIMIZERS[name](params, **{"lr": 0.1, **kwargs})
    grads = _grads(1)[0]
    saved = {k: g.copy() for k, g in grads.items()}
    opt.step(grads)
    assert {k: id(v) for k, v in opt.params.items()} == before
    for k in grads:
        np.testing.assert_array_equal(grads[k], saved[k])


@pytest.mark.parametrize("name,kwargs", VARIANTS)
def test_five_steps_saved_and_five_more_equal_ten_straight(name, kwargs):
    grads = _grads(10)
    straight = _params()
    opt = OPTIMIZERS[name](straight, **kwargs)
    for g in grads:
        opt.step(g)

    resumed = _params()
    first = OPTIMIZERS[name](resumed, **kwargs)
    for g in grads[:5]:
        first.step(g)
    arrays, scalars = first.state_dict()
    scalars = json.loads(json.dumps(scalars))                    # survives JSON
    copy = {k: v.copy() for k, v in resumed.items()}
    second = OPTIMIZERS[name](copy, lr=123.0)                     # hyperparameters come from the state
    second.load_state_dict(arrays, scalars)
    for g in grads[5:]:
        second.step(g)
    for k in straight:
        np.testing.assert_array_equal(copy[k], straight[k])


def test_loading_another_optimisers_state_is_refused():
    arrays, scalars = Adam(_params()).state_dict()
    with pytest.raises(ValueError):
        SGD(_params(), lr=0.1).load_state_dict(arrays, scalars)


def test_learning_rate_is_a_mutable_attribute():
    params = {"w": np.ones(3)}
    opt = SGD(params, lr=1.0)
    opt.lr = 0.5
    opt.step({"w": np.ones(3)})
    np.testing.assert_array_equal(params["w"], 0.5 * np.ones(3))


# ---- clipping ----------------------------------------------------------------------------
@pytest.mark.parametrize("max_norm", [0.5, 3.0, 100.0])
def test_clip_grad_norm_matches_torch(max_norm):
    torch = pytest.importorskip("torch")
    grads = _grads(1, seed=3)[0]
    tparams = [torch.nn.Parameter(torch.zeros(s, dtype=torch.float64)) for s in SHAPES.values()]
    for p, g in zip(tparams, grads.values()):
        p.grad = torch.from_numpy(g.copy())
    ref = torch.nn.utils.clip_grad_norm_(tparams, max_norm)
    total = clip_grad_norm(grads, max_norm)
    assert total == pytest.approx(ref.item(), rel=1e-12)
    for p, g in zip(tparams, grads.values()):
        np.testing.assert_allclose(g, p.grad.numpy(), rtol=1e-12, atol=1e-15)


# ---- schedules ---------------------------------------------------------------------------
def _lr_pairs(torch, make_ours, make_theirs, metrics):
    ours_opt = SGD({"w": np.zeros(2)}, lr=0.5)
    theirs_opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(2))], lr=0.5)
    ours, theirs = make_ours(ours_opt), make_theirs(theirs_opt)
    out = []
    for m in metrics:
        theirs_opt.step()
        ours.step(m) if m is not None else ours.step()
        theirs.step(m) if m is not None else theirs.step()
        out.append((ours_opt.lr, theirs_opt.param_groups[0]["lr"]))
    return out


def test_step_lr_matches_torch():
    torch = pytest.importorskip("torch")
    pairs = _lr_pairs(torch, lambda o: StepLR(o, step_size=3, gamma=0.5),
                      lambda o: torch.optim.lr_scheduler.StepLR(o, step_size=3, gamma=0.5), [None] * 10)
    for ours, theirs in pairs:
        assert ours == pytest.approx(theirs, rel=1e-12)


def test_cosine_lr_matches_torch_cosine_annealing():
    torch = pytest.importorskip("torch")
    pairs = _lr_pairs(torch, lambda o: CosineLR(o, total_steps=8, min_lr=0.01),
                      lambda o: torch.optim.lr_scheduler.CosineAnnealingLR(o, T_max=8, eta_min=0.01),
                      [None] * 8)
    for ours, theirs in pairs:
        assert ours == pytest.approx(theirs, rel=1e-10, abs=1e-12)


def test_cosine_lr_given_a_time_progress_follows_whichever_of_steps_and_time_is_further_and_never_climbs():
    opt = SGD({"w": np.zeros(1)}, lr=1.0)
    schedule = CosineLR(opt, total_steps=100, min_lr=0.1)
    assert schedule.step(progress=0.5) == pytest.approx(0.55)  # half way: min + (base - min) / 2
    assert schedule.step(progress=0.25) == pytest.approx(0.55)  # an earlier reading cannot raise it
    assert schedule.progress == 0.5
    for _ in range(80):  # 82 of 100 steps: now the steps are further along than the time
        schedule.step(progress=0.5)
    assert schedule.progress == pytest.approx(0.82)
    assert opt.lr == pytest.approx(0.1 + 0.9 * (1 + np.cos(np.pi * 0.82)) / 2)
    assert schedule.step(progress=3.0) == 0.1 and schedule.progress == 1.0


def test_cosine_lr_time_progress_round_trips_through_its_state():
    opt_a, opt_b = SGD({"w": np.zeros(1)}, lr=1.0), SGD({"w": np.zeros(1)}, lr=1.0)
    a, b = CosineLR(opt_a, total_steps=50), CosineLR(opt_b, total_steps=50)
    a.step(progress=0.4)
    b.load_state_dict(json.loads(json.dumps(a.state_dict())))
    assert b.progress == a.progress == 0.4
    assert b.step(progress=0.41) == a.step(progress=0.41)


def test_reduce_on_plateau_matches_torch_dividing_by_four_when_validation_stalls():
    torch = pytest.importorskip("torch")
    losses = [5.0, 4.0, 4.0, 3.5, 3.6, 3.6, 3.0, 2.9, 2.95, 2.8]
    pairs = _lr_pairs(torch, lambda o: ReduceLROnPlateau(o, factor=0.25, patience=0, threshold=0),
                      lambda o: torch.optim.lr_scheduler.ReduceLROnPlateau(
                          o, mode="min", factor=0.25, patience=0, threshold=0), losses)
    for ours, theirs in pairs:
        assert ours == pytest.approx(theirs, rel=1e-12)
    assert pairs[-1][0] == pytest.approx(0.5 / 4 ** 4)


def test_schedule_state_round_trips_through_json():
    for name, kwargs in [("step", dict(step_size=2, gamma=0.5)), ("cosine", dict(total_steps=6)),
                         ("plateau", dict(factor=0.5))]:
        opt_a, opt_b = SGD({"w": np.zeros(1)}, lr=1.0), SGD({"w": np.zeros(1)}, lr=1.0)
        a, b = SCHEDULES[name](opt_a, **kwargs), SCHEDULES[name](opt_b, **kwargs)

        def step(schedule, metric):  # only plateau reads a metric
            return schedule.step(metric) if name == "plateau" else schedule.step()
        metrics = [3.0, 2.0, 2.5, 2.5, 1.0, 1.5]
        for m in metrics[:3]:
            step(a, m)
        b.load_state_dict(json.loads(json.dumps(a.state_dict())))
        opt_b.lr = opt_a.lr
        for m in metrics[3:]:
            assert step(a, m) == step(b, m), name


def test_plateau_state_before_any_step_stores_infinity_as_json_text():
    opt = SGD({"w": np.zeros(1)}, lr=1.0)
    state = json.loads(json.dumps(ReduceLROnPlateau(opt).state_dict()))
    fresh = ReduceLROnPlateau(opt)
    fresh.load_state_dict(state)
    assert fresh.best == float("inf")
    fresh.step(1.0)
    assert opt.lr == 1.0
