"""Composite: up to 25 subrequests in one call, each answered by the org's own routes, later ones using earlier results.

POST /composite `{"allOrNone", "collateSubrequests", "compositeRequest": [{"method", "url",
"referenceId", "body", "httpHeaders"}]}` answers `{"compositeResponse": [{"body", "httpHeaders",
"httpStatusCode", "referenceId"}]}` in request order, as Salesforce does:

- `@{ref.id}`, `@{ref.Name}`, `@{ref.records[0].Id}` in a URL or a body stand for a value of an
  earlier subrequest's answer; a reference to a failed subrequest (or a value that is not there)
  makes that subrequest answer PROCESSING_HALTED, and the others go on.
- Each subrequest runs through the Flask app itself (the same routes, rules and answers as a call of
  its own), marked as a subrequest so the composite counts as one API request.
- They share one transaction (Org.one_transaction). With allOrNone, the first failure undoes them
  all: it keeps its answer, every other subrequest answers PROCESSING_HALTED, and an sObject
  Collections subrequest behaves as allOrNone whatever its own flag says.
"""

import json
import re

import psycopg
from flask import jsonify, request
from psycopg import pq
from werkzeug.test import EnvironBuilder
from werkzeug.wrappers import Response

from standins.org.api.common import BASE, COMPOSITE_ALL_OR_NONE, SUBREQUEST, record_body
from standins.org.errors import SalesforceError

COMPOSITE_LIMIT = 25
METHODS = ("GET", "POST", "PATCH", "PUT", "DELETE")
# `@{referenceId.field}`, `@{referenceId.records[0].Id}`: a reference and the path into its answer.
REFERENCE = re.compile(r"@\{([A-Za-z0-9_]+)((?:\.[A-Za-z0-9_]+|\[[0-9]+\])+)\}")
PATH_STEP = re.compile(r"\.([A-Za-z0-9_]+)|\[([0-9]+)\]")
REFERENCE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_]*$")
# What a subrequest may address: the org's REST data, but no composite resource other than sObject Collections.
SUBREQUEST_URL = re.compile(r"^/services/data/v[0-9]+\.[0-9]+/(?!composite(?!/sobjects))")
# Headers of a subrequest's answer that the composite passes on (it never passes Content-Length).
ANSWER_HEADERS = ("Location", "ETag", "Last-Modified")
ROLLED_BACK = "The transaction was rolled back since another operation in the same transaction failed."


class _Unresolved(Exception):
    """A reference names no value of an earlier answer."""


def _required(sub: dict, key: str):
    if sub.get(key) in (None, ""):
        raise SalesforceError(400, "JSON_PARSER_ERROR", f"'{key}' is a required field.")
    return sub[key]


def _subrequests(data: dict) -> list[dict]:
    """The request's subrequests, checked as a whole before any of them runs."""
    subrequests = data.get("compositeRequest")
    if subrequests is None:
        raise SalesforceError(400, "JSON_PARSER_ERROR", "'compositeRequest' is a required field.")
    if not isinstance(subrequests, list) or not all(isinstance(s, dict) for s in subrequests):
        raise SalesforceError(400, "JSON_PARSER_ERROR", "compositeRequest must be a list of subrequests")
    if len(subrequests) > COMPOSITE_LIMIT:
        raise SalesforceError(400, "LIMIT_EXCEEDED", f"A composite request takes at most {COMPOSITE_LIMIT} "
                              f"subrequests, not {len(subrequests)}.")
    for flag in ("allOrNone", "collateSubrequests"):
        if not isinstance(data.get(flag, False), bool):
            raise SalesforceError(400, "JSON_PARSER_ERROR", f"'{flag}' must be true or false")
    seen = set()
    for sub in subrequests:
        method, url, reference_id = _required(sub, "method"), _required(sub, "url"), _required(sub, "referenceId")
        if not isinstance(method, str) or method.upper() not in METHODS:
            raise SalesforceError(400, "JSON_PARSER_ERROR", f"HTTP method {method} is not one of {', '.join(METHODS)}")
        if not isinstance(url, str):
            raise SalesforceError(400, "JSON_PARSER_ERROR", "url must be a string")
        if not isinstance(reference_id, str) or not REFERENCE_ID.match(reference_id):
            raise SalesforceError(400, "JSON_PARSER_ERROR", f"Provided referenceId ('{reference_id}') must start with "
                                  "a letter or a number, and it can contain only letters, numbers and underscores "
                                  "('_').")
        if reference_id in seen:
            raise SalesforceError(400, "INVALID_INPUT", "Duplicate ReferenceId provided in the request.")
        seen.add(reference_id)
        if not isinstance(sub.get("httpHeaders") or {}, dict):
            raise SalesforceError(400, "JSON_PARSER_ERROR", "httpHeaders must be an object")
    return subrequests


