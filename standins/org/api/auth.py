"""Logging in: the SOAP login simple-salesforce makes with a username and password."""

import os
import re
from xml.sax.saxutils import escape

from flask import Response, request

from standins.org.api.common import ORG_ID, USER_ID


def init_app(app, org):
    """Register the login endpoints."""

    @app.post("/services/Soap/u/<version>")
    def soap_login(version):
        text = request.get_data(as_text=True)
        username = re.search(r"<(?:\w+:)?username>(.*?)</(?:\w+:)?username>", text, re.S)
        password = re.search(r"<(?:\w+:)?password>(.*?)</(?:\w+:)?password>", text, re.S)
        expected = os.environ.get("LOCAL_ORG_PASSWORD")
        if not username or (expected and (not password or password.group(1) != expected)):
            fault = ("<?xml version=\"1.0\" encoding=\"UTF-8\"?><soapenv:Envelope xmlns:soapenv="
                     "\"http://schemas.xmlsoap.org/soap/envelope/\"><soapenv:Body><soapenv:Fault>"
                     "<faultcode>INVALID_LOGIN</faultcode><faultstring>INVALID_LOGIN: Invalid username, password, "
                     "security token; or user locked out.</faultstring></soapenv:Fault></soapenv:Body>"
                     "</soapenv:Envelope>")
            return Response(fault, status=500, content_type="text/xml")
        host = request.host
        session = org.session_id(username.group(1))
        envelope = (
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?><soapenv:Envelope "
            "xmlns:soapenv=\"http://schemas.xmlsoap.org/soap/envelope/\" xmlns=\"urn:partner.soap.sforce.com\">"
            "<soapenv:Body><loginResponse><result>"
            f"<metadataServerUrl>https://{host}/services/Soap/m/{version}/{ORG_ID}</metadataServerUrl>"
            "<passwordExpired>false</passwordExpired><sandbox>false</sandbox>"
            f"<serverUrl>https://{host}/services/Soap/u/{version}/{ORG_ID}</serverUrl>"
            f"<sessionId>{escape(session)}</sessionId><userId>{USER_ID}</userId>"
            f"<userInfo><organizationId>{ORG_ID}</organizationId><userName>{escape(username.group(1))}</userName>"
            "</userInfo></result></loginResponse></soapenv:Body></soapenv:Envelope>"
        )
        return Response(envelope, content_type="text/xml")
