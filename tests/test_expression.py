"""The custom formula: injection attempts are refused naming schedule.expression, valid formulas
give the right curves. Refusal times are measured in benchmarks/bench_curves.py, not here."""
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lrviz import config
from lrviz.params import ConfigError
from lrviz.schedules import Timeline, check_schedule, curve_on

# What users or attackers might type; every one must be refused before anything runs.
INJECTIONS = [
    "__import__('os')",
    "__import__('os').system('touch pwned')",
    "().__class__.__bases__[0].__subclasses__()",
    "lr0.__class__.__mro__[1].__subclasses__()",
    "step.__class__",
    "step.__array_interface__",
    "e.__class__",
    "step.tofile('pwned')",
    "step.tofile",
    "floor(step).real",
    "open('pwned', 'w')",
    "exec('1')",
    "eval('1')",
    "compile('1', 'x', 'eval')",
    "getattr(step, 'tofile')",
    "type(step)",
    "globals()",
    "locals()",
    "dir()",
    "print(1)",
    "__builtins__",
    "lambda: 1",
    "(lambda x: x)(1)",
    "[x for x in range(10)]",
    "{x: 1 for x in range(3)}",
    "(x for x in step)",
    "'a' * 10**10",
    "'abc'",
    "b'x'",
    "f'{step}'",
    "(x := 1)",
    "max(step, key=abs)",
    "max(*[1, 2])",
    "step[0]",
    "[1, 2]",
    "{'a': 1}",
    "True",
    "None",
    "1j",
    "import os",
    "x = 1",
    "step; 1",
    "(yield 1)",
    "lr0 if __import__('os') else 0",
    "not step",
    "step and 1",
    "step @ step",
    "step ^ 1",
    "~step",
    "1 < step < 2",
    "floor(1, 2)",
    "exp",
    "pi()",
    "foo(1)",
    "9**9**9**9",
    "10**10**10",
    "1e999",
    "1" * 400,
    "log(0) * lr0",
    "lr0 - 1",
    "sqrt(-1)",
    "0 / 0",
    "(" * 1000 + "1" + ")" * 1000,
    "(" * 240 + "1" + ")" * 240,
    "-" * 450 + "1",
    "floor(" * 60 + "1" + ")" * 60,
    "1" + "+1" * 240,
    "1+" * 50_000 + "1",
    "",
    "\x00",
    42,
]


def check(expression, lr0=0.01, training=None):
    """The formula validated as a run would be: the default data (2,000 moons, 50 steps per
    epoch at batch 32) over 20 epochs."""
    return config.validate({"schedule": {"kind": "expression", "initial_learning_rate": lr0,
                                         "expression": expression}, "training": training or {}})["schedule"]


def curve_of(expression, lr0=0.01, epochs=4, steps_per_epoch=25):
    return curve_on(check(expression, lr0), Timeline.of(epochs, steps_per_epoch))


def test_the_corpus_is_large():
    assert len(INJECTIONS) >= 30


@pytest.mark.parametrize("text", INJECTIONS, ids=range(len(INJECTIONS)))
def test_injection_is_refused_naming_the_field(text, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError) as err:
        check(text)
    assert err.value.field == "schedule.expression"
    assert list(tmp_path.iterdir()) == []


def test_refusal_inside_a_warmup_names_the_nested_field():
    with pytest.raises(ConfigError) as err:
        check_schedule({"kind": "linear_warmup",
                        "schedule": {"kind": "expression", "expression": "open('x')"}})
    assert err.value.field == "schedule.schedule.expression"


def test_a_bad_rate_inside_a_warmup_names_the_nested_field_and_the_step():
    warmup = {"kind": "linear_warmup", "warmup_steps": 10,
              "schedule": {"kind": "expression", "expression": "lr0 - step * 1e-3"}}
    with pytest.raises(ConfigError, match=r"at step 21 \(epoch 0") as err:
        config.validate({"schedule": warmup})
    assert err.value.field == "schedule.schedule.expression"


def test_refusal_says_why():
    with pytest.raises(ConfigError, match="Attribute is not allowed"):
        check("step.tofile")
    with pytest.raises(ConfigError, match="nested deeper"):
        check("-" * 450 + "1")


def test_nan_result_names_the_step():
    with pytest.raises(ConfigError, match="at step 0"):
        check("0 / 0")


def test_negative_result_is_refused_from_the_step_where_it_starts():
    with pytest.raises(ConfigError, match="at step 51"):
        check("lr0 * (1 - step / 50)")


def test_a_bad_rate_is_quoted_with_the_runs_own_steps_per_epoch():
    with pytest.raises(ConfigError, match=r"at step 51 \(epoch 2, with 25 steps per epoch\)"):
        check("lr0 * (1 - step / 50)", training={"batch_size": 64})


