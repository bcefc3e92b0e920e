"""Streamlit widgets drawn from the declared Params (lrviz.panels says which control each
Param gets), and the page's ways of showing errors and status. Every widget has a key, named
after its config field."""
from __future__ import annotations

import re

import streamlit as st

from lrviz import panels
from lrviz.exercises import control_of
from lrviz.params import ConfigError, Param
from lrviz.schedules import FAMILIES

_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-.!|<>~$])")


def md(text) -> str:
    """User text (run names, CSV headers, file names) made inert for st.markdown."""
    return _MD_SPECIAL.sub(r"\\\1", str(text))


def fmt(value) -> str:
    return "0" if value == 0 else f"{value:.3g}"


def load_state(values: dict) -> None:
    """Put a config's widget values into session state (before the widgets are drawn)."""
    for key, value in values.items():
        st.session_state[key] = value


def ensure_state(values: dict) -> None:
    """Defaults for widgets that have no value yet; never overrides what the user set."""
    for key, value in values.items():
        if key not in st.session_state:
            st.session_state[key] = value


def fixed(key: str) -> str | None:
    """"hidden" or "locked" for a setting the session's exercise fixes (lrviz.page.exercise)."""
    return st.session_state.get("exercise.fixed", {}).get(control_of(key))


def param_widget(p: Param, key: str, where: str) -> None:
    """One control for one Param; its help says what the value means and what is allowed."""
    how = fixed(key)
    if how == "hidden":
        return
    off = how == "locked"
    help_text = f"{p.help}  \n`{where}` — {p.allowed()}" + ("  \nLocked by the exercise." if off else "")
    if p.kind == "schedule":
        with st.container(border=True, key=key + ".box"):
            st.markdown(f"**Then: the inner schedule** (`{where}`)", help=p.help)
            schedule_widgets(key, where, nested=True)
        return
    if p.optional:
        on = st.checkbox(f"set {p.name}", key=key + ".on", help=f"Off: {p.name} is null (not used).  \n{help_text}",
                         disabled=off)
        if not on:
            return
    unit = st.session_state.get(key.split(".", 1)[0] + ".units", "steps")
    if p.in_steps and unit != "steps":
        shown = "comma-separated, " + unit if p.kind == "ints" else unit
        help_text += (f"  \nHere in {unit}, not steps: lrviz turns the value into the optimizer steps Keras "
                      "counts, for this run's epochs and steps per epoch, and the config holds those.")
        if p.kind == "ints":
            st.text_input(f"{p.name} ({shown})", key=key, help=help_text, disabled=off)
        else:
            st.number_input(f"{p.name} ({unit})", key=key, min_value=0.0, step=1.0, format="%g", help=help_text,
                            disabled=off)
        return
    c = panels.control_for(p)
    if c.kind == "bool":
        st.toggle(p.name, key=key, help=help_text, disabled=off)
    elif c.kind == "choice":
        st.selectbox(p.name, c.options, key=key, help=help_text, disabled=off)
    elif c.kind == "log":
        value = st.session_state.get(key)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            options = panels.with_value(c.options, float(value))
        else:  # a missing or mangled value: fall back to the declared default
            st.session_state[key] = value = float(panels.fallback(p))
            options = panels.with_value(c.options, value)
        st.select_slider(p.name + " (log scale)", options=options, key=key, format_func=fmt, help=help_text,
                         disabled=off)
    elif c.kind == "int":
        st.number_input(p.name, key=key, step=1, min_value=_int(c.low), max_value=_int(c.high), help=help_text,
                        disabled=off)
    elif c.kind == "number":
        st.number_input(p.name, key=key, step=_step(p), format="%g", min_value=_float(c.low),
                        max_value=_float(c.high), help=help_text, disabled=off)
    elif c.kind == "list":
        st.text_input(p.name + " (comma-separated)", key=key, help=help_text, disabled=off)
    elif p.max_len > 200:
        st.text_area(p.name, key=key, help=help_text, height=80, disabled=off)
    else:
        st.text_input(p.name, key=key, help=help_text, disabled=off)


def _int(v):
    return None if v is None else int(v)


def _float(v):
    return None if v is None else float(v)


def _step(p: Param) -> float:
    span = (p.high or 1.0) - (p.low or 0.0)
    return 0.001 if span <= 1.0 else 0.01 if span <= 10 else 0.1


def params_widgets(params, prefix: str, where: str) -> None:
    for p in params:
        param_widget(p, f"{prefix}.{p.name}", f"{where}.{p.name}")


LABELS = {"s": "schedule family", "c": "comparison schedule family"}


