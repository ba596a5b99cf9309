"""The SOSL subset the local org understands: a small parser, and what a search term matches.

    FIND {terms} [IN ALL|NAME|EMAIL|PHONE FIELDS]
        [RETURNING Obj [(fields [WHERE …] [ORDER BY …] [LIMIT n] [OFFSET n])], …] [LIMIT n]

terms: words and "quoted phrases", `*` (any letters or digits, none included) and `?` (exactly one)
in the middle or at the end of a word, AND / OR / AND NOT (AND binds tighter; two terms side by side
are ANDed, as Salesforce does), parentheses. A reserved character (? & | ! { } [ ] ( ) ^ ~ * : \\ " ' + -)
is searched for literally when escaped with a backslash; unescaped it is refused as Salesforce
refuses it. The field list, WHERE and ORDER BY of a RETURNING object are SOQL: they are handed to
the SOQL parser and compiler (standins/org/soql.py, compiler.py), never parsed here.

Matching follows Salesforce's tokenised search: text is split into words at spaces and punctuation,
a word matches whole words (case-insensitively), a phrase matches its words in order, and
punctuation inside a term separates words as it does in the text (acme.com is the phrase acme com).
No stemming, synonyms, spell correction or relevance ranking: see docs/local-org.md.
"""

import re
from dataclasses import dataclass, field

from standins.org import soql
from standins.org.describe import objects

# The most records one search returns, and the default when no LIMIT is given.
MAX_RESULTS = 2000
SCOPES = ("ALL", "NAME", "EMAIL", "PHONE")
# Characters a search term must escape with a backslash to search for them literally.
RESERVED = set("?&|!{}[]()^~*:\\\"'+-")
# Searched under ALL FIELDS: text fields (numbers, dates, picklists and references are not searchable).
TEXT_TYPES = ("string", "textarea", "email", "phone", "url")
# Besides their name field, NAME FIELDS searches these fields of some standard objects (SOSL reference).
NAME_FIELD_EXTRAS = {"Account": ("Website", "Site", "NameLocal"),
                     "Case": ("SuppliedName", "SuppliedCompany", "Subject"),
                     "Contact": ("AssistantName", "FirstNameLocal", "LastNameLocal"),
                     "Lead": ("Company", "CompanyLocal", "FirstNameLocal", "LastNameLocal")}
# Objects whose search ignores IN …: all their text fields are searched whatever the scope.
ALL_FIELDS_ALWAYS = {"Product2", "Solution", "Document"}
# Regular-expression pieces (Postgres ARE) for a word boundary, the gap between words, and wildcards.
_EDGE_BEFORE, _EDGE_AFTER, _GAP = "(^|[^[:alnum:]])", "([^[:alnum:]]|$)", "[^[:alnum:]]+"
_STAR, _ONE = "[[:alnum:]]*", "[[:alnum:]]"


class SoslError(soql.SoqlError):
    """A search outside the subset; answered 400 with `code` (MALFORMED_SEARCH unless told otherwise)."""

    def __init__(self, message, code="MALFORMED_SEARCH"):
        super().__init__(message, code)


@dataclass
class Term:
    """A word or a quoted phrase, as the regular expression that finds it in a field's text."""

    text: str
    pattern: str


@dataclass
class Op:
    """AND, OR or AND NOT ("andnot": the first part and none of the others) over terms and ops."""

    op: str
    parts: list


@dataclass
class Returning:
    """One object to return: a SOQL field list, WHERE and ORDER BY (raw text), LIMIT and OFFSET."""

    sobject: str
    fields: str | None = None
    where: str | None = None
    order_by: str | None = None
    limit: int | None = None
    offset: int = 0


@dataclass
class Search:
    """A parsed search: what to find, in which fields, what to return, how many at most."""

    terms: object
    text: str
    scope: str = "ALL"
    returning: list = field(default_factory=list)
    limit: int = MAX_RESULTS


def _error_at(text: str, pos: int, reason: str) -> SoslError:
    """A MALFORMED_SEARCH pointing at the offending character, in Salesforce's message layout.

    Salesforce numbers the column from 0 and draws its caret one character to the left of it.
    """
    line = text[:pos].count("\n") + 1
    column = pos - (text.rfind("\n", 0, pos) + 1)
    return SoslError(f"\n{text}\n{' ' * max(column - 1, 0)}^\nERROR at Row:{line}:Column:{column}\n{reason}")


