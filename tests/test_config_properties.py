"""Property-based: any bad value in any declared field gets one ConfigError naming that field,
in the library and through the CLI (exit 2, one line on stderr)."""
import json
import math

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lrviz import cli, config, optimizers
from lrviz.params import ConfigError, Param
from lrviz.schedules import FAMILIES, make

NUMERIC = ("float", "int", "floats", "ints")


def bad_values(p: Param) -> list:
    """Values the declaration must refuse."""
    out = []
    if p.kind in NUMERIC:
        out += [math.nan, math.inf, -math.inf, "1", [], {}, True]
        if p.low is not None:
            out.append(p.low - 1 if p.low_open is False else p.low)
            out.append(-1e300)
        if p.high is not None:
            out.append(1e300)
        if p.kind in ("int", "ints"):
            out.append(1.5)
        if p.kind in ("floats", "ints"):
            out = [[v] for v in out if not isinstance(v, list)] + ["x", []]
    elif p.kind == "bool":
        out += [1, 0, "true", None, 0.5]
    elif p.kind == "choice":
        out += ["no-such-choice", 1, None, []]
    elif p.kind == "text":
        out += [1, [], {}, "x" * (p.max_len + 1)]
    if not p.optional:
        out.append(None)
    return out


def schedule_fields():
    for fam in FAMILIES.values():
        for p in fam.params:
            for bad in bad_values(p):
                where = "schedule.config." if fam.keras_class else "schedule."
                yield fam.id, p, bad, where + p.name


def section_fields():
    for name, section in config.SECTIONS.items():
        for p in section.params:
            for bad in bad_values(p):
                yield name, p, bad, f"{name}.{p.name}"
    for kind, section in optimizers.SECTIONS.items():
        for p in section.params:
            for bad in bad_values(p):
                yield "optimizer", p, bad, optimizer_field(kind, p.name)


def optimizer_field(kind, name):
    return f"optimizer.{name}" if kind == optimizers.ADAM else f"optimizer.config.{name}"


def optimizer_section(kind, values):
    return values if kind == optimizers.ADAM else {"class_name": kind, "config": values}


def with_schedule_value(family, name, value) -> dict:
    sched = make(family)
    (sched["config"] if "config" in sched else sched)[name] = value
    return {"schedule": sched}


SCHEDULE_CASES = list(schedule_fields())
SECTION_CASES = list(section_fields())
FIELD = st.from_regex(r"[a-z_]{1,12}", fullmatch=True)


def assert_names(raw, field):
    try:
        config.validate(raw)
    except ConfigError as exc:
        assert exc.field.startswith(field), (exc.field, field)
        assert field in str(exc)
    else:
        raise AssertionError(f"{field} accepted a bad value")


@given(st.sampled_from(SCHEDULE_CASES))
def test_bad_schedule_argument_is_named(case):
    family, p, bad, field = case
    assert_names(with_schedule_value(family, p.name, bad), field)


@given(st.sampled_from(SECTION_CASES))
def test_bad_section_value_is_named(case):
    section, p, bad, field = case
    values = {p.name: bad}
    if section == "optimizer":
        values = optimizer_section(optimizers.ADAM if field == f"optimizer.{p.name}" else optimizers.SCHEDULE_FREE,
                                   values)
    assert_names({"schedule": make("constant"), section: values}, field)


@given(st.sampled_from(sorted(config.SECTIONS)), FIELD)
def test_unknown_section_key_is_named(section, key):
    names = {p.name for p in config.SECTIONS[section].params} | {"lr", "decay", "learning_rate"}
    if key in names:
        return
    assert_names({"schedule": make("constant"), section: {key: 1}}, f"{section}.{key}")


@given(st.sampled_from(optimizers.CLASSES), FIELD)
def test_unknown_optimizer_key_is_named(kind, key):
    if key in set(optimizers.SECTIONS[kind].defaults()) | {"lr", "decay", "learning_rate", "name"}:
        return
    assert_names({"schedule": make("constant"), "optimizer": optimizer_section(kind, {key: 1})},
                 optimizer_field(kind, key))


@given(st.sampled_from(sorted(FAMILIES)), FIELD)
def test_unknown_schedule_key_is_named(family, key):
    if key in {p.name for p in FAMILIES[family].params} | {"kind", "name"}:
        return
    raw = with_schedule_value(family, key, 1)
    where = "schedule.config." if FAMILIES[family].keras_class else "schedule."
    assert_names(raw, where + key)


@given(st.one_of(st.none(), st.integers(), st.text(max_size=20), st.lists(st.integers(), max_size=3)))
def test_config_that_is_not_an_object_is_refused(raw):
    assert_names(raw, "config")


@settings(max_examples=40, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.sampled_from(SCHEDULE_CASES))
def test_cli_answers_a_bad_config_with_exit_2_and_one_line(tmp_path, capsys, case):
    family, p, bad, field = case
    path = tmp_path / "bad.json"
    # JSON has no NaN or Infinity literals in the standard; Python's json writes them anyway.
    path.write_text(json.dumps(with_schedule_value(family, p.name, bad)))
    code = cli.main(["curve", str(path)])
    err = capsys.readouterr().err
    assert code == 2
    assert err.count("\n") == 1 and field in err and "Traceback" not in err
