"""The local Heroku Connect: a sync engine between the local Postgres and a Salesforce org.

Development and test tool only (never imported by web/ or worker/). See docs/local-standins.md.
"""
