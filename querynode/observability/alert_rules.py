"""The alert rules of deploy/prometheus/alerts.yml, evaluated on two /metrics scrapes.

`querynode drill` cannot wait the minutes a Prometheus would: it evaluates each rule's
expression with every range (`[5m]`, `[1h]`, ...) read as "between the two scrapes" (the
start of a drill phase and now) and reports an alert as firing when its expression gives a
series, without waiting out its `for:` duration. The evaluator covers the PromQL the rules
use: selectors with =, !=, =~, !~ matchers; rate and increase; sum, min and max by labels;
histogram_quantile; arithmetic, comparisons (filtering), `and`, `or`; recording rules.
promtool (`promtool check rules`, in the test suite) still checks the file itself.
"""
from __future__ import annotations

import math
import re
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import yaml
from prometheus_client.parser import text_string_to_metric_families

Labels = frozenset  # of (name, value) pairs, "__name__" included for raw series
Vector = dict  # Labels -> float


@dataclass(frozen=True)
class Scrape:
    at: float  # seconds (monotonic)
    series: dict  # Labels -> float


def parse_scrape(text: str, at: float, **target_labels: str) -> Scrape:
    """A /metrics body as series, with the labels a Prometheus scrape adds (job, instance)."""
    series: dict = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            labels = {**sample.labels, **target_labels, "__name__": sample.name}
            series[frozenset(labels.items())] = float(sample.value)
    return Scrape(at, series)


@dataclass(frozen=True)
class Rule:
    name: str
    expr: str
    record: bool
    severity: str = ""


def load_rules(path: Path) -> list[Rule]:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    rules = []
    for group in data["groups"]:
        for rule in group["rules"]:
            if "record" in rule:
                rules.append(Rule(rule["record"], rule["expr"], True))
            else:
                rules.append(Rule(rule["alert"], rule["expr"], False, rule.get("labels", {}).get("severity", "")))
    return rules


def firing(rules: list[Rule], start: Scrape, now: Scrape) -> dict[str, list[dict[str, str]]]:
    """Alert name -> the label sets its expression gives now (empty list: not firing)."""
    env = Evaluator(start, now)
    result: dict[str, list[dict[str, str]]] = {}
    for rule in rules:
        vector = env.evaluate(rule.expr)
        if rule.record:
            env.recorded[rule.name] = {_without_name(k) | {("__name__", rule.name)}: v for k, v in vector.items()}
        else:
            result[rule.name] = [dict(sorted(k)) for k in vector]
    return result


# ---------------------------------------------------------------- parsing

_TOKEN = re.compile(r"""\s*(?:
    (?P<number>\d+(?:\.\d+)?(?:e[+-]?\d+)?)
  | (?P<duration>\[\s*\d+[smhdw]\s*\])
  | (?P<string>"(?:[^"\\]|\\.)*")
  | (?P<op>=~|!~|!=|==|>=|<=|[-+*/(){},=<>])
  | (?P<name>[A-Za-z_:][A-Za-z0-9_:]*)
)""", re.VERBOSE)
def _divide(a: float, b: float) -> float:
    return a / b if b else (math.nan if a == 0 or math.isnan(a) else math.copysign(math.inf, a))


_AGGREGATIONS = {"sum": sum, "max": max, "min": min}
_COMPARISONS = {">": lambda a, b: a > b, "<": lambda a, b: a < b, ">=": lambda a, b: a >= b,
                "<=": lambda a, b: a <= b, "==": lambda a, b: a == b, "!=": lambda a, b: a != b}
_ARITHMETIC = {"+": lambda a, b: a + b, "-": lambda a, b: a - b, "*": lambda a, b: a * b, "/": _divide}


