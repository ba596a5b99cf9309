"""The SOQL subset the local org understands, parsed by a small recursive-descent parser.

    SELECT f1, f2 FROM Obj [WHERE cond] [ORDER BY f [ASC|DESC] [NULLS FIRST|LAST], …] [LIMIT n] [OFFSET n]

cond: comparisons (= != <> < <= > >=), [NOT] IN (…), LIKE, AND/OR/NOT, parentheses. Literals: quoted
strings with backslash escapes, numbers, true/false/null, dates (2024-01-01) and datetimes
(2024-01-01T00:00:00Z, …+00:00, ….000Z). Keywords and names are case-insensitive. Anything else is
refused with a SoqlError (answered as 400 MALFORMED_QUERY), never guessed at.
"""

import re
from dataclasses import dataclass, field
from datetime import UTC, date, datetime


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
  | (?P<punct>[(),.])
  | (?P<name>[A-Za-z_][A-Za-z0-9_]*)
    """,
    re.VERBOSE,
)
KEYWORDS = {"select", "from", "where", "and", "or", "not", "in", "like", "order", "by", "asc", "desc", "nulls",
            "first", "last", "limit", "offset", "true", "false", "null"}
UNSUPPORTED = {"group", "having", "with", "typeof", "using", "for", "includes", "excludes", "rollup", "cube"}
_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "b": "\b", "f": "\f", "'": "'", '"': '"', "\\": "\\", "_": "\\_",
            "%": "\\%"}


@dataclass
class Token:
    kind: str
    text: str
    value: object
    pos: int


@dataclass
class Comparison:
    field: str
    op: str  # = != < <= > >= in notin like
    value: object  # a literal, or a list for IN


@dataclass
class BoolOp:
    op: str  # and / or / not
    parts: list


@dataclass
class Query:
    fields: list
    sobject: str
    where: object = None
    order_by: list = field(default_factory=list)  # (field, descending, nulls_last)
    limit: int | None = None
    offset: int = 0
    count: bool = False


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
        self.tokens = tokenize(text)
        self.i = 0

    @property
    def tok(self):
        return self.tokens[self.i]

    def take(self):
        t = self.tokens[self.i]
        self.i += 1
        return t

    def at(self, *keywords):
        return self.tok.kind == "keyword" and self.tok.value in keywords

    def expect_keyword(self, kw):
        if not self.at(kw):
            found = self.tok.text or "end of query"
            raise SoqlError(f"expected {kw.upper()} at position {self.tok.pos}, found {found!r}")
        self.take()

    def expect_punct(self, p):
        if not (self.tok.kind == "punct" and self.tok.value == p):
            raise SoqlError(f"expected {p!r} at position {self.tok.pos}, found {self.tok.text or 'end of query'!r}")
        self.take()

    def name(self, what="a field name"):
        t = self.tok
        if what == "an object name" and t.kind == "keyword" and t.value == "order":
            t = Token("name", t.text, t.text, t.pos)  # the Order object: FROM Order ORDER BY … is valid SOQL
        if t.kind != "name":
            raise SoqlError(f"expected {what} at position {t.pos}, found {t.text or 'end of query'!r}")
        if t.value.lower() in UNSUPPORTED:
            raise SoqlError(f"{t.value.upper()} is not supported by the local org")
        self.take()
        if self.tok.kind == "punct" and self.tok.value == ".":
            raise SoqlError(f"relationship queries ({t.value}.…) are not supported by the local org")
        if self.tok.kind == "punct" and self.tok.value == "(":
            raise SoqlError(f"function {t.value}() is not supported by the local org")
        return t.value

    def query(self) -> Query:
        self.expect_keyword("select")
        q = Query(fields=[], sobject="")
        if self.tok.kind == "name" and self.tok.value.lower() == "count" and self.tokens[self.i + 1].value == "(":
            self.take()
            self.expect_punct("(")
            self.expect_punct(")")
            q.count = True
        else:
            if self.tok.kind == "punct" and self.tok.value == "(":
                raise SoqlError("subqueries are not supported by the local org")
            q.fields.append(self.name())
            while self.tok.kind == "punct" and self.tok.value == ",":
                self.take()
                if self.tok.kind == "punct" and self.tok.value == "(":
                    raise SoqlError("subqueries are not supported by the local org")
                q.fields.append(self.name())
        self.expect_keyword("from")
        q.sobject = self.name("an object name")
        if self.at("where"):
            self.take()
            q.where = self.disjunction()
        if self.at("order"):
            self.take()
            self.expect_keyword("by")
            q.order_by.append(self.order_item())
            while self.tok.kind == "punct" and self.tok.value == ",":
                self.take()
                q.order_by.append(self.order_item())
        if self.at("limit"):
            self.take()
            q.limit = self.count_value("LIMIT")
        if self.at("offset"):
            self.take()
            q.offset = self.count_value("OFFSET")
        if self.tok.kind != "end":
            raise SoqlError(f"unexpected {self.tok.text!r} at position {self.tok.pos}")
        return q

    def count_value(self, what):
        t = self.take()
        if t.kind != "number" or not isinstance(t.value, int) or t.value < 0:
            raise SoqlError(f"{what} takes a whole number, found {t.text or 'end of query'!r}")
        return t.value

    def order_item(self):
        f = self.name()
        desc, nulls_last = False, None
        if self.at("asc", "desc"):
            desc = self.take().value == "desc"
        if self.at("nulls"):
            self.take()
            if not self.at("first", "last"):
                raise SoqlError("NULLS takes FIRST or LAST")
            nulls_last = self.take().value == "last"
        return (f, desc, nulls_last)

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
        if self.tok.kind == "punct" and self.tok.value == "(":
            self.take()
            inner = self.disjunction()
            self.expect_punct(")")
            return inner
        return self.comparison()

    def comparison(self):
        f = self.name()
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
                raise SoqlError("semi-join subqueries are not supported by the local org")
            values = [self.literal()]
            while self.tok.kind == "punct" and self.tok.value == ",":
                self.take()
                values.append(self.literal())
            self.expect_punct(")")
            return Comparison(f, "notin" if negate else "in", values)
        if self.at("like"):
            self.take()
            t = self.take()
            if t.kind != "string":
                raise SoqlError("LIKE takes a quoted string")
            return Comparison(f, "like", t.value)
        raise SoqlError(f"expected an operator after {f} at position {self.tok.pos}")

    def literal(self):
        t = self.take()
        if t.kind in ("string", "number", "date", "datetime"):
            return t.value
        if t.kind == "keyword" and t.value in ("true", "false"):
            return t.value == "true"
        if t.kind == "keyword" and t.value == "null":
            return None
        raise SoqlError(f"expected a value at position {t.pos}, found {t.text or 'end of query'!r}")


def parse(text: str) -> Query:
    """Parse one query of the subset; raise SoqlError with a clear message otherwise."""
    if not text or not text.strip():
        raise SoqlError("the query is empty")
    return _Parser(text).query()
