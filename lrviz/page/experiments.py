"""The Experiments tab: which rate (the LR range test), does the choice matter (seeds, a paired
A/B), which setting (sweeps). Every experiment is a group of runs on the engine; this module
draws the controls that start one and the group's progress, Stop and Delete; the results of
each kind are drawn by experiment_views."""
from __future__ import annotations

import streamlit as st

from lrviz import lessons, panels, presets, visitors
from lrviz.exercises import control_of_path
from lrviz.experiments import ab, groups, range_test, sweep
from lrviz.params import ConfigError
from lrviz.schedules import FAMILIES, check_schedule

from . import experiment_views as views
from . import widgets
from .identity import visitor
from .resources import preloading

KINDS = {"LR range test": "range_test", "Seeds": "seeds", "A/B": "ab", "Sweep": "sweep"}
LIVE_EVERY = 1.0
ACTIVE = ("queued", "running")
RAMP = FAMILIES[range_test.FAMILY].params


def experiments_tab(cfg, ready, engine, store) -> None:
    if engine is not None:
        engine.warm()
        widgets.engine_line(engine)
    shown = st.segmented_control("Experiment", list(KINDS), key="exp.kind", default="LR range test",
                                 help="LR range test: which rate. Seeds: how much runs differ by chance. "
                                      "A/B: is one setup really better. Sweep: which value of one or two settings.")
    kind = KINDS[shown or "LR range test"]
    can_run = cfg is not None and ready and engine is not None
    if cfg is not None and not ready:
        st.caption("Upload a CSV file in the Data panel first: the experiment trains on it.")
    {"range_test": range_controls, "seeds": seeds_controls, "ab": ab_controls, "sweep": sweep_controls}[kind](
        cfg, can_run, engine)
    if store is None:
        return
    group = pick(store, kind)
    if group is None:
        return
    runs = store.group_runs(group["id"])
    active = any(r["status"] in ACTIVE for r in runs)
    st.fragment(lambda: widgets.guarded("The experiment's view failed", live, kind, group["id"], engine, store),
                run_every=LIVE_EVERY if active else None)()


def start(engine, kind: str, spec: dict, plan: sweep.Plan, name: str | None = None) -> None:
    try:
        group = groups.start(engine, kind, spec, plan, name, visitor())
    except ConfigError as exc:
        widgets.show_error(exc, "Experiment refused")
        return
    except Exception as exc:  # noqa: BLE001 - the engine's reason, not a traceback
        widgets.show_error(exc, "Could not start the experiment")
        return
    st.session_state[f"exp.{kind}.pick"] = group
    st.session_state["exp.was_active"] = True


def pick(store, kind: str) -> dict | None:
    """The group shown: the one just started, or any of this visitor's of this kind, or of
    everyone's when asked (newest first)."""
    me = visitor()
    everyone = st.toggle("Everyone's experiments", key="exp.everyone",
                         help="Also the other visitors' experiments of this kind: to look at, not to stop or delete.")
    found = {g["id"]: g for g in store.groups(kind, ... if everyone else me.id)}
    if not found:
        return None
    key = f"exp.{kind}.pick"
    if st.session_state.get(key) not in found:
        st.session_state[key] = max(found)
    who = visitors.aliases(store.runs(), me)  # numbered as the Runs tab numbers them
    gid = st.selectbox("Results of", sorted(found, reverse=True), key=key,
                       format_func=lambda i: f"{found[i]['name']} (#{i})" + (
                           "" if me.owns(found[i]) else f" · {who[found[i]['visitor']]}"),
                       help="Experiments are stored with their runs: they stay after a restart.")
    return found[gid]