# ---- the search terms: what is between the braces ---------------------------------------------------

def _word_pattern(items) -> str | None:
    """The pattern for one word or phrase: ('c', char) / ('*',) / ('?',) items, split into words as text is."""
    words, current = [], []
    for item in items:
        if item[0] in ("*", "?") or item[1].isalnum():
            current.append(_STAR if item[0] == "*" else _ONE if item[0] == "?" else item[1].lower())
        elif current:
            words.append("".join(current))
            current = []
    if current:
        words.append("".join(current))
    if not words:
        return None
    return _EDGE_BEFORE + _GAP.join(words) + _EDGE_AFTER


class _TermLexer:
    """Words, phrases, parentheses and operators of a search expression, escapes resolved."""

    def __init__(self, text: str, offset: int = 0, source: str | None = None):
        self.text, self.offset, self.source = text, offset, source if source is not None else text
        self.pos = 0

    def fail(self, pos, reason):
        return _error_at(self.source, self.offset + pos, reason)

    def tokens(self) -> list[tuple[str, object, int]]:
        out = []
        while self.pos < len(self.text):
            c = self.text[self.pos]
            if c.isspace():
                self.pos += 1
            elif c in "()":
                out.append((c, c, self.pos))
                self.pos += 1
            elif c == '"':
                out.append(self.phrase())
            else:
                out.append(self.word())
        return out

    def item(self, items):
        """One character of a term: an escaped one, a wildcard, or a plain one (a reserved one is refused)."""
        c = self.text[self.pos]
        if c == "\\":
            if self.pos + 1 >= len(self.text):
                raise self.fail(self.pos, "a backslash must be followed by the character it escapes")
            self.pos += 2
            return ("c", self.text[self.pos - 1])
        if c in "*?":
            if not any(item[0] == "c" and item[1].isalnum() for item in items):
                raise self.fail(self.pos, f"a wildcard ({c}) cannot begin a search term")
            self.pos += 1
            return (c,)
        if c in RESERVED:
            raise self.fail(self.pos, f"mismatched character '{c}': escape it as \\{c}")
        self.pos += 1
        return ("c", c)

    def phrase(self):
        start, items = self.pos, []
        self.pos += 1
        while self.pos < len(self.text) and self.text[self.pos] != '"':
            items.append(self.item(items))
        if self.pos >= len(self.text):
            raise self.fail(start, "unterminated quoted phrase")
        self.pos += 1
        return ("term", items, start)

    def word(self):
        start, items = self.pos, []
        while self.pos < len(self.text) and not (self.text[self.pos].isspace() or self.text[self.pos] in '()"'):
            items.append(self.item(items))
        raw = self.text[start:self.pos]
        if raw.upper() in ("AND", "OR", "NOT"):
            return ("op", raw.upper(), start)
        return ("term", items, start)


class _TermParser:
    """expr := conj (OR conj)* ; conj := unary ((AND [NOT] | nothing) unary)* ; unary := ( expr ) | term."""

    def __init__(self, lexer: _TermLexer):
        self.lexer = lexer
        self.tokens = lexer.tokens()
        self.i = 0

    def peek(self):
        return self.tokens[self.i] if self.i < len(self.tokens) else ("end", None, len(self.lexer.text))

    def fail(self, reason):
        return self.lexer.fail(self.peek()[2], reason)

    def expression(self):
        parts = [self.conjunction()]
        while self.peek()[:2] == ("op", "OR"):
            self.i += 1
            parts.append(self.conjunction())
        return parts[0] if len(parts) == 1 else Op("or", parts)

    def conjunction(self):
        node = self.unary()
        while True:
            kind, value, _ = self.peek()
            if (kind, value) == ("op", "AND"):
                self.i += 1
                if self.peek()[:2] == ("op", "NOT"):
                    self.i += 1
                    node = Op("andnot", [node, self.unary()])
                else:
                    node = Op("and", [node, self.unary()])
            elif kind in ("term", "("):
                node = Op("and", [node, self.unary()])  # side by side: AND, Salesforce's default
            else:
                return node

    def unary(self):
        kind, value, pos = self.peek()
        if kind == "(":
            self.i += 1
            inner = self.expression()
            if self.peek()[0] != ")":
                raise self.fail("expecting ')'")
            self.i += 1
            return inner
        if kind == "term":
            self.i += 1
            end = self.tokens[self.i][2] if self.i < len(self.tokens) else len(self.lexer.text)
            return Term(self.lexer.text[pos:end].strip(), _word_pattern(value))
        if kind == "op":
            raise self.fail(f"{value} must stand between two search terms (quote it to search for the word)")
        raise self.fail("expecting a search term")


