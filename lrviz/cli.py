"""`python -m lrviz curve|train CONFIG.json`: what the page does, headless.

A bad config or file exits with code 2 and one line on stderr that names the field.
"""
from __future__ import annotations

import argparse
import csv
import sys

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
    return p


def _positive(value, field):
    if value is not None and value < 1:
        raise ConfigError(field, value, "allowed: an integer >= 1")
    return value


def curve_rows(cfg: dict, epochs: int, steps_per_epoch: int):
    from .schedules import curve

    step, epoch, lr = curve(cfg["schedule"], epochs, steps_per_epoch)
    return zip(step.tolist(), epoch.tolist(), lr.tolist())


def _write_csv(path, header, rows):
    out = open(path, "w", newline="", encoding="utf-8") if path else sys.stdout
    try:
        writer = csv.writer(out)
        writer.writerow(header)
        writer.writerows(rows)
    finally:
        if path:
            out.close()


def main(argv=None) -> int:
    args = _parser().parse_args(argv)
    try:
        cfg = cfgmod.load(args.config)
        if args.command == "curve":
            epochs = _positive(args.epochs, "--epochs") or cfg["training"]["epochs"]
            spe = _positive(args.steps_per_epoch, "--steps-per-epoch") or cfgmod.steps_per_epoch(cfg)
            if epochs * spe > 10_000_000:
                raise ConfigError("--epochs × --steps-per-epoch", epochs * spe, "allowed: at most 10,000,000 steps")
            _write_csv(args.out, ["step", "epoch", "learning_rate"],
                       ((s, e, repr(v)) for s, e, v in curve_rows(cfg, epochs, spe)))
            return 0
        from .train import train_cli

        return train_cli(cfg, args.out, args.steps_out)
    except ConfigError as exc:
        print(f"lrviz: error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"lrviz: error: cannot write output: {exc.strerror or exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("lrviz: interrupted", file=sys.stderr)
        return 130