def _value(answers: dict, reference: str, path: str):
    """The value `path` names in the answer of the subrequest `reference`, or _Unresolved."""
    value = answers.get(reference)
    for key, index in PATH_STEP.findall(path):
        if key:
            value = value.get(key) if isinstance(value, dict) else None
        else:
            value = value[int(index)] if isinstance(value, list) and int(index) < len(value) else None
        if value is None:
            break
    if value is None:
        raise _Unresolved(f"Invalid reference specified. No value for {reference}{path} found in {reference}.")
    return value


def _resolve(value, answers: dict):
    """A URL or body with its references replaced by the values they name."""
    if isinstance(value, dict):
        return {k: _resolve(v, answers) for k, v in value.items()}
    if isinstance(value, list):
        return [_resolve(v, answers) for v in value]
    if not isinstance(value, str):
        return value
    whole = REFERENCE.fullmatch(value)
    if whole:  # the whole value is a reference: it takes the referenced value's type (a number stays a number)
        return _value(answers, *whole.groups())
    return REFERENCE.sub(lambda m: str(_value(answers, *m.groups())), value)


def _answer(reference_id, body, status, headers=None) -> dict:
    return {"body": body, "httpHeaders": headers or {}, "httpStatusCode": status, "referenceId": reference_id}


def _halted(reference_id, message) -> dict:
    """A subrequest that did not run, or was undone (the body Salesforce answers, without `fields`)."""
    return _answer(reference_id, [{"errorCode": "PROCESSING_HALTED", "message": message}], 400)


def _json(text: str):
    """A subrequest's answer as JSON (None when empty, the text itself when it is not JSON)."""
    try:
        return json.loads(text) if text else None
    except ValueError:
        return text


def _failed(answer: dict) -> bool:
    """An error answer, or an sObject Collections answer with a record that failed."""
    body = answer["body"]
    return answer["httpStatusCode"] >= 400 or (isinstance(body, list) and any(
        isinstance(r, dict) and r.get("success") is False for r in body))


def init_app(app, org):
    """Register the composite route."""

    def dispatch(sub, url, body, all_or_none) -> dict:
        """Run one subrequest through the app, as a request of its own would run."""
        headers = {"Authorization": request.headers.get("Authorization", ""), **(sub.get("httpHeaders") or {})}
        environ = EnvironBuilder(
            path=url, method=sub["method"].upper(), headers=headers, content_type="application/json",
            data=json.dumps(body) if body is not None else None,
            environ_overrides={SUBREQUEST: True, COMPOSITE_ALL_OR_NONE: all_or_none},
        ).get_environ()
        response = Response.from_app(app.wsgi_app, environ, buffered=True)
        return _answer(sub["referenceId"], _json(response.get_data(as_text=True)), response.status_code,
                       {k: v for k, v in response.headers.items() if k in ANSWER_HEADERS})

    def run(conn, sub, answers, all_or_none) -> dict:
        """One subrequest's answer; in a savepoint, so even a route that fails mid-statement leaves the others be."""
        try:
            url, body = _resolve(sub["url"], answers), _resolve(sub.get("body"), answers)
        except _Unresolved as exc:
            return _halted(sub["referenceId"], str(exc))
        if not SUBREQUEST_URL.match(url):
            return _answer(sub["referenceId"], SalesforceError(
                400, "INVALID_INPUT", f"{url} is not a resource a composite subrequest can use").body(), 400)
        with conn.transaction() as savepoint:
            answer = dispatch(sub, url, body, all_or_none)
            if conn.info.transaction_status == pq.TransactionStatus.INERROR:
                raise psycopg.Rollback(savepoint)
        return answer

    @app.post(BASE + "/composite")
    def composite_request(version):
        data = record_body()
        subrequests = _subrequests(data)
        all_or_none = data.get("allOrNone", False)
        answers, bodies, failure = [], {}, None
        with org.one_transaction() as tx:
            for sub in subrequests:
                if failure is not None and all_or_none:
                    answers.append(_halted(sub["referenceId"], ROLLED_BACK))
                    continue
                answer = run(tx.connection, sub, bodies, all_or_none)
                answers.append(answer)
                if answer["httpStatusCode"] < 400:
                    bodies[sub["referenceId"]] = answer["body"]
                if failure is None and _failed(answer):
                    failure = len(answers) - 1
            if failure is not None and all_or_none:
                raise psycopg.Rollback(tx)
        if failure is not None and all_or_none:
            answers = [a if i == failure else _halted(a["referenceId"], ROLLED_BACK) for i, a in enumerate(answers)]
        return jsonify({"compositeResponse": answers})
