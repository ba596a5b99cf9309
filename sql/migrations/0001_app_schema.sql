-- The app's own schema. Connect owns {connect_schema}; everything the app itself needs to remember
-- (logins, job records, ledgers) lives here, so a Connect reload can never touch it.

-- Demo data is loaded once per database; this row says when and at what scale.
CREATE TABLE {app_schema}.demo_data_loads (
    id          serial PRIMARY KEY,
    accounts    integer NOT NULL,
    orders      integer NOT NULL,
    seed        integer NOT NULL,
    loaded_at   timestamptz NOT NULL DEFAULT now()
);