def schedule_widgets(which: str, where: str, nested: bool = False) -> str:
    """Family selector, the unit of its step counts, its note, then its Params. Returns the family."""
    ids = panels.nested_families() if nested else list(FAMILIES)
    key = f"{which}.family"
    if st.session_state.get(key) not in ids:
        st.session_state[key] = ids[0]
    label = "inner schedule family" if nested else LABELS.get(which, "schedule family")
    if fixed(key) == "hidden":
        return st.session_state[key]
    fam_id = st.selectbox(label, ids, key=key, format_func=lambda f: FAMILIES[f].label, disabled=bool(fixed(key)),
                          help="Which formula sets the learning rate. Keras's own classes keep their "
                               "names and arguments; the others train as equivalent Keras code.")
    fam = FAMILIES[fam_id]
    prefix = panels.schedule_prefix(which, fam_id)
    top = which.split(".", 1)[0]
    ensure_state(panels.param_state(fam.params, prefix, fam.defaults(), span(top)))
    if not nested:
        units_widget(which, fam_id)
    if fam.note:
        st.caption(fam.note)
    params_widgets(fam.params, prefix, where)
    return fam_id


def span(which: str) -> panels.Span:
    """The unit this selector's step counts are shown in, over the run of the last page."""
    spe, total = st.session_state.get("run.span", (1, 1))
    unit = st.session_state.get(f"{which}.units", "steps")
    return panels.Span(unit if unit in panels.UNITS else "steps", spe, total)


def units_widget(which: str, fam_id: str) -> None:
    inner = st.session_state.get(f"{panels.schedule_prefix(which, fam_id)}.schedule.family")
    if not panels.has_step_counts(fam_id, inner):
        return
    ensure_state({f"{which}.units": "steps", f"{which}.units.was": "steps"})
    st.segmented_control(
        "count steps in", panels.UNITS, key=f"{which}.units", on_change=convert_units, args=(which,),
        required=True, width="stretch", format_func=lambda unit: unit.replace(" the ", " "),
        disabled=bool(fixed(f"{which}.units")),
        help="Keras counts decay_steps and warmup_steps in optimizer steps (batches). In epochs or % of the "
             "run they follow the run: change the epochs, the batch size or the data and the schedule still "
             "spans the same share of training.")


def convert_units(which: str) -> None:
    """The unit changed: show the same step counts in the new unit."""
    spe, total = st.session_state.get("run.span", (1, 1))
    old = st.session_state.get(f"{which}.units.was", "steps")
    new = st.session_state.get(f"{which}.units") or old
    load_state(panels.convert_units(which, st.session_state.get, panels.Span(old, spe, total),
                                    panels.Span(new, spe, total)))
    st.session_state[f"{which}.units"] = st.session_state[f"{which}.units.was"] = new


def show_error(exc: Exception, what: str = "Settings refused") -> None:
    """A library error as one line that names the field; never a traceback."""
    if isinstance(exc, ConfigError):
        st.error(f"**{what}** — {md(exc.field)}: {md(exc.allowed)} (got {md(repr(exc.value)[:80])})")
    else:
        st.error(f"**{what}**: {md(exc.__class__.__name__)}: {md(str(exc)[:300])}")


def guarded(what: str, fn, *args, default=None):
    """Run one section of the page; a library error becomes one st.error line, never a
    traceback, and the other sections go on."""
    try:
        return fn(*args)
    except Exception as exc:  # noqa: BLE001 - Streamlit's reruns are BaseExceptions and pass
        show_error(exc, what)
        return default


def engine_line(engine) -> None:
    """Where the engine's runs train, and why not on the cluster the host named, if so."""
    if engine.notice:
        st.warning(engine.notice, icon=":material/cloud_off:")
    st.caption(f"Runs train on {md(engine.where())}.")


def status_line(p) -> None:
    """One run's lrviz.executor.Progress, in words and a progress bar."""
    status = p.status
    if status == "queued" and p.workers_starting:
        st.info("Queued — a training worker is starting (it loads TensorFlow, a few seconds); "
                "the run begins as soon as it is ready.")
    elif status == "queued":
        st.info(f"Queued — position {p.queue_position or 1} in line; it starts when a worker is free.")
    elif status == "running":
        left = p.eta_s
        st.info(f"Running — epoch {p.epoch} of {p.epochs}, step {p.step:,}"
                f" of {p.total_steps or 0:,}" + (f", about {left:.0f} s left" if left is not None else ""))
    elif status == "done":
        st.success(f"Done in {p.elapsed_s:.1f} s.")
    elif status in ("stopped", "interrupted"):
        st.warning(f"{status.capitalize()} at epoch {p.epoch}.")
    else:  # diverged, failed
        st.error(f"{status.capitalize()}: {md(p.error or 'no reason recorded')}")
    epochs = p.epochs or 0
    if epochs:
        st.progress(min(1.0, p.epoch / epochs), text=f"epoch {p.epoch}/{epochs}")
    if p.node and status != "queued":
        st.caption(f"{'Training' if status == 'running' else 'Trained'} on {md(p.node)}.")
