"""The local org's APIs, one module per concern; `standins.org.server.create_org_app` puts them together."""