def _tokens(expr: str) -> list[tuple[str, str]]:
    out, pos = [], 0
    expr = expr.strip()
    while pos < len(expr):
        m = _TOKEN.match(expr, pos)
        if not m or m.end() == pos:
            raise ValueError(f"cannot read the expression at: {expr[pos:pos + 30]!r}")
        kind = m.lastgroup
        out.append((kind, m.group(kind)))
        pos = m.end()
    return out


def _without_name(labels: Labels) -> Labels:
    return frozenset((k, v) for k, v in labels if k != "__name__")


class Evaluator:
    def __init__(self, start: Scrape, now: Scrape) -> None:
        self.start, self.now = start, now
        self.recorded: dict[str, Vector] = {}
        self._toks: list[tuple[str, str]] = []
        self._i = 0

    def evaluate(self, expr: str) -> Vector:
        self._toks, self._i = _tokens(expr), 0
        value = self._or()
        if self._i != len(self._toks):
            raise ValueError(f"unexpected {self._toks[self._i][1]!r} in {expr!r}")
        if not isinstance(value, dict):
            raise ValueError(f"{expr!r} is a number, not a vector")
        return {k: v for k, v in value.items() if not math.isnan(v)}

    # --- token helpers
    def _peek(self) -> str | None:
        return self._toks[self._i][1] if self._i < len(self._toks) else None

    def _take(self, expected: str | None = None) -> str:
        kind, text = self._toks[self._i]
        if expected is not None and text != expected:
            raise ValueError(f"expected {expected!r}, found {text!r}")
        self._i += 1
        return text

    # --- precedence: or < and < comparison < + - < * /
    def _or(self):
        left = self._and()
        while self._peek() == "or":
            self._take()
            right = self._and()
            seen = {_without_name(k) for k in left}
            left = {**left, **{k: v for k, v in right.items() if _without_name(k) not in seen}}
        return left

    def _and(self):
        left = self._comparison()
        while self._peek() == "and":
            self._take()
            right = self._comparison()
            keep = {_without_name(k) for k in right}
            left = {k: v for k, v in left.items() if _without_name(k) in keep}
        return left

    def _comparison(self):
        left = self._additive()
        while self._peek() in _COMPARISONS:
            op = _COMPARISONS[self._take()]
            right = self._additive()
            left = self._binary(left, right, op, filtering=True)
        return left

    def _additive(self):
        left = self._multiplicative()
        while self._peek() in ("+", "-"):
            op = _ARITHMETIC[self._take()]
            left = self._binary(left, self._multiplicative(), op)
        return left

    def _multiplicative(self):
        left = self._primary()
        while self._peek() in ("*", "/"):
            op = _ARITHMETIC[self._take()]
            left = self._binary(left, self._primary(), op)
        return left

    @staticmethod
    def _binary(left, right, op, filtering: bool = False):
        if not isinstance(left, dict) and not isinstance(right, dict):
            return float(op(left, right))
        if not isinstance(right, dict):
            if filtering:
                return {k: v for k, v in left.items() if op(v, right)}
            return {_without_name(k): op(v, right) for k, v in left.items()}
        if not isinstance(left, dict):
            if filtering:
                return {k: v for k, v in right.items() if op(left, v)}
            return {_without_name(k): op(left, v) for k, v in right.items()}
        by_labels = {_without_name(k): v for k, v in right.items()}
        out = {}
        for k, v in left.items():
            other = by_labels.get(_without_name(k))
            if other is None:
                continue
            if filtering:
                if op(v, other):
                    out[k] = v
            else:
                out[_without_name(k)] = op(v, other)
        return out

    def _primary(self):
        kind, text = self._toks[self._i]
        if kind == "number":
            self._take()
            return float(text)
        if text == "(":
            self._take()
            value = self._or()
            self._take(")")
            return value
        if text == "-":
            self._take()
            return self._binary(-1.0, self._primary(), _ARITHMETIC["*"])
        if text in _AGGREGATIONS and self._toks[self._i + 1][1] in ("by", "("):
            return self._aggregation()
        if text in ("rate", "increase"):
            self._take()
            self._take("(")
            name, matchers = self._selector_parts()
            if self._toks[self._i][0] != "duration":
                raise ValueError(f"{text}() needs a range selector")
            self._take()
            self._take(")")
            return self._range(text, name, matchers)
        if text == "histogram_quantile":
            self._take()
            self._take("(")
            q = self._or()
            self._take(",")
            buckets = self._or()
            self._take(")")
            return _histogram_quantile(q, buckets)
        name, matchers = self._selector_parts()
        return self._select(self.now.series, name, matchers)

    def _aggregation(self):
        func = _AGGREGATIONS[self._take()]
        by: list[str] = []
        if self._peek() == "by":
            self._take()
            by = self._label_list()
        self._take("(")
        inner = self._or()
        self._take(")")
        groups: dict = defaultdict(list)
        for k, v in inner.items():
            labels = dict(k)
            groups[frozenset((name, labels[name]) for name in by if name in labels)].append(v)
        return {k: float(func(vs)) for k, vs in groups.items()}

    def _label_list(self) -> list[str]:
        self._take("(")
        names = []
        while self._peek() != ")":
            names.append(self._take())
            if self._peek() == ",":
                self._take()
        self._take(")")
        return names

    def _selector_parts(self) -> tuple[str, list[tuple[str, str, str]]]:
        name = self._take()
        matchers = []
        if self._peek() == "{":
            self._take()
            while self._peek() != "}":
                label, op, value = self._take(), self._take(), self._take()
                matchers.append((label, op, bytes(value[1:-1], "utf-8").decode("unicode_escape")))
                if self._peek() == ",":
                    self._take()
            self._take("}")
        return name, matchers

    def _select(self, series: dict, name: str, matchers) -> Vector:
        if name in self.recorded and series is self.now.series:
            series = self.recorded[name]
        out = {}
        for labels, value in series.items():
            d = dict(labels)
            if d.get("__name__") != name or not all(_matches(d.get(l, ""), op, v) for l, op, v in matchers):
                continue
            out[labels] = value
        return out

    def _range(self, func: str, name: str, matchers) -> Vector:
        now = self._select(self.now.series, name, matchers)
        before = self._select(self.start.series, name, matchers)
        seconds = max(self.now.at - self.start.at, 1e-9)
        out = {}
        for labels, value in now.items():
            old = before.get(labels, 0.0)
            grown = value - old if value >= old else value  # a counter reset starts again from 0
            out[_without_name(labels)] = grown / seconds if func == "rate" else grown
        return out


