"""sObject User Password: `sobjects/User/<id>/password` (simple-salesforce's `set_password`).

GET answers whether the password is expired, POST `{"NewPassword"}` sets it (204), DELETE resets it to
a generated, expired one and answers it (`{"NewPassword"}`), as Salesforce does. The new password is
the one that user logs in with from then on (standins/org/passwords.py).
"""

from flask import Response, jsonify, request

from standins.org import passwords, store
from standins.org.api.common import BASE, record_body


def init_app(app, org):
    """Register the password resource."""

    @app.route(BASE + "/sobjects/User/<user_id>/password", methods=["GET", "POST", "DELETE"])
    def user_password(version, user_id):
        with org.connection() as conn, conn.transaction():
            user = store.get(conn, org.schema, "User", user_id)["id"]
            if request.method == "GET":
                return jsonify({"isExpired": passwords.expired(conn, org.schema, user)})
            if request.method == "DELETE":
                return jsonify({"NewPassword": passwords.reset(conn, org.schema, user)})
            passwords.set_password(conn, org.schema, user, record_body().get("NewPassword"))
        return Response(status=204)
