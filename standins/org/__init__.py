"""A local Salesforce org: a loopback HTTP server that simple-salesforce talks to as if it were Salesforce.

It speaks the REST subset a sync engine and the project's tools use (login, sObjects, describe,
SOQL query/queryAll with paging, sObject Collections, updated/deleted, limits), keeps its records
in a Postgres schema of its own (`local_org`), and serves its objects from the same object
definitions the local Connect schema is built from (sql/connect/objects.json), plus the standard
objects every org has (standins/org/standard_objects.json: User, Organization, Profile, …).
See docs/local-org.md for what it reproduces and what it does not.
"""