def _matches(actual: str, op: str, wanted: str) -> bool:
    if op == "=":
        return actual == wanted
    if op == "!=":
        return actual != wanted
    if op == "=~":
        return re.fullmatch(wanted, actual) is not None
    if op == "!~":
        return re.fullmatch(wanted, actual) is None
    raise ValueError(f"unknown matcher {op!r}")


def _histogram_quantile(q: float, buckets: Vector) -> Vector:
    """Prometheus' estimate: linear interpolation inside the bucket that holds the rank."""
    groups: dict = defaultdict(list)
    for labels, value in buckets.items():
        d = dict(labels)
        le = d.pop("le", None)
        if le is None:
            continue
        groups[frozenset((k, v) for k, v in d.items() if k != "__name__")].append((float(le), value))
    out = {}
    for labels, pairs in groups.items():
        pairs.sort()
        total = pairs[-1][1] if pairs and math.isinf(pairs[-1][0]) else math.nan
        if not total or math.isnan(total):
            out[labels] = math.nan
            continue
        rank = q * total
        lower, below = 0.0, 0.0
        for upper, count in pairs:
            if count >= rank:
                if math.isinf(upper):
                    out[labels] = lower
                elif count == below:
                    out[labels] = upper
                else:
                    out[labels] = lower + (upper - lower) * (rank - below) / (count - below)
                break
            lower, below = upper, count
    return out
