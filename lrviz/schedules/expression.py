"""A custom formula typed by the user, evaluated with simpleeval over whole arrays.

It never reaches eval/exec. The text is parsed once and every node checked against a short
whitelist before anything runs: numbers, a few names, arithmetic, comparisons, `a if c else b`
and calls of a few bare function names. Everything is computed in floats through the array
namespace (NumPy float64 for the preview, keras.ops in training), so `9**9**9**9` is inf at
once instead of a huge Python integer, and validation refuses inf.
"""
from __future__ import annotations

import ast
import math
from functools import lru_cache

import numpy as np
from simpleeval import SimpleEval

from ..params import ConfigError, Param
from .base import Family, Timeline, rate
from .to_keras import formula_schedule

MAX_CHARS = 500
MAX_NODES = 200
MAX_DEPTH = 32
NAMES = ("step", "epoch", "lr0", "steps_per_epoch", "total_steps", "pi", "e")
# name in the formula: (name in numpy / keras.ops, number of arguments)
FUNCTIONS = {"floor": ("floor", 1), "ceil": ("ceil", 1), "exp": ("exp", 1), "log": ("log", 1),
             "sqrt": ("sqrt", 1), "cos": ("cos", 1), "sin": ("sin", 1), "tanh": ("tanh", 1),
             "abs": ("abs", 1), "min": ("minimum", 2), "max": ("maximum", 2), "clip": ("clip", 3),
             "where": (None, 3)}
BINARY = {ast.Add: "add", ast.Sub: "subtract", ast.Mult: "multiply", ast.Div: "divide",
          ast.FloorDiv: "floor_divide", ast.Mod: "mod", ast.Pow: "power"}
COMPARE = {ast.Lt: "less", ast.LtE: "less_equal", ast.Gt: "greater", ast.GtE: "greater_equal",
           ast.Eq: "equal", ast.NotEq: "not_equal"}
ALLOWED = ("allowed: numbers, " + ", ".join(NAMES) + ", + - * / // % **, one comparison at a time, "
           "'a if cond else b', and " + ", ".join(f"{f}()" for f in FUNCTIONS)
           + f"; at most {MAX_CHARS} characters")
PROBE = Timeline.of(10, 100)


class Refused(Exception):
    """Why a formula is refused; check() turns it into a ConfigError naming the field."""


@lru_cache(maxsize=256)
def parse(text: str) -> ast.expr:
    """The formula's syntax tree, once every node has passed the whitelist."""
    if len(text) > MAX_CHARS:
        raise Refused(f"longer than {MAX_CHARS} characters")
    try:
        tree = ast.parse(text, mode="eval")
    except (SyntaxError, ValueError, RecursionError, MemoryError) as exc:
        raise Refused(f"not a formula ({exc.__class__.__name__}: {getattr(exc, 'msg', exc)})") from None
    # Iterative, so that no nesting can exhaust the stack before the limits apply.
    stack, count = [(tree.body, 1)], 0
    while stack:
        node, depth = stack.pop()
        count += 1
        if count > MAX_NODES:
            raise Refused(f"more than {MAX_NODES} terms")
        if depth > MAX_DEPTH:
            raise Refused(f"nested deeper than {MAX_DEPTH} levels")
        stack.extend((child, depth + 1) for child in _children(node))
    return tree.body


def _children(node):
    if isinstance(node, ast.Constant):
        if type(node.value) not in (int, float):
            raise Refused(f"only numbers are allowed as constants, not {node.value!r:.20}")
        try:
            finite = math.isfinite(float(node.value))
        except OverflowError:
            finite = False
        if not finite:
            raise Refused("a number is too large")
        return []
    if isinstance(node, ast.Name):
        if node.id not in NAMES:
            raise Refused(f"unknown name {node.id!r:.40}")
        return []
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
        return [node.operand]
    if isinstance(node, ast.BinOp) and type(node.op) in BINARY:
        return [node.left, node.right]
    if isinstance(node, ast.Compare):
        if len(node.ops) != 1 or type(node.ops[0]) not in COMPARE:
            raise Refused("only one comparison (<, <=, >, >=, ==, !=) at a time")
        return [node.left, node.comparators[0]]
    if isinstance(node, ast.IfExp):
        return [node.test, node.body, node.orelse]
    if isinstance(node, ast.Call):
        name = node.func.id if isinstance(node.func, ast.Name) else None
        if name not in FUNCTIONS:
            raise Refused("only calls of " + ", ".join(FUNCTIONS) + " by their bare names")
        if node.keywords or any(isinstance(a, ast.Starred) for a in node.args):
            raise Refused(f"{name}() takes plain arguments only")
        if len(node.args) != FUNCTIONS[name][1]:
            raise Refused(f"{name}() takes {FUNCTIONS[name][1]} argument(s)")
        return node.args
    what = type(getattr(node, "op", None) or node).__name__
    raise Refused(f"{what} is not allowed")


