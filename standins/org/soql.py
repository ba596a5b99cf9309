"""The SOQL the local org understands, parsed by a small recursive-descent parser.

    SELECT item, … FROM Obj [alias] [WHERE cond] [WITH SECURITY_ENFORCED|USER_MODE|SYSTEM_MODE]
           [GROUP BY item, … [HAVING cond]] [ORDER BY item [ASC|DESC] [NULLS FIRST|LAST], …]
           [LIMIT n] [OFFSET n]

Select items: fields and parent fields by dot notation (Account.Owner.Name), child subqueries
((SELECT … FROM Contacts)), functions (COUNT(), COUNT(Id), COUNT_DISTINCT, SUM, AVG, MIN, MAX, date
functions such as CALENDAR_YEAR, FIELDS(ALL|STANDARD|CUSTOM)) with optional aliases. cond: comparisons
(= != <> < <= > >=), [NOT] IN (values or a semi-join SELECT), LIKE, INCLUDES/EXCLUDES, AND/OR/NOT,
parentheses. Literals: quoted strings with backslash escapes, numbers, true/false/null, dates, datetimes,
date literals (TODAY, LAST_N_DAYS:7, …). Keywords and names are case-insensitive. The parser knows only
syntax (standins/org/compiler.py checks names and types); anything else is refused with a SoqlError
(answered as 400 MALFORMED_QUERY), never guessed at.
"""

import re
from dataclasses import dataclass, field
from datetime import UTC, date, datetime

from standins.org.date_literals import DATE_LITERALS, DATE_LITERALS_N


class SoqlError(ValueError):
    """A query outside the subset; `code` is the Salesforce errorCode to answer with."""

    def __init__(self, message, code="MALFORMED_QUERY"):
        super().__init__(message)
        self.code = code


_TOKEN = re.compile(
    r"""
    (?P<ws>\s+)
  | (?P<datetime>\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{1,3})?(?:Z|[+-]\d{2}:?\d{2}))
  | (?P<date>\d{4}-\d{2}-\d{2}(?![\d:T]))
  | (?P<number>-?\d+(?:\.\d+)?(?![\w-]))
  | (?P<string>'(?:[^'\\]|\\.)*')
  | (?P<op><=|>=|!=|<>|=|<|>)
  | (?P<punct>[(),.:])
  | (?P<name>[A-Za-z_][A-Za-z0-9_]*)
    """,
    re.VERBOSE,
)
KEYWORDS = {"select", "from", "where", "and", "or", "not", "in", "like", "order", "by", "asc", "desc", "nulls",
            "first", "last", "limit", "offset", "true", "false", "null", "group", "having", "with", "includes",
            "excludes"}
# Names that may stand where an object or relationship name goes although they are keywords.
NAME_KEYWORDS = {"order", "group"}
AGGREGATES = {"COUNT", "COUNT_DISTINCT", "SUM", "AVG", "MIN", "MAX"}
DATE_FUNCTIONS = {"CALENDAR_MONTH", "CALENDAR_QUARTER", "CALENDAR_YEAR", "DAY_IN_MONTH", "DAY_IN_WEEK", "DAY_IN_YEAR",
                  "DAY_ONLY", "FISCAL_MONTH", "FISCAL_QUARTER", "FISCAL_YEAR", "HOUR_IN_DAY", "WEEK_IN_MONTH",
                  "WEEK_IN_YEAR"}
# Salesforce SOQL the local org refuses by name, rather than as a stray word.
UNSUPPORTED = {"typeof", "using", "for", "rollup", "cube", "update", "format", "tolabel", "convertcurrency",
               "distance", "geolocation", "grouping"}
WITH_MODES = {"SECURITY_ENFORCED", "USER_MODE", "SYSTEM_MODE"}
_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "b": "\b", "f": "\f", "'": "'", '"': '"', "\\": "\\", "_": "\\_",
            "%": "\\%"}


@dataclass
class Token:
    kind: str
    text: str
    value: object
    pos: int


@dataclass
class Call:
    """A function: an aggregate (COUNT(Id)), a date function (CALENDAR_YEAR(CreatedDate)), FIELDS(ALL)."""
    name: str  # upper case
    arg: object = None  # a field path, a nested Call (convertTimezone(…)), a FIELDS kind, or None for COUNT()
    text: str = field(default="", compare=False)  # as written: the column's displayName