@preloading
def live(kind: str, gid: int, engine, store) -> None:
    """The group's progress, Stop and Delete, then its results; a rerun of the page once it ends."""
    if st.session_state.pop("exp.rerun_app", False):
        st.rerun(scope="app")
    group = store.group(gid)
    if group is None:
        return st.caption("This experiment was deleted.")
    runs = store.group_runs(gid)
    statuses = [r["status"] for r in runs]
    active = sum(s in ACTIVE for s in statuses)
    counts = ", ".join(f"{statuses.count(s)} {s}" for s in dict.fromkeys(statuses))
    st.progress((len(runs) - active) / max(len(runs), 1), text=f"{len(runs) - active} of {len(runs)} runs "
                f"finished ({counts})")
    left, right = st.columns(2)
    theirs = not visitor().manages(group)  # another visitor's: to look at
    left.button("Stop", key=f"exp.stop.{gid}",
                on_click=lambda: widgets.guarded("Stop failed", groups.stop, engine, gid, visitor()),
                disabled=engine is None or not active or theirs, help="Stop every run of this experiment that is "
                "queued or running; what finished stays. Only your own.")
    right.button("Delete", key=f"exp.delete.{gid}",
                 on_click=lambda: widgets.guarded("Delete failed", groups.delete, engine, gid, visitor()),
                 disabled=engine is None or theirs, help="Stop and remove this experiment and all its runs. "
                 "Only your own.")
    getattr(views, kind)(group, runs, store)
    if st.session_state.get("exp.was_active") and not active:
        st.session_state["exp.was_active"] = False
        st.rerun()  # the whole page: its timer stops
    st.session_state["exp.was_active"] = bool(active)


# --- controls of each kind ------------------------------------------------------------------

def range_controls(cfg, can_run: bool, engine) -> None:
    st.caption("One short run whose rate grows geometrically at every step, over your data, model and Adam "
               "settings, until the loss explodes (Smith 2015; fastai's lr_find). Where the loss falls "
               "fastest is a good peak rate.")
    widgets.ensure_state(panels.param_state(RAMP, "exp.rt", FAMILIES[range_test.FAMILY].defaults()))
    columns = st.columns(len(RAMP))
    for column, p in zip(columns, RAMP):
        with column:
            widgets.param_widget(p, f"exp.rt.{p.name}", f"range_test.{p.name}")
    if st.button("Run the range test", key="exp.rt.start", type="primary", disabled=not can_run,
                 help="Train the ramp in a background worker, over your current data, model and Adam settings."):
        try:
            ramp = range_test.check(panels.read_params(RAMP, "exp.rt", st.session_state.get, "range_test"))
            run = range_test.run_config(cfg, ramp)
        except ConfigError as exc:
            return widgets.show_error(exc, "Range test refused")
        start(engine, "range_test", {"base": cfg, "ramp": ramp}, sweep.single(run))


def seeds_controls(cfg, can_run: bool, engine) -> None:
    st.caption("The same settings trained with K seeds (initial weights and batch order): the spread is "
               "how much a single run's curve is luck.")
    k = st.slider("Seeds", 2, sweep.MAX_SEEDS, 5, key="exp.seeds.k",
                  help="training.seed, training.seed + 1, …: each a different draw of initial weights and batches.")
    if st.button(f"Train {k} seeds", key="exp.seeds.start", type="primary", disabled=not can_run,
                 help="Queue the runs; they train side by side on the workers."):
        first = cfg["training"]["seed"]
        spec = {"base": cfg, "seeds": list(range(first, first + k))}
        try:
            plan = sweep.check(spec)
        except ConfigError as exc:
            return widgets.show_error(exc, "Seeds refused")
        start(engine, "seeds", spec, plan)


OWN_AB = "your settings against another schedule"


def ab_controls(cfg, can_run: bool, engine) -> None:
    chosen = st.selectbox("A/B", [OWN_AB, *(lesson.title for lesson in lessons.LESSONS)], key="exp.ab.lesson",
                          help="Your own A/B, or a lesson from the papers: a ready A/B on a small problem "
                               "(moons, a 16-16 MLP, 20 epochs, 5 seeds; under a minute).")
    if chosen != OWN_AB:
        return lesson_controls(lessons.by_title()[chosen], engine)
    st.caption("A: your settings. B: the same with another schedule. Both train on the same seeds, so each "
               "seed gives both the same initial weights and batches: the difference is read seed by seed.")
    options = ["the comparison schedule (Preview tab)"] + [p.name for p in presets.available().values()]
    source = st.selectbox("B's schedule and Adam", options, key="exp.ab.b",
                          help="A preset gives B its schedule and Adam settings over your data, model and epochs.")
    k = st.slider("Seeds", 2, sweep.MAX_SEEDS, 5, key="exp.ab.k",
                  help="Pairs of runs: more seeds, a narrower interval.")
    if st.button(f"Train A and B × {k} seeds", key="exp.ab.start", type="primary", disabled=not can_run,
                 help="Queue both arms on the same seeds."):
        try:
            b = b_config(cfg, source)
            first = cfg["training"]["seed"]
            spec = {"a": cfg, "b": b, "seeds": list(range(first, first + k))}
            plan = ab.check(spec)
        except ConfigError as exc:
            return widgets.show_error(exc, "A/B refused")
        start(engine, "ab", spec, plan)


