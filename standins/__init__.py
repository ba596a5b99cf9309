"""Local stand-ins for what no laptop or CI has: Heroku Connect and a Salesforce org.

Development and test tools only: never deployed, never imported by `web/` or `worker/`.
"""