def _significant_length(text: str) -> int:
    """How many letters and digits a search names, wildcards and operators aside."""
    words = [w for w in re.split(r"\s+", text) if w.upper() not in ("AND", "OR", "NOT")]
    return sum(c.isalnum() for w in words for c in w)


def parse_terms(text: str, offset: int = 0, source: str | None = None):
    """The search expression of FIND {…} (or of parameterizedSearch's q) as Term / Op nodes."""
    if _significant_length(text) < 2:
        raise SoslError(f"search term must be longer than one character: {text.strip()}", "INVALID_SEARCH")
    parser = _TermParser(_TermLexer(text, offset, source))
    node = parser.expression()
    if parser.i < len(parser.tokens):
        kind, value, _ = parser.peek()
        raise parser.fail(f"unexpected '{value if kind == 'op' else kind}'")
    return node


# ---- the clauses after the braces ------------------------------------------------------------------

_CLAUSE_TOKEN = re.compile(r"\s+|(?P<string>'(?:[^'\\]|\\.)*')|(?P<number>\d+)|(?P<name>[A-Za-z_][A-Za-z0-9_]*)"
                           r"|(?P<punct>[(),])|(?P<other>.)", re.S)


def _clause_tokens(text: str, start: int):
    """(kind, text, position) tokens of the SOSL clauses; strings kept whole so WHERE text survives."""
    out = []
    for m in _CLAUSE_TOKEN.finditer(text, start):
        if m.lastgroup:
            out.append((m.lastgroup, m.group(), m.start()))
    out.append(("end", "", len(text)))
    return out


class _ClauseParser:
    def __init__(self, text: str, start: int):
        self.text = text
        self.tokens = _clause_tokens(text, start)
        self.i = 0

    @property
    def tok(self):
        return self.tokens[self.i]

    def at(self, *words):
        return self.tok[0] == "name" and self.tok[1].upper() in words

    def fail(self, reason):
        return _error_at(self.text, self.tok[2], reason)

    def take_name(self, what):
        if self.tok[0] != "name":
            raise self.fail(f"expecting {what}, found '{self.tok[1] or 'end of search'}'")
        self.i += 1
        return self.tokens[self.i - 1][1]

    def take_count(self, what):
        if self.tok[0] != "number":
            raise self.fail(f"{what} takes a whole number, found '{self.tok[1] or 'end of search'}'")
        self.i += 1
        return int(self.tokens[self.i - 1][1])

    def clauses(self, search: Search):
        if self.at("IN"):
            self.i += 1
            scope = self.take_name("a search group (ALL, NAME, EMAIL or PHONE)").upper()
            if scope == "SIDEBAR":
                raise SoslError("IN SIDEBAR FIELDS is not supported by the local org")
            if scope not in SCOPES:
                self.i -= 1
                raise self.fail(f"Malformed search token: {self.tok[1]}")
            if not self.at("FIELDS"):
                raise self.fail(f"Malformed search token: {self.tok[1] or 'end of search'}")
            self.i += 1
            search.scope = scope
        if self.at("RETURNING"):
            self.i += 1
            search.returning.append(self.returning())
            while self.tok[0] == "punct" and self.tok[1] == ",":
                self.i += 1
                search.returning.append(self.returning())
        if self.at("WITH", "UPDATE"):
            raise SoslError(f"{self.tok[1].upper()} … clauses are not supported by the local org")
        if self.at("LIMIT"):
            self.i += 1
            search.limit = min(self.take_count("LIMIT"), MAX_RESULTS)
        if self.tok[0] != "end":
            raise self.fail(f"unexpected token: '{self.tok[1]}'")

    def returning(self) -> Returning:
        spec = Returning(self.take_name("an object name"))
        if not (self.tok[0] == "punct" and self.tok[1] == "("):
            return spec
        self.i += 1
        spec.fields = self.soql_until("WHERE", "ORDER", "LIMIT", "OFFSET")
        if not spec.fields:
            raise self.fail("expecting a field name")
        if self.at("WHERE"):
            self.i += 1
            spec.where = self.soql_until("ORDER", "LIMIT", "OFFSET")
        if self.at("ORDER"):
            self.i += 1
            if not self.at("BY"):
                raise self.fail("expecting BY after ORDER")
            self.i += 1
            spec.order_by = self.soql_until("LIMIT", "OFFSET")
        if self.at("LIMIT"):
            self.i += 1
            spec.limit = self.take_count("LIMIT")
        if self.at("OFFSET"):
            self.i += 1
            spec.offset = self.take_count("OFFSET")
        if not (self.tok[0] == "punct" and self.tok[1] == ")"):
            raise self.fail(f"expecting ')', found '{self.tok[1] or 'end of search'}'")
        self.i += 1
        return spec

    def soql_until(self, *stops) -> str:
        """The SOQL text from here to the next stop word or closing parenthesis outside parentheses."""
        start, depth = self.tok[2], 0
        while True:
            kind, text, pos = self.tok
            if kind == "end":
                raise self.fail("expecting ')'")
            if depth == 0 and (kind == "punct" and text == ")" or kind == "name" and text.upper() in stops):
                return self.text[start:pos].strip()
            if kind == "punct" and text in "()":
                depth += 1 if text == "(" else -1
            self.i += 1


