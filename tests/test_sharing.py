"""The host's limits and the queue's order: visitors served in turn."""
import pytest
from hypothesis import given
from hypothesis import strategies as st

from lrviz import sharing
from lrviz.params import ConfigError
from lrviz.sharing import Limits, fair_order


def test_no_limit_is_set_by_default(monkeypatch):
    for name in sharing.ENV.values():
        monkeypatch.delenv(name, raising=False)
    assert Limits.from_env() == Limits(None, None, None)


def test_limits_come_from_the_environment_and_zero_means_none(monkeypatch):
    monkeypatch.setenv("LRVIZ_MAX_QUEUED", "3")
    monkeypatch.setenv("LRVIZ_MAX_STEPS", "20000")
    monkeypatch.setenv("LRVIZ_MAX_SWEEP", "0")
    assert Limits.from_env() == Limits(3, 20000, None)


@pytest.mark.parametrize("text", ["x", "-1", "2.5"])
def test_a_bad_limit_names_the_variable(monkeypatch, text):
    monkeypatch.setenv("LRVIZ_MAX_STEPS", text)
    with pytest.raises(ConfigError) as refused:
        Limits.from_env()
    assert refused.value.field == "LRVIZ_MAX_STEPS" and refused.value.value == text


def test_a_run_longer_than_the_step_limit_is_refused_with_its_length():
    with pytest.raises(ConfigError) as refused:
        Limits(steps=1000).check([(25, 50)], 0, False)
    assert refused.value.field == "training.epochs" and "1,250 steps" in refused.value.allowed
    assert "at most 1,000" in refused.value.allowed
    Limits(steps=1000).check([(20, 50)], 0, False)  # exactly the limit


def test_a_visitor_may_have_so_many_runs_or_experiments_waiting():
    Limits(queued=3).check([(1, 1)], 2, False)
    with pytest.raises(ConfigError, match="at most 3 waiting runs or experiments") as refused:
        Limits(queued=3).check([(1, 1)], 3, False)
    assert refused.value.field == "queue"
    with pytest.raises(ConfigError, match="at most 3 waiting"):
        Limits(queued=3).check([(1, 1)] * 2, 2, False)  # two Train presses at once count two


def test_an_experiment_waits_as_one_whatever_its_size():
    Limits(queued=3).check([(1, 1)] * 24, 2, True)
    with pytest.raises(ConfigError, match="at most 3 waiting"):
        Limits(queued=3).check([(1, 1)] * 24, 3, True)


def test_an_experiment_larger_than_the_sweep_limit_is_refused():
    Limits(sweep=24).check([(1, 1)] * 24, 0, True)
    with pytest.raises(ConfigError) as refused:
        Limits(sweep=24).check([(1, 1)] * 25, 0, True)
    assert refused.value.field == "experiment" and "at most 24 runs" in refused.value.allowed


def test_one_visitors_sweep_waits_its_turn_behind_another_visitors_single_run():
    pending = [1, 2, 3, 4, 5, 6]  # a's sweep of five, then b's one run
    order = fair_order(pending, {1: "a", 2: "a", 3: "a", 4: "a", 5: "a", 6: "b"}, {"a": 10.0})
    assert order == [6, 1, 2, 3, 4, 5]  # a was served last: b goes first


def test_a_visitors_single_run_goes_before_their_own_waiting_sweep():
    visitor = {1: "a", 2: "a", 3: "a", 4: "b"}
    assert fair_order([1, 2, 3, 4], visitor, {}, singles={3, 4}) == [3, 4, 1, 2]


def test_among_visitors_never_served_the_one_waiting_longest_goes_first():
    visitor = {1: "a", 2: "b"}
    assert fair_order([1, 2], visitor, {}, singles={2}) == [1, 2]


def test_visitors_take_turns_each_in_their_own_order():
    visitor = {1: "a", 2: "a", 3: "b", 4: "a", 5: "c", 6: "b"}
    assert fair_order([1, 2, 3, 4, 5, 6], visitor, {}) == [1, 3, 5, 2, 6, 4]


def test_the_visitor_served_longest_ago_goes_first():
    visitor = {1: "a", 2: "b", 3: "c"}
    assert fair_order([1, 2, 3], visitor, {"a": 3.0, "b": 1.0, "c": 2.0}) == [2, 3, 1]


@given(st.lists(st.sampled_from("abcd"), max_size=40), st.dictionaries(st.sampled_from("abcd"), st.floats(0, 9)))
def test_every_run_comes_once_each_visitors_in_their_order_and_no_visitor_gets_two_turns_ahead(owners, served):
    visitor = dict(enumerate(owners))
    order = fair_order(list(visitor), visitor, served)
    assert sorted(order) == list(visitor)
    for v in set(owners):
        assert [r for r in order if visitor[r] == v] == [r for r in visitor if visitor[r] == v]
    for n in range(len(order)):  # any prefix: those with runs left have had turns within one of each other
        turns = {v: sum(visitor[r] == v for r in order[:n]) for v in set(owners)}
        waiting = [turns[v] for v in turns if turns[v] < owners.count(v)]
        assert not waiting or max(turns.values()) - min(waiting) <= 1
