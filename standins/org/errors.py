"""Errors as Salesforce answers them: an HTTP status and a JSON list of {message, errorCode, fields}."""

from flask import jsonify


class SalesforceError(Exception):
    """An error Salesforce would answer with: HTTP status, errorCode, message, fields."""

    def __init__(self, status, code, message, fields=()):
        super().__init__(message)
        self.status, self.code, self.message, self.fields = status, code, message, list(fields)

    def body(self):
        """The JSON list Salesforce's REST API answers errors with."""
        return [{"message": self.message, "errorCode": self.code, "fields": self.fields}]


def error_response(exc: SalesforceError):
    """The Flask response for a SalesforceError."""
    response = jsonify(exc.body())
    response.status_code = exc.status
    return response