@dataclass
class DateLiteral:
    """A relative date range (TODAY, LAST_N_DAYS:7), evaluated when the query runs."""
    name: str
    n: int | None = None


@dataclass
class Selected:
    """One SELECT item: a field path ("Account.Name"), a Call, or a child subquery (a Query)."""
    expr: object
    alias: str | None = None


@dataclass
class Comparison:
    field: object  # a field path or a Call
    op: str  # = != < <= > >= in notin like includes excludes
    value: object  # a literal, a DateLiteral, a list for IN / INCLUDES, or a Query for a semi-join


@dataclass
class BoolOp:
    op: str  # and / or / not
    parts: list


@dataclass
class Query:
    select: list
    sobject: str
    alias: str | None = None
    where: object = None
    with_mode: str | None = None
    group_by: list = field(default_factory=list)  # field paths and Calls
    having: object = None
    order_by: list = field(default_factory=list)  # (field path or Call, descending, nulls_last)
    limit: int | None = None
    offset: int | None = None  # None: no OFFSET clause (one with 0 still limits the answer to one batch)

    @property
    def fields(self) -> list:
        """The SELECT items' expressions, in order."""
        return [s.expr for s in self.select]

    @property
    def count(self) -> bool:
        """SELECT COUNT() …: the answer is a number of rows, not records."""
        return any(isinstance(e, Call) and e.name == "COUNT" and e.arg is None for e in self.fields)

    @property
    def aggregate(self) -> bool:
        """GROUP BY, or an aggregate function selected: the answer is AggregateResult records."""
        return bool(self.group_by) or any(isinstance(e, Call) and e.name in AGGREGATES and e.arg is not None
                                          for e in self.fields)


def _unescape(body: str) -> str:
    out, i = [], 0
    while i < len(body):
        c = body[i]
        if c == "\\":
            if i + 1 >= len(body) or body[i + 1] not in _ESCAPES:
                raise SoqlError(f"invalid escape sequence in string literal: \\{body[i + 1:i + 2]}")
            out.append(_ESCAPES[body[i + 1]])
            i += 2
        else:
            out.append(c)
            i += 1
    return "".join(out)


def _datetime(text: str) -> datetime:
    text = text.replace("Z", "+00:00")
    if re.search(r"[+-]\d{4}$", text):
        text = text[:-2] + ":" + text[-2:]
    return datetime.fromisoformat(text).astimezone(UTC)


def tokenize(text: str) -> list[Token]:
    """Split a query into tokens; an unknown character is a MALFORMED_QUERY."""
    tokens, pos = [], 0
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if not m:
            raise SoqlError(f"unexpected character {text[pos]!r} at position {pos}")
        kind = m.lastgroup
        raw = m.group()
        pos = m.end()
        if kind == "ws":
            continue
        if kind == "string":
            value = _unescape(raw[1:-1])
        elif kind == "number":
            value = float(raw) if "." in raw else int(raw)
        elif kind == "date":
            value = date.fromisoformat(raw)
        elif kind == "datetime":
            value = _datetime(raw)
        elif kind == "name" and raw.lower() in KEYWORDS:
            kind, value = "keyword", raw.lower()
        else:
            value = raw
        tokens.append(Token(kind, raw, value, m.start()))
    tokens.append(Token("end", "", None, len(text)))
    return tokens