def _where(xp, cond, a, b):
    return xp.where(xp.not_equal(cond, 0.0), a, b)


class _Evaluator(SimpleEval):
    """simpleeval with every operator and function taken from the array namespace."""

    def __init__(self, xp, names):
        def compare(fn):
            return lambda a, b: xp.where(fn(a, b), 1.0, 0.0)  # a number, so it can be multiplied

        operators = {op: getattr(xp, fn) for op, fn in BINARY.items()}
        operators.update({op: compare(getattr(xp, fn)) for op, fn in COMPARE.items()})
        operators.update({ast.USub: xp.negative, ast.UAdd: lambda a: a})
        functions = {name: getattr(xp, fn) for name, (fn, _) in FUNCTIONS.items() if fn}
        functions["where"] = lambda c, a, b: _where(xp, c, a, b)
        super().__init__(operators=operators, functions=functions, names=names)
        self.xp = xp

    def _eval_constant(self, node):
        return float(node.value)

    def _eval_ifexp(self, node):
        # Elementwise: both branches are computed and the condition picks per step.
        return _where(self.xp, self._eval(node.test), self._eval(node.body), self._eval(node.orelse))


def _curve(p, t):
    names = {"step": t.step, "epoch": t.epoch, "lr0": p["initial_learning_rate"],
             "steps_per_epoch": float(t.steps_per_epoch), "total_steps": float(t.total_steps),
             "pi": math.pi, "e": math.e}
    return _Evaluator(t.xp, names).eval(p["expression"], previously_parsed=parse(p["expression"]))


class _Writes:
    """An array namespace that writes each call down instead of making it: the evaluator's own
    walk over a formula, given this, returns the formula as source over `xp` (for the script)."""

    def __getattr__(self, name):
        return lambda *args: f"xp.{name}({', '.join(map(_code, args))})"


def _code(value) -> str:
    return value if isinstance(value, str) else repr(float(value))


CURVE_SOURCE = '''def expression_curve(p, t):
    {doc!r}
    xp, step, epoch, lr0 = t.xp, t.step, t.epoch, p["initial_learning_rate"]
    steps_per_epoch, total_steps, pi, e = float(t.steps_per_epoch), float(t.total_steps), math.pi, math.e
    return {code}
'''


def _curve_source(p) -> tuple[str, str]:
    """The typed formula as a curve function's source, for the generated script."""
    code = _Evaluator(_Writes(), {n: n for n in NAMES}).eval(p["expression"], previously_parsed=parse(p["expression"]))
    doc = f"lr = {p['expression']}: the typed formula, as lrviz evaluates it"
    return "expression_curve", CURVE_SOURCE.format(doc=doc, code=_code(code))


def _check(p, where):
    """Syntax and evaluation; the values are checked on the real run (schedules.check_on_run),
    where steps per epoch and the run's length are known."""
    field, text = f"{where}.expression", p["expression"]
    try:
        parse(text)
        with np.errstate(all="ignore"):
            _curve(p, PROBE)
    except Refused as exc:
        raise ConfigError(field, text, f"{exc}; {ALLOWED}") from None
    except (ArithmeticError, TypeError, ValueError) as exc:
        raise ConfigError(field, text, f"cannot be evaluated ({exc.__class__.__name__}); {ALLOWED}") from None


ORDER = 90  # where its families are listed: see schedules._collect

FAMILIES = (
    Family("expression", "Custom formula",
           (rate(default=0.01, help="lr0 in the formula."),
            Param("expression", "lr0 * 0.5 ** floor(epoch / 10)", "text",
                  "A formula of step, epoch, lr0, steps_per_epoch, total_steps, pi, e; functions: "
                  + ", ".join(FUNCTIONS) + "; 'a if cond else b' works step by step.", max_len=MAX_CHARS)),
           r"\eta_s = f(s, e, \eta_0)", _curve, formula_schedule("expression", _curve_source), check=_check,
           bad_rates=lambda p: "expression",
           note="Evaluated safely (no eval): numbers, the listed names and functions, arithmetic and "
                "comparisons only."),
)
