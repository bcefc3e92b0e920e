"""`python -m lrviz curve|train|script|lr-find CONFIG.json`, `python -m lrviz sweep SWEEP.json`,
`python -m lrviz lesson [ID]`: what the page does, headless.

A bad config or file exits with code 2 and one line on stderr that names the field.
"""
from __future__ import annotations

import argparse
import os
import sys
from contextlib import nullcontext

from . import config as cfgmod
from .params import ConfigError


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one line, exit 2, like every other bad input
        print(f"lrviz: error: {message}", file=sys.stderr)
        sys.exit(2)


def _parser() -> argparse.ArgumentParser:
    p = _Parser(prog="python -m lrviz", description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser)
    c = sub.add_parser("curve", help="write the learning rate of every optimizer step as CSV")
    c.add_argument("config")
    c.add_argument("--epochs", type=int, help="override training.epochs")
    c.add_argument("--steps-per-epoch", type=int, help="override the steps per epoch of the data")
    c.add_argument("--out", help="CSV file (default: standard output)")
    t = sub.add_parser("train", help="train in the foreground with a progress bar")
    t.add_argument("config")
    t.add_argument("--out", help="per-epoch CSV")
    t.add_argument("--steps-out", help="per-step CSV")
    t.add_argument("--view-out", help="the model's view per epoch, as an animated HTML (data of one or two features)")
    s = sub.add_parser("script", help="write the plain-Keras script that reproduces the run")
    s.add_argument("config")
    s.add_argument("--out", help="Python file (default: standard output)")
    f = sub.add_parser("lr-find", help="LR range test: loss against a growing rate, and the rates it suggests")
    f.add_argument("config")
    for option, (name, kind) in RAMP_OPTIONS.items():
        f.add_argument(option, type=kind, dest=name, help=f"the ramp's {name} (default: {RAMP_DEFAULTS[name]})")
    f.add_argument("--out", help="CSV of step,learning_rate,loss,smoothed_loss (default: none)")
    w = sub.add_parser("sweep", help="train a grid of settings × seeds; one results row per run")
    w.add_argument("sweep", help='JSON: {"base": CONFIG, "grid": {"path": [values]}, "seeds": [..]}')
    w.add_argument("--out", help="results CSV (default: standard output)")
    w.add_argument("--workers", type=int, help="worker processes (default: $LRVIZ_WORKERS, else one per core)")
    w.add_argument("--ray", metavar="ADDRESS", help=RAY_HELP)
    w.add_argument("--name", help="the sweep's name in the page's lists")
    n = sub.add_parser("lesson", help="a lesson from the papers: a seeded A/B, and what it showed here")
    n.add_argument("lesson", nargs="?", help="its id (without one: the list)")
    n.add_argument("--out", help="results CSV (default: standard output)")
    n.add_argument("--workers", type=int, help="worker processes (default: $LRVIZ_WORKERS, else one per core)")
    n.add_argument("--ray", metavar="ADDRESS", help=RAY_HELP)
    n.add_argument("--name", help="the A/B's name in the page's lists (default: the lesson's title)")
    return p


RAY_HELP = ("train on the Ray cluster at this address, as ray.init takes it (default: $LRVIZ_RAY_ADDRESS, "
            "else this machine); --workers then caps the workers at one per CPU of the cluster")
RAMP_OPTIONS = {"--min-lr": ("min_learning_rate", float), "--max-lr": ("max_learning_rate", float),
                "--steps": ("num_steps", int)}
RAMP_DEFAULTS = {"min_learning_rate": 1e-7, "max_learning_rate": 10.0, "num_steps": 200}


def _positive(value, field):
    if value is not None and value < 1:
        raise ConfigError(field, value, "allowed: an integer >= 1")
    return value


def _output(path: str | None):
    """The file to write (text, as the page's downloads), or standard output."""
    return open(path, "w", newline="", encoding="utf-8") if path else nullcontext(sys.stdout)


def curve(cfg: dict, args) -> int:
    from .exports import curve_columns, write_csv
    from .schedules import check_on_run
    from .schedules import curve as schedule_curve

    epochs = _positive(args.epochs, "--epochs") or cfg["training"]["epochs"]
    spe = _positive(args.steps_per_epoch, "--steps-per-epoch") or cfgmod.steps_per_epoch(cfg)
    if epochs * spe > 10_000_000:
        raise ConfigError("--epochs × --steps-per-epoch", epochs * spe, "allowed: at most 10,000,000 steps")
    check_on_run(cfg["schedule"], epochs, spe)  # the run written here, which the options may change
    with _output(args.out) as out:
        write_csv(curve_columns(*schedule_curve(cfg["schedule"], epochs, spe)), out)
    return 0


def script(cfg: dict, args) -> int:
    from .exports import keras_script

    text = keras_script(cfg)
    with _output(args.out) as out:
        out.write(text)
    return 0


def train(cfg: dict, args) -> int:
    from .train import train_cli

    return train_cli(cfg, args.out, args.steps_out, args.view_out)