class _Parser:
    def __init__(self, text):
        self.text = text
        self.tokens = tokenize(text)
        self.i = 0

    # ---- tokens ---------------------------------------------------------------------------------

    @property
    def tok(self):
        return self.tokens[self.i]

    def peek(self, n=1):
        return self.tokens[min(self.i + n, len(self.tokens) - 1)]

    def take(self):
        t = self.tokens[self.i]
        self.i += 1
        return t

    def at(self, *keywords):
        return self.tok.kind == "keyword" and self.tok.value in keywords

    def at_punct(self, p, tok=None):
        t = tok or self.tok
        return t.kind == "punct" and t.value == p

    def found(self, t=None):
        t = t or self.tok
        return repr(t.text) if t.text else "end of query"

    def expect_keyword(self, kw):
        if not self.at(kw):
            raise SoqlError(f"expected {kw.upper()} at position {self.tok.pos}, found {self.found()}")
        self.take()

    def expect_punct(self, p):
        if not self.at_punct(p):
            raise SoqlError(f"expected {p!r} at position {self.tok.pos}, found {self.found()}")
        self.take()

    def comma(self):
        """Take a comma if there is one."""
        if self.at_punct(","):
            self.take()
            return True
        return False

    def refuse_unsupported(self, t):
        if t.kind == "name" and t.value.lower() in UNSUPPORTED:
            raise SoqlError(f"{t.value.upper()} is not supported by the local org")

    # ---- names ----------------------------------------------------------------------------------

    def name(self, what="a field name"):
        t = self.tok
        relationship = self.at_punct(".", self.peek())
        if t.kind == "keyword" and t.value in NAME_KEYWORDS and (what == "an object name" or relationship):
            t = Token("name", t.text, t.text, t.pos)  # FROM Order ORDER BY …; Order.Account.Name on OrderItem
        if t.kind != "name":
            raise SoqlError(f"expected {what} at position {t.pos}, found {self.found(t)}")
        self.refuse_unsupported(t)
        self.take()
        return t.value

    def path(self) -> str:
        """A field, or a parent field by dot notation: `Account.Owner.Name`."""
        parts = [self.name()]
        while self.at_punct("."):
            self.take()
            parts.append(self.name())
        return ".".join(parts)

    def operand(self):
        """A field path or a function call (COUNT(Id), CALENDAR_YEAR(CreatedDate), FIELDS(ALL))."""
        if self.tok.kind == "name" and self.at_punct("(", self.peek()):
            return self.call()
        return self.path()

    def call(self) -> Call:
        start = self.tok
        self.refuse_unsupported(start)
        name = self.take().value.upper()
        self.expect_punct("(")
        if name in AGGREGATES:
            arg = None if self.at_punct(")") else self.operand()
            if arg is None and name != "COUNT":
                raise SoqlError(f"{name}() takes a field")
        elif name in DATE_FUNCTIONS or name == "CONVERTTIMEZONE":
            arg = self.operand()
        elif name == "FIELDS":
            arg = self.name("ALL, STANDARD or CUSTOM").upper()
            if arg not in ("ALL", "STANDARD", "CUSTOM"):
                raise SoqlError(f"FIELDS() takes ALL, STANDARD or CUSTOM, not {arg}")
        else:
            raise SoqlError(f"unknown function {name}() at position {start.pos}")
        end = self.tok
        self.expect_punct(")")
        return Call(name, arg, self.text[start.pos:end.pos + 1])

    # ---- the query ------------------------------------------------------------------------------

    def query(self, nested=False) -> Query:
        self.expect_keyword("select")
        q = Query(select=[self.select_item()], sobject="")
        while self.comma():
            q.select.append(self.select_item())
        self.expect_keyword("from")
        q.sobject = self.name("an object name")
        if self.at_punct(","):
            raise SoqlError("FROM with several objects (FROM Contact, Contact.Account) is not supported by the local "
                            "org: use relationship fields (Account.Name)")
        if self.tok.kind == "name":
            self.refuse_unsupported(self.tok)
            q.alias = self.take().value
        if self.at("where"):
            self.take()
            q.where = self.disjunction()
        if self.at("with"):
            self.take()
            mode = self.name("SECURITY_ENFORCED, USER_MODE or SYSTEM_MODE").upper()
            if mode not in WITH_MODES:
                raise SoqlError(f"WITH {mode} is not supported by the local org")
            q.with_mode = mode
        if self.at("group"):
            self.take()
            self.expect_keyword("by")
            self.refuse_unsupported(self.tok)
            q.group_by.append(self.operand())
            while self.comma():
                q.group_by.append(self.operand())
        if self.at("having"):
            self.take()
            q.having = self.disjunction()
        if self.at("order"):
            self.take()
            self.expect_keyword("by")
            q.order_by.append(self.order_item())
            while self.comma():
                q.order_by.append(self.order_item())
        if self.at("limit"):
            self.take()
            q.limit = self.count_value("LIMIT")
        if self.at("offset"):
            self.take()
            q.offset = self.count_value("OFFSET")
        self.refuse_unsupported(self.tok)
        if not (self.tok.kind == "end" or nested and self.at_punct(")")):
            raise SoqlError(f"unexpected {self.tok.text!r} at position {self.tok.pos}")
        return q

    def select_item(self) -> Selected:
        if self.at_punct("("):
            self.take()
            sub = self.query(nested=True)
            self.expect_punct(")")
            return Selected(sub)
        expr = self.operand()
        alias = None
        if self.tok.kind == "name":
            self.refuse_unsupported(self.tok)
            alias = self.take().value
        return Selected(expr, alias)

    def count_value(self, what):
        t = self.take()
        if t.kind != "number" or not isinstance(t.value, int) or t.value < 0:
            raise SoqlError(f"{what} takes a whole number, found {self.found(t)}")
        return t.value

    def order_item(self):
        f = self.operand()
        desc, nulls_last = False, None
        if self.at("asc", "desc"):
            desc = self.take().value == "desc"
        if self.at("nulls"):
            self.take()
            if not self.at("first", "last"):
                raise SoqlError("NULLS takes FIRST or LAST")
            nulls_last = self.take().value == "last"
        return (f, desc, nulls_last)

    # ---- conditions -----------------------------------------------------------------------------

    def _chain(self, op, operand):
        """`operand (op operand)*` as one BoolOp (or the lone operand)."""
        parts = [operand()]
        while self.at(op):
            self.take()
            parts.append(operand())
        return parts[0] if len(parts) == 1 else BoolOp(op, parts)

    def disjunction(self):
        return self._chain("or", self.conjunction)

    def conjunction(self):
        return self._chain("and", self.unary)

    def unary(self):
        if self.at("not"):
            self.take()
            return BoolOp("not", [self.unary()])
        if self.at_punct("("):
            self.take()
            inner = self.disjunction()
            self.expect_punct(")")
            return inner
        return self.comparison()

    def comparison(self):
        f = self.operand()
        if self.tok.kind == "op":
            op = self.take().value
            return Comparison(f, "!=" if op == "<>" else op, self.literal())
        negate = False
        if self.at("not"):
            self.take()
            negate = True
            if not self.at("in"):
                raise SoqlError(f"expected IN after NOT at position {self.tok.pos}")
        if self.at("in"):
            self.take()
            self.expect_punct("(")
            if self.at("select"):
                values = self.query(nested=True)
            else:
                values = [self.literal()]
                while self.comma():
                    values.append(self.literal())
            self.expect_punct(")")
            return Comparison(f, "notin" if negate else "in", values)
        if self.at("like"):
            self.take()
            t = self.take()
            if t.kind != "string":
                raise SoqlError("LIKE takes a quoted string")
            return Comparison(f, "like", t.value)
        if self.at("includes", "excludes"):
            op = self.take().value
            self.expect_punct("(")
            values = [self.string()]
            while self.comma():
                values.append(self.string())
            self.expect_punct(")")
            return Comparison(f, op, values)
        raise SoqlError(f"expected an operator after {f} at position {self.tok.pos}")

    def string(self):
        t = self.take()
        if t.kind != "string":
            raise SoqlError(f"expected a quoted string at position {t.pos}, found {self.found(t)}")
        return t.value

    def literal(self):
        t = self.take()
        if t.kind in ("string", "number", "date", "datetime"):
            return t.value
        if t.kind == "keyword" and t.value in ("true", "false"):
            return t.value == "true"
        if t.kind == "keyword" and t.value == "null":
            return None
        if t.kind == "name" and t.value.upper() in DATE_LITERALS:
            return DateLiteral(t.value.upper())
        if t.kind == "name" and t.value.upper() in DATE_LITERALS_N:
            self.expect_punct(":")
            n = self.take()
            if n.kind != "number" or not isinstance(n.value, int) or n.value < 0:
                raise SoqlError(f"{t.value.upper()} takes a whole number, found {self.found(n)}")
            return DateLiteral(t.value.upper(), n.value)
        if t.kind == "name":
            raise SoqlError(f"unknown date literal or value {t.text!r} at position {t.pos}")
        if self.at_punct(":", t):
            raise SoqlError(f"bind variables (:{self.tok.text}) belong to Apex: the API takes literal values")
        raise SoqlError(f"expected a value at position {t.pos}, found {self.found(t)}")


def parse(text: str) -> Query:
    """Parse one query of the subset; raise SoqlError with a clear message otherwise."""
    if not text or not text.strip():
        raise SoqlError("the query is empty")
    return _Parser(text).query()
