"""`python -m lrviz curve|train|script CONFIG.json`: what the page does, headless.

A bad config or file exits with code 2 and one line on stderr that names the field.
"""
from __future__ import annotations

import argparse
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
    s = sub.add_parser("script", help="write the plain-Keras script that reproduces the run")
    s.add_argument("config")
    s.add_argument("--out", help="Python file (default: standard output)")
    return p


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

    return train_cli(cfg, args.out, args.steps_out)


COMMANDS = {"curve": curve, "train": train, "script": script}


def main(argv=None) -> int:
    args = _parser().parse_args(argv)
    try:
        return COMMANDS[args.command](cfgmod.load(args.config), args)
    except ConfigError as exc:
        print(f"lrviz: error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"lrviz: error: cannot write output: {exc.strerror or exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("lrviz: interrupted", file=sys.stderr)
        return 130