def lr_find(cfg: dict, args) -> int:
    """Train the ramp here; write its rows; the last line of stdout is the suggestions as JSON."""
    import json

    from .exports import write_csv
    from .experiments import range_test

    given = {name: getattr(args, name) for name, _ in RAMP_OPTIONS.values() if getattr(args, name) is not None}
    try:
        ramp = range_test.check(given)
    except ConfigError as exc:  # named as the option the user typed
        option = next((o for o, (n, _) in RAMP_OPTIONS.items() if exc.field.endswith("." + n)), exc.field)
        raise ConfigError(option, exc.value, exc.allowed) from None
    from .train import foreground

    done = foreground(range_test.run_config(cfg, ramp))
    print(done.ended, file=sys.stderr)
    result = range_test.analyse([r[2] for r in done.steps], [r[3] for r in done.steps], ramp["num_steps"],
                                ramp["stop_factor"])
    if args.out:
        with _output(args.out) as out:
            write_csv({"step": range(len(result.loss)), "learning_rate": result.learning_rate, "loss": result.loss,
                       "smoothed_loss": result.smoothed}, out)
    for s in result.suggestions:
        print(f"lrviz: {s.name}: {s.learning_rate:.3g} ({s.why})", file=sys.stderr)
    print(f"lrviz: {result.note}", file=sys.stderr)
    first = result.suggestions[0].learning_rate if result.suggestions else None
    print(json.dumps({"suggested_learning_rate": first, **{s.name: s.learning_rate for s in result.suggestions},
                      "steps": len(result.loss), "note": result.note}))
    return 0 if result.suggestions else 1


def sweep(raw, args) -> int:
    """Queue the sweep's runs on a local pool (stored like the page's), show a progress bar,
    write one results row per run. Ctrl-C stops the whole sweep and writes what it recorded.
    Exit 0 when it ran to the end (a diverged cell is a result), 1 when every run failed."""
    from .experiments import sweep as sweepmod

    return _experiment("sweep", raw, sweepmod.check(raw), args)[0]


def lesson(raw, args) -> int:
    """A lesson from the papers (lrviz.lessons): its A/B on a local pool, one results row per
    run, then what to look for and what the runs showed (the paired difference of final
    val_loss, B − A, with its 95 % interval). Without an id: the list of lessons."""
    from . import lessons
    from .experiments import ab, groups

    if args.lesson is None:
        for item in lessons.LESSONS:
            print(f"{item.id}: {item.title} ({item.paper})")
        return 0
    found = lessons.by_id().get(args.lesson)
    if found is None:
        raise ConfigError("lesson", args.lesson, "allowed: one of " + ", ".join(lessons.by_id()))
    spec = found.spec()
    code, pool_store, group = _experiment("ab", spec, ab.check(spec), args, args.name or found.title)
    if group is not None:
        cols = groups.results(pool_store, group)  # runs that did not finish count as none, as on the page
        values = dict(zip(zip(cols["arm"], cols["seed"]), groups.finished(cols, "final_val_loss")))
        print(f"lrviz: {found.title} ({found.paper})\nWhat to look for: {found.look_for}\n"
              f"What these runs show: {ab.verdict(ab.compare(values), seeds=len(spec['seeds']))}", file=sys.stderr)
    return code


def _experiment(kind: str, raw: dict, plan, args, name: str | None = None):
    """(exit code, the store, the group or None) of an experiment run here to its end."""
    import time

    from tqdm import tqdm

    from .exports import write_csv
    from . import executor
    from .experiments import groups

    pool = _engine(executor, args)
    group = None
    try:
        group = groups.start(pool, kind, raw, plan, name or getattr(args, "name", None))
        print(f"lrviz: {kind} {group}: {len(plan.runs)} runs on {pool.where()}, stored in "
              f"{pool.store.path}", file=sys.stderr)
        with tqdm(total=len(plan.runs), unit="run", file=sys.stderr, dynamic_ncols=True) as bar:
            while True:
                runs = pool.store.group_runs(group)
                finished = sum(r["status"] not in ("queued", "running") for r in runs)
                if finished > bar.n:
                    bar.update(finished - bar.n)
                if finished == len(runs):
                    break
                time.sleep(0.2)
    except KeyboardInterrupt:
        if group is not None:  # stopped, not interrupted: each run keeps what it recorded
            groups.stop(pool, group)
            deadline = time.monotonic() + pool.stop_grace_s + 2.0
            while time.monotonic() < deadline and any(r["status"] in ("queued", "running")
                                                      for r in pool.store.group_runs(group)):
                time.sleep(0.05)
        print(f"lrviz: {kind} stopped", file=sys.stderr)
        interrupted = True
    else:
        interrupted = False
    finally:
        pool.shutdown()
    if group is None:
        return 130, pool.store, None
    cols = groups.results(pool.store, group)
    with _output(args.out) as out:
        write_csv(groups.csv_columns(cols), out)
    statuses = cols["status"]
    print(f"lrviz: {kind} {group}: " + ", ".join(f"{statuses.count(s)} {s}" for s in dict.fromkeys(statuses)),
          file=sys.stderr)
    return (130 if interrupted else 1 if all(s == "failed" for s in statuses) else 0), pool.store, group


def _engine(executor, args):
    """The local pool, or the cluster's (--ray, else $LRVIZ_RAY_ADDRESS); one that cannot be
    reached is refused like a bad option, naming the address."""
    workers = _positive(args.workers, "--workers")
    try:
        return executor.start(ray=args.ray, max_workers=workers)
    except executor.Unreachable as exc:
        raise ConfigError("--ray", args.ray or os.environ[executor.RAY_ADDRESS],
                          f"{exc}; leave it out (and unset ${executor.RAY_ADDRESS}) to train on this machine") from None


COMMANDS = {"curve": curve, "train": train, "script": script, "lr-find": lr_find, "sweep": sweep, "lesson": lesson}


def main(argv=None) -> int:
    args = _parser().parse_args(argv)
    try:
        source = cfgmod.read_json(args.sweep, "sweep") if args.command == "sweep" else \
            None if args.command == "lesson" else cfgmod.load(args.config)
        return COMMANDS[args.command](source, args)
    except ConfigError as exc:
        print(f"lrviz: error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"lrviz: error: cannot write output: {exc.strerror or exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("lrviz: interrupted", file=sys.stderr)
        return 130