def lesson_controls(lesson, engine) -> None:
    spec = lesson.spec()
    st.markdown(f"**{lesson.title}** ({lesson.paper}). {lesson.a.name} · {lesson.b.name}")
    st.caption(f"What to look for: {lesson.look_for}")
    st.plotly_chart(views.arms_figure(spec, (lesson.a.name, lesson.b.name)), key="exp.ab.lesson_chart",
                    config=views.CHART)
    if st.button(f"Run the lesson: A and B × {len(spec['seeds'])} seeds", key="exp.ab.lesson_start", type="primary",
                 disabled=engine is None, help="Its own data, model and epochs, not your settings: the same "
                 "experiment for everyone, small enough to finish in under a minute."):
        start(engine, "ab", spec, ab.check(spec), lesson.title)


def b_config(cfg: dict, source: str) -> dict:
    preset = presets.available().get(source)
    if preset is not None:  # the preset's schedule and Adam over your data, model and epochs
        made = preset.config(cfg, cfg["training"]["epochs"])
        return {**cfg, "schedule": made["schedule"], "optimizer": made["optimizer"]}
    options = panels.read_preview(st.session_state.get)
    if options.compare is None:
        raise ConfigError("B", source, "turn on 'compare with another schedule' in the Preview tab's options first, "
                          "or choose a preset")
    return {**cfg, "schedule": check_schedule(options.compare, "comparison schedule")}


def sweep_controls(cfg, can_run: bool, engine) -> None:
    st.caption("A grid over one or two settings × seeds. Values are separated by commas; for a setting that is a "
               "list or text (hidden_units, a formula), by ';'. 'schedule' sweeps over presets' schedules.")
    if cfg is None:
        return
    fixed = st.session_state.get("exercise.fixed", {})  # an exercise's fixed settings are not for sweeping
    paths = [p for p in ["schedule"] + sweep.fields(cfg) if control_of_path(p) not in fixed]
    left, right = st.columns(2)
    grid = {}
    for column, i in ((left, 0), (right, 1)):
        with column:
            choices = paths if i == 0 else ["(none)"] + paths
            rates = [q for q in choices if q.startswith("schedule.") and q.endswith("learning_rate")]
            path = st.selectbox(f"Setting {i + 1}", choices, key=f"exp.sweep.field{i}",
                                index=choices.index(rates[0]) if i == 0 and rates else 0,
                                help="Any field of the config by its path, or whole schedules.")
            if path == "(none)":
                continue
            if path == "schedule":
                names = st.multiselect("Presets", list(presets.available()), key=f"exp.sweep.presets{i}",
                                       default=list(presets.available())[2:4],
                                       help="Each preset's schedule over your data, model and epochs.")
                grid[path] = [presets.available()[n].config(cfg, cfg["training"]["epochs"])["schedule"] for n in names]
            else:
                by = views.separator(cfg, path)
                text = st.text_input("Values", key=f"exp.sweep.values{i}", value=views.suggested_values(cfg, path),
                                     help=f"Separated by '{by}'; each is checked as that field would be.")
                grid[path] = views.parse_values(text, by)
    k = st.slider("Seeds per cell", 1, sweep.MAX_SEEDS, 2, key="exp.sweep.k",
                  help="Each cell trains once per seed; the map shows the mean over them.")
    first = cfg["training"]["seed"]
    spec = {"base": cfg, "grid": grid, "seeds": list(range(first, first + k))}
    try:
        plan = sweep.check(spec)
    except ConfigError as exc:
        widgets.show_error(exc, "Sweep refused")
        plan = None
    label = f"Run the sweep ({len(plan.runs)} runs)" if plan else "Run the sweep"
    if st.button(label, key="exp.sweep.start", type="primary", disabled=not can_run or plan is None,
                 help=f"Queue every run (at most {sweep.MAX_RUNS}); Stop stops them all."):
        start(engine, "sweep", spec, plan)