def test_a_formula_infinite_at_every_step_of_this_run_is_refused_at_step_0():
    # Fine over any other steps per epoch; the default data give exactly 50.
    with pytest.raises(ConfigError, match=r"gives the rate inf at step 0 \(epoch 0, with 50 steps per epoch\)"):
        check("lr0 / (steps_per_epoch - 50)")


def test_every_step_of_a_two_million_step_run_is_checked():
    run = {"batch_size": 1, "epochs": 1250}  # 1,600 training rows a step each: 2,000,000 steps
    with pytest.raises(ConfigError, match=r"at step 1,999,991 \(epoch 1249,"):
        check("lr0 * (1 - step / 1999990)", training=run)
    assert check("lr0 * (1 - step / 2000000)", training=run)


def test_a_formula_that_goes_bad_only_after_the_run_ends_is_accepted():
    assert check("lr0 * (1 - step / 5000)")["expression"] == "lr0 * (1 - step / 5000)"


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet="steplr0*+-/().,<>=!_ifabcdoxw 123e[]'\"", max_size=40))
def test_any_text_is_either_accepted_or_refused_cleanly(text):
    try:
        check(text)
    except ConfigError as exc:
        assert exc.field == "schedule.expression"


S = np.arange(100, dtype=np.float64)
E = np.floor(S / 25)

VALID = [
    ("lr0 * 0.5 ** floor(epoch / 2)", 0.01 * 0.5 ** np.floor(E / 2)),
    ("lr0 if step < 50 else lr0 / 10", np.where(S < 50, 0.01, 0.001)),
    ("lr0 / sqrt(1 + step)", 0.01 / np.sqrt(1 + S)),
    ("max(lr0 * (1 - step / total_steps), 1e-5)", np.maximum(0.01 * (1 - S / 100), 1e-5)),
    ("min(lr0, 0.001)", np.full(100, 0.001)),
    ("where(epoch < 2, lr0, lr0 * exp(-(epoch - 2)))", np.where(E < 2, 0.01, 0.01 * np.exp(-(E - 2)))),
    ("clip(step / 10, 0.1, 1) * lr0", np.clip(S / 10, 0.1, 1) * 0.01),
    ("abs(cos(pi * step / steps_per_epoch)) * lr0", np.abs(np.cos(np.pi * S / 25)) * 0.01),
    ("(step >= 5) * lr0 + 1e-4", (S >= 5) * 0.01 + 1e-4),
    ("lr0 * e ** (-step / 100)", 0.01 * np.exp(-S / 100)),
    ("lr0 * (step // 10 % 2 + 1)", 0.01 * (S // 10 % 2 + 1)),
    ("-(-lr0) + +0", np.full(100, 0.01)),
    ("lr0 * (1 + tanh(sin(step)) + ceil(log(1 + step)))",
     0.01 * (1 + np.tanh(np.sin(S)) + np.ceil(np.log(1 + S)))),
    ("lr0 * 2 ** 3 ** 0.5", np.full(100, 0.01 * 2 ** 3 ** 0.5)),
    ("lr0 if step != 3 else lr0 * (step == 3)", np.full(100, 0.01)),
]


@pytest.mark.parametrize("text,expected", VALID, ids=[t for t, _ in VALID])
def test_valid_formula_gives_the_right_curve(text, expected):
    np.testing.assert_allclose(curve_of(text), expected, rtol=1e-12)


def test_formula_sees_the_run_it_is_drawn_for():
    lr = curve_on(check("lr0 * (1 - step / total_steps) + 0 * steps_per_epoch"), Timeline.of(10, 7))
    assert lr[0] == 0.01 and lr[-1] == pytest.approx(0.01 / 70)


def test_default_formula_halves_every_ten_epochs():
    lr = curve_on(check("lr0 * 0.5 ** floor(epoch / 10)"), Timeline.of(30, 2))
    assert lr[[0, 19, 20, 40, 59]] == pytest.approx([0.01, 0.01, 0.005, 0.0025, 0.0025])
    assert math.isclose(lr[-1], 0.0025)


@pytest.mark.parametrize("text", [t for t, _ in VALID] + ["0.01", "lr0"], ids=lambda t: t)
def test_the_scripts_curve_is_the_formula_bit_for_bit(text):
    """The generated script carries the formula as source: written by the same walk that
    evaluates it, it gives the preview's values exactly when run with NumPy."""
    from lrviz.schedules import get_family

    sched = check(text)
    params = {k: v for k, v in sched.items() if k != "kind"}
    script = get_family("expression").keras.script(params, "total_steps", None)
    namespace = {"math": math}
    exec(script.defs[-1], namespace)  # noqa: S102 - the test runs the script's own code
    timeline = Timeline.of(4, 25)
    written = np.broadcast_to(namespace["expression_curve"](params, timeline), timeline.step.shape)
    np.testing.assert_array_equal(written, curve_on(sched, timeline))