def _closing_brace(text: str, start: int) -> int:
    """Where the search expression that opens at `start` ends: the first unescaped } outside quotes."""
    i, quoted = start, False
    while i < len(text):
        c = text[i]
        if c == "\\":
            i += 2
            continue
        if c == '"':
            quoted = not quoted
        elif c == "}" and not quoted:
            return i
        i += 1
    raise _error_at(text, len(text), "expecting '}'")


def parse(text: str) -> Search:
    """Parse one search of the subset; raise SoslError (400 MALFORMED_SEARCH) otherwise."""
    if not text or not text.strip():
        raise SoslError("the search is empty: it must begin FIND {…}")
    m = re.match(r"\s*FIND\s*", text, re.I)
    if not m:
        raise _error_at(text, len(text) - len(text.lstrip()), "expecting FIND")
    if text[m.end():m.end() + 1] != "{":
        raise _error_at(text, m.end(), "expecting '{': the search terms go between braces, FIND {…}")
    end = _closing_brace(text, m.end() + 1)
    inner = text[m.end() + 1:end]
    search = Search(parse_terms(inner, m.end() + 1, text), inner.strip())
    _ClauseParser(text, end + 1).clauses(search)
    return search


# ---- which fields a scope searches ----------------------------------------------------------------

def searchable_objects() -> list[str]:
    """The objects a search without RETURNING looks through, in describe order."""
    return [name for name, o in objects().items() if o.get("searchable", True)]


def _name_fields(obj: dict) -> list[dict]:
    fields = obj["fields"]
    flagged = [f for f in fields if f.get("nameField")]
    if not flagged:
        # Describe data without nameField flags: the Name field, else the auto-number that names the
        # record (CaseNumber, OrderNumber, …), as Salesforce's name fields are.
        flagged = [f for f in fields if f["name"] == "Name"] or [f for f in fields if f.get("autoNumber")][:1]
    extras = NAME_FIELD_EXTRAS.get(obj["name"], ())
    return flagged + [f for f in fields if f["name"] in extras and f not in flagged]


def searched_fields(obj_name: str, scope: str) -> list[dict]:
    """The fields of an object a search IN `scope` FIELDS looks at."""
    obj = objects()[obj_name]
    text_fields = [f for f in obj["fields"] if f["type"] in TEXT_TYPES]
    if scope == "ALL" or obj_name in ALL_FIELDS_ALWAYS:
        return text_fields
    if scope == "NAME":
        return [f for f in _name_fields(obj) if f["type"] in TEXT_TYPES]
    return [f for f in text_fields if f["type"] == scope.lower()]
