"""An experiment on an executor: its runs start as one group in the store (which keeps them
across restarts), stop together, are deleted together, and read back as one results table.
The page and the CLI both go through these functions."""
from __future__ import annotations

from .. import config as cfgmod
from .. import executor
from ..params import ConfigError
from ..visitors import HOST, Visitor
from .sweep import Plan, label, where

KINDS = ("range_test", "seeds", "ab", "sweep")
RESULT_COLUMNS = ("seed", "run_id", "status", "final_loss", "final_val_loss", "best_val_loss", "final_metric",
                  "final_val_metric", "started", "finished", "node")


def start(engine, kind: str, spec: dict, plan: Plan, name: str | None = None, by: Visitor = HOST) -> int:
    """The group, with every run of the plan queued on the engine; returns the group's id.
    by: who asks (lrviz.visitors), the group's and its runs' owner."""
    if kind not in KINDS:
        raise ConfigError("kind", kind, "allowed: " + ", ".join(KINDS))
    store = engine.store
    for run in plan.runs:  # every run can train (a CSV's target, the run's length) before any exists
        executor.check_config(run.config, store, by)
        cfgmod.steps_per_epoch(run.config)
    group = store.create_group(kind, name, {**spec, "fields": list(plan.fields)}, by.id)
    title = store.group(group)["name"]
    runs = []
    for run in plan.runs:
        cell = where(plan.fields, run.cell)
        runs.append((run.config, f"{title}: {cell + ', ' if cell else ''}seed {run.seed}", [*run.cell, run.seed]))
    try:
        engine.submit_many(runs, group, by)  # at once: a cell's seeds can train side by side
    except BaseException:
        delete(engine, group)  # no half-made experiment is left behind
        raise
    return group


def stop(engine, group: int, by: Visitor = HOST) -> None:
    """Stop every run of the group that is queued or running: the whole experiment (by its
    visitor, or the host: lrviz.visitors.NotYours otherwise)."""
    by.check(engine.store.group(group), "experiment", group)
    ids = {r["id"] for r in engine.store.group_runs(group)}
    for run_id in engine.active()[::-1]:  # queued ones first: none starts while the others stop
        if run_id in ids:
            engine.stop(run_id)


def delete(engine, group: int, by: Visitor = HOST) -> None:
    """Stop and remove every run of the group, then the group (by its visitor, or the host)."""
    by.check(engine.store.group(group), "experiment", group)
    for run in engine.store.group_runs(group):
        engine.delete(run["id"])
    engine.store.delete_group(group)


def results(store, group: int) -> dict[str, list]:
    """One row per run, as columns: each grid field by its path, then RESULT_COLUMNS; the metric columns are named for the runs' metric when they share one
    (final_accuracy, final_val_accuracy)."""
    info = store.group(group)
    if info is None:
        raise ConfigError("group", group, "no such experiment (deleted?)")
    fields = info["spec"].get("fields", [])
    runs = store.group_runs(group)
    finals = store.finals(r["id"] for r in runs)
    cols: dict[str, list] = {f: [] for f in fields}
    cols.update({c: [] for c in RESULT_COLUMNS})
    for run in runs:
        cell, seed = (run["cell"] or [None])[:-1], (run["cell"] or [None])[-1]
        for f, v in zip(fields, cell):
            cols[f].append(v)
        final = finals.get(run["id"], {})
        row = {"seed": seed, "run_id": run["id"], "status": run["status"], **final,
               "started": run["started"], "finished": run["finished"], "node": run["node"]}
        for c in RESULT_COLUMNS:
            cols[c].append(row.get(c))
    metrics = {r["metric"] for r in runs if r["metric"]}
    if len(metrics) == 1:
        metric = metrics.pop()
        cols = {{"final_metric": f"final_{metric}", "final_val_metric": f"final_val_{metric}"}.get(k, k): v
                for k, v in cols.items()}
    return cols


def csv_columns(cols: dict) -> dict:
    """Results as a CSV writes them: a grid value that is a schedule section as its JSON."""
    return {k: [label(v) for v in values] for k, values in cols.items()}


MEASURES = ("final_val_loss", "best_val_loss", "final_loss")


def finished(cols: dict, measure: str) -> list:
    """The measure of each run that is done; None for the others (running, stopped, diverged,
    failed): a run cut short would compare its early value with others' last."""
    return [v if status == "done" else None for v, status in zip(cols[measure], cols["status"])]


def cells(cols: dict, fields: list[str], measure: str) -> list[dict]:
    """Per cell of the grid, in the grid's order: its values, the measure's mean, std and count
    over the seeds that are done and have it, and what happened to the rest (e.g. "2 diverged")."""
    from .stats import summary

    values = finished(cols, measure)
    out: dict[tuple, dict] = {}
    for i in range(len(cols["run_id"])):
        key = tuple(label(cols[f][i]) for f in fields)
        cell = out.setdefault(key, {"cell": [cols[f][i] for f in fields], "values": [], "statuses": []})
        cell["values"].append(values[i])
        cell["statuses"].append(cols["status"][i])
    table = []
    for cell in out.values():
        s = summary(cell["values"])
        others = [st if st != "done" else "done without it" for st, v in zip(cell["statuses"], cell["values"])
                  if v is None or v != v]
        status = ", ".join(f"{others.count(st)} {st}" for st in dict.fromkeys(others)) or "done"
        table.append({"cell": cell["cell"], "mean": s.mean, "std": s.std, "n": s.n, "runs": len(cell["values"]),
                      "status": status})
    return table

