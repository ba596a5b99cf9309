"""A local Heroku Connect: the sync engine between the local Postgres and an org (local or real).

Push: the trigger log → sObject Collections calls of up to 200 records → sfid/_hc_lastop written
back as Connect writes (xmlbinary hex). Pull: SystemModstamp polling → rows written as Connect
writes them. Its own state lives in the `local_connect` schema, never in Connect's. See
docs/local-standins.md.
"""
