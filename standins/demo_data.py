"""Demo data at any scale, written the way Heroku Connect writes it.

`load()` fills the Connect tables for Account, Contact, Product2, Order, OrderItem, Case and
Invoice__c with rows that look as if Connect had just synced them from Salesforce: every row has a Salesforce Id, a
CreatedDate and SystemModstamp, and because the load runs with `xmlbinary = 'hex'` (Connect's
session setting) the status trigger marks each row SYNCED and the log trigger stays silent.

Everything is generated inside Postgres by set-based `INSERT ... SELECT` statements. Every
pseudo-random value is a hash of (seed, row number, field) instead of `random()`, so the same
seed and `today` give the same data whatever plan Postgres picks. Ids are numbered from 1 in
each table: `salesforce_id('001', 1)` is the first account.

The shape:
- accounts: AccountNumber `ACC-00000001` ...; about 8% are Prospects with no orders;
- 1–3 contacts per account (1.75 on average; the first account has 3), emails
  `first.last.N@example.com` where N is the contact's number (so every email is unique) and
  External_ID__c a UUID derived from the seed and N;
- 40 products, 10 in each Product2 family;
- orders over the 730 days before `today` (none on `today` itself, nothing timestamped after its
  midnight UTC), skewed over accounts (median 6 orders per account at 10 per account on average,
  a few with thousands). OrderNumber follows creation time. Orders are 92% Delivered and 4%
  Cancelled; those from the last three weeks are still Draft, Activated or Shipped;
- each customer follows a latent trajectory that shapes when it orders, how much, its cases and
  its late invoices: growing (25%), steady (30%; some small ones buy once a year at renewal),
  fading (23%: its order rate falls towards zero after today) or lapsed (22%: no order in the last
  5 to 240 days). 40% became customers during the two years. 70% order at a rhythm (their k-th of
  N orders falls in the k-th Nth of their trajectory), the rest at random times. So churn can be
  learnt from the history, but not from recency alone (docs/scoring.md);
- 1–5 items per order (about 2.5 on average); TotalAmount is the sum of the items' TotalPrice;
- a case for about 5% of orders, more for fading accounts and before an account lapses; cases
  older than ten days are closed;
- an Invoice__c per account and month with activated orders, for the 15 months up to the month
  before last (as an earlier billing run left them; `invoices run --period previous` still has
  last month to bill), due 30 days after the month, Paid_Date__c on time or late, unpaid ones
  Issued.

The first account (AccountNumber ACC-00000001, the lowest Id) is the biggest customer: it has at
least min(10,000, orders // 10) orders and no other account has more. Portal benchmarks use it.
"""

import time
from datetime import UTC, date, datetime, timedelta

import click
from psycopg import pq, sql

from core import connect, db
from standins.connect.writes import write_as_connect
from standins.org import ids

TABLES = ("account", "contact", "product2", "order", "orderitem", "case", "invoice__c")
KEY_PREFIXES = {"account": "001", "contact": "003", "product2": "01t", "order": "801", "orderitem": "802",
                "case": "500", "invoice__c": "a0I"}
BIG_ACCOUNT_ORDERS = 10_000
# AccountNumber and OrderNumber carry 8 digits.
MAX_ROWS = 99_999_999

# Seeded hash functions, in pg_temp so they vanish with the session.
# Hashing (seed, n, field) with Postgres's built-in integer hash makes every value a pure function of
# the row, independent of plan and row order, which random() and setseed() are not.
# They are one-expression SQL functions, which Postgres inlines into each statement at no cost per
# row, but only if every argument a function uses more than once is cheap: pass them columns, not
# expressions, or each of an Id's digits becomes a function call (the orders plan computes bill_to
# as a column for that reason).
FUNCTIONS = """
CREATE OR REPLACE FUNCTION pg_temp.demo_hash(n bigint, field text) RETURNS bigint
    LANGUAGE sql IMMUTABLE
    AS $$ SELECT hashint8extended(n, hashtextextended(field, {seed})) $$;

-- uniform in [0, 1), from 52 bits of the hash
CREATE OR REPLACE FUNCTION pg_temp.demo_unit(n bigint, field text) RETURNS double precision
    LANGUAGE sql IMMUTABLE
    AS $$ SELECT (pg_temp.demo_hash(n, field) & 4503599627370495) / 4503599627370496.0::double precision $$;

-- uniform integer in [lo, hi]
CREATE OR REPLACE FUNCTION pg_temp.demo_int(n bigint, field text, lo integer, hi integer) RETURNS integer
    LANGUAGE sql IMMUTABLE
    AS $$ SELECT lo + ((pg_temp.demo_hash(n, field) & 2147483647) % (hi - lo + 1))::integer $$;

CREATE OR REPLACE FUNCTION pg_temp.demo_pick(n bigint, field text, choices text[]) RETURNS text
    LANGUAGE sql IMMUTABLE
    AS $$ SELECT choices[1 + (pg_temp.demo_hash(n, field) & 2147483647) % cardinality(choices)] $$;

"""

# Per account: its attributes, how many contacts and orders it gets, and where its contacts and
# orders start in their tables' numbering. Orders are shared out by weight: 8% of accounts are
# prospects (weight 0), the rest draw a Pareto-like weight capped at 1000 times the smallest.
# Each account gets the difference of floor(orders * running weight / total weight) between its row
# and the one before, so the counts add up to exactly the orders asked for, and no share is rounded
# up by more than one. Account 1 gets its guaranteed orders plus the weight of the heaviest other
# account and comes last in the running sum, so its share is the one rounded up: it stays the biggest.
PLAN_ACCOUNTS = """
CREATE TEMP TABLE demo_account ON COMMIT DROP AS
WITH drawn AS (
    SELECT n,
           n > 1 AND pg_temp.demo_unit(n, 'account.prospect') < 0.08 AS prospect,
           floor(1000 * (0.0000317 + 0.9999683 * pg_temp.demo_unit(n, 'account.size')) ^ (-2.0 / 3))::bigint AS weight,
           CASE WHEN n = 1 THEN 3
                WHEN pg_temp.demo_unit(n, 'account.contacts') < 0.45 THEN 1
                WHEN pg_temp.demo_unit(n, 'account.contacts') < 0.8 THEN 2
                ELSE 3 END AS contacts,
           pg_temp.demo_int(n, 'account.city', 1, 24) AS city,
           pg_temp.demo_int(n, 'account.industry', 1, 10) AS industry,
           CASE WHEN n = 1 THEN 'growing'
                WHEN pg_temp.demo_unit(n, 'account.trajectory') < 0.25 THEN 'growing'
                WHEN pg_temp.demo_unit(n, 'account.trajectory') < 0.55 THEN 'steady'
                WHEN pg_temp.demo_unit(n, 'account.trajectory') < 0.78 THEN 'fading'
                ELSE 'lapsed' END AS trajectory,
           -- 40% became customers during the history: their first order is this many days into it
           CASE WHEN n = 1 OR pg_temp.demo_unit(n, 'account.joined') < 0.6 THEN 0
                ELSE pg_temp.demo_int(n, 'account.first_order', 1, 450) END AS first_day,
           -- where in each of its order slots the account tends to order (see PLAN_ORDERS)
           pg_temp.demo_unit(n, 'account.rhythm') AS rhythm,
           -- fading: the order rate falls in a straight line to nothing this many days after today
           pg_temp.demo_int(n, 'account.fade', 20, 400) AS fade_after,
           -- lapsed: the last order this many days before today
           pg_temp.demo_int(n, 'account.lapse', 5, 240) AS lapse_age
    FROM generate_series(1, {accounts}) AS n
), weighted AS (
    SELECT n, prospect, contacts, city, industry, trajectory, first_day, rhythm, fade_after, lapse_age,
           CASE WHEN prospect THEN 0
                WHEN n = 1 THEN greatest(1, max(weight) FILTER (WHERE n > 1 AND NOT prospect) OVER ())
                ELSE weight END AS weight
    FROM drawn
), cumulative AS (
    SELECT *, sum(weight) OVER (ORDER BY n = 1, n) AS weight_upto,
           sum(contacts) OVER (ORDER BY n) - contacts AS contacts_before
    FROM weighted
), counted AS (
    SELECT *,
           CASE WHEN n = 1 THEN {big} ELSE 0 END
           + (div({rest}::numeric * weight_upto, max(weight_upto) OVER ())
              - div({rest}::numeric * (weight_upto - weight), max(weight_upto) OVER ()))::integer AS orders
    FROM cumulative
)
SELECT n, contacts, contacts_before, orders, sum(orders) OVER (ORDER BY n) - orders AS orders_before,
       CASE WHEN prospect THEN NULL ELSE trajectory END AS trajectory, first_day, rhythm, fade_after, lapse_age,
       fixed.sfid, fixed.created,
       (ARRAY['Blue', 'Silver', 'Golden', 'Red', 'Green', 'North', 'South', 'West', 'East', 'Pine', 'Oak', 'Maple',
              'Cedar', 'River', 'Stone', 'Iron', 'Bright', 'Clear', 'High', 'Lake', 'Sun', 'Star', 'Fox', 'Eagle']
       )[pg_temp.demo_int(n, 'account.name1', 1, 24)]
       || (ARRAY['ridge', 'field', 'wood', 'brook', 'gate', 'stone', 'crest', 'view', 'point', 'haven', 'bridge',
                 'water', 'rock', 'dale', 'mont', 'wick', 'ford', 'line', 'peak', 'vale']
          )[pg_temp.demo_int(n, 'account.name2', 1, 20)]
       || ' ' || (ARRAY['Farms', 'Growers', 'Agritech', 'Seeds',
                        'Builders', 'Construction', 'Contractors', 'Homes',
                        'Academy', 'Learning', 'Education', 'Institute',
                        'Energy', 'Power', 'Solar', 'Utilities',
                        'Health', 'Medical', 'Clinics', 'Pharma',
                        'Hotels', 'Resorts', 'Hospitality', 'Catering',
                        'Manufacturing', 'Industries', 'Fabrication', 'Works',
                        'Outfitters', 'Market', 'Stores', 'Supply',
                        'Software', 'Systems', 'Technologies', 'Labs',
                        'Logistics', 'Freight', 'Transport', 'Shipping']
                 )[(industry - 1) * 4 + pg_temp.demo_int(n, 'account.name3', 1, 4)]
       || ' ' || pg_temp.demo_pick(n, 'account.suffix', ARRAY['Inc.', 'LLC', 'Ltd.', 'Group', 'Co.', 'Corp.',
                                                              'Partners', 'Holdings']) AS name,
       'ACC-' || lpad(n::text, 8, '0') AS account_number,
       CASE WHEN prospect THEN 'Prospect'
            ELSE pg_temp.demo_pick(n, 'account.type', ARRAY['Customer - Direct', 'Customer - Direct',
                 'Customer - Direct', 'Customer - Direct', 'Customer - Direct', 'Customer - Channel',
                 'Customer - Channel', 'Customer - Channel', 'Partner']) END AS type,
       (ARRAY['Agriculture', 'Construction', 'Education', 'Energy', 'Healthcare', 'Hospitality', 'Manufacturing',
              'Retail', 'Technology', 'Transportation'])[industry] AS industry,
       pg_temp.demo_int(n, 'account.street', 1, 9899)
       || ' ' || pg_temp.demo_pick(n, 'account.street_name', ARRAY['Main', 'Oak', 'Maple', 'Cedar', 'Park', 'Lake',
                 'Hill', 'Washington', 'Market', 'Mission', 'Elm', 'Pine', 'Church', 'Mill', 'River', 'Spring',
                 'Union', 'Franklin', 'Lincoln', 'Madison'])
       || ' ' || pg_temp.demo_pick(n, 'account.street_kind', ARRAY['Street', 'Avenue', 'Road', 'Boulevard', 'Drive',
                 'Lane', 'Way', 'Place'])
       || CASE WHEN pg_temp.demo_unit(n, 'account.suite') < 0.3
               THEN ', Suite ' || pg_temp.demo_int(n, 'account.suite_no', 100, 990) ELSE '' END AS street,
       place.city, place.state, place.country,
       CASE WHEN place.country = 'United States'
            THEN place.postal || lpad(pg_temp.demo_int(n, 'account.zip', 0, 99)::text, 2, '0')
            ELSE place.postal END AS postal_code,
       place.phone AS phone_prefix,
       place.phone || lpad(pg_temp.demo_int(n, 'account.phone', 0, 999)::text, 3, '0') AS phone
FROM counted
CROSS JOIN LATERAL (
    SELECT pg_temp.salesforce_id('001', n) AS sfid,
           -- customers for 3 months to 3 years before the order history starts
           {start}::timestamp - make_interval(days => pg_temp.demo_int(n, 'account.age', 90, 1095),
                                              secs => pg_temp.demo_int(n, 'account.second', 0, 86399)) AS created
) AS fixed
JOIN (VALUES
    (1, 'New York', 'NY', 'United States', '100', '(212) 555-0'),
    (2, 'San Francisco', 'CA', 'United States', '941', '(415) 555-0'),
    (3, 'Los Angeles', 'CA', 'United States', '900', '(213) 555-0'),
    (4, 'Chicago', 'IL', 'United States', '606', '(312) 555-0'),
    (5, 'Austin', 'TX', 'United States', '787', '(512) 555-0'),
    (6, 'Dallas', 'TX', 'United States', '752', '(214) 555-0'),
    (7, 'Seattle', 'WA', 'United States', '981', '(206) 555-0'),
    (8, 'Denver', 'CO', 'United States', '802', '(303) 555-0'),
    (9, 'Boston', 'MA', 'United States', '021', '(617) 555-0'),
    (10, 'Atlanta', 'GA', 'United States', '303', '(404) 555-0'),
    (11, 'Miami', 'FL', 'United States', '331', '(305) 555-0'),
    (12, 'Phoenix', 'AZ', 'United States', '850', '(602) 555-0'),
    (13, 'Minneapolis', 'MN', 'United States', '554', '(612) 555-0'),
    (14, 'Portland', 'OR', 'United States', '972', '(503) 555-0'),
    (15, 'Nashville', 'TN', 'United States', '372', '(615) 555-0'),
    (16, 'Philadelphia', 'PA', 'United States', '191', '(215) 555-0'),
    (17, 'Toronto', 'ON', 'Canada', 'M5V 3L9', '(416) 555-0'),
    (18, 'Vancouver', 'BC', 'Canada', 'V6B 1A1', '(604) 555-0'),
    (19, 'London', 'England', 'United Kingdom', 'EC1A 1BB', '+44 20 7946 0'),
    (20, 'Manchester', 'England', 'United Kingdom', 'M1 1AE', '+44 161 496 0'),
    (21, 'Berlin', 'Berlin', 'Germany', '10115', '+49 30 23125 '),
    (22, 'Munich', 'Bavaria', 'Germany', '80331', '+49 89 23125 '),
    (23, 'Sydney', 'NSW', 'Australia', '2000', '+61 2 5550 0'),
    (24, 'Dublin', 'Dublin', 'Ireland', 'D02 X285', '+353 1 555 0')
) AS place (k, city, state, country, postal, phone) ON place.k = counted.city
"""

INSERT_ACCOUNTS = """
INSERT INTO {table} (sfid, name, accountnumber, type, industry, phone, billingstreet, billingcity, billingstate,
                     billingpostalcode, billingcountry, createddate, systemmodstamp, isdeleted)
SELECT sfid, name, account_number, type, industry, phone, street, city, state, postal_code, country,
       created, created + make_interval(days => pg_temp.demo_int(n, 'account.modified', 0, 700)), false
FROM demo_account
"""

# Contacts are numbered account by account, so an account's contacts are
# contacts_before + 1 .. contacts_before + contacts: orders pick a bill-to contact by number.
INSERT_CONTACTS = """
INSERT INTO {table} (sfid, accountid, firstname, lastname, name, email, phone, mobilephone, mailingstreet,
                     mailingcity, mailingstate, mailingpostalcode, mailingcountry, external_id__c,
                     createddate, systemmodstamp, isdeleted)
SELECT pg_temp.salesforce_id('003', c.n), a.sfid, c.first_name, c.last_name, c.first_name || ' ' || c.last_name,
       lower(c.first_name || '.' || c.last_name || '.' || c.n) || '@example.com',
       a.phone_prefix || lpad(pg_temp.demo_int(c.n, 'contact.phone', 0, 999)::text, 3, '0'),
       CASE WHEN pg_temp.demo_unit(c.n, 'contact.has_mobile') < 0.6
            THEN a.phone_prefix || lpad(pg_temp.demo_int(c.n, 'contact.mobile', 0, 999)::text, 3, '0') END,
       a.street, a.city, a.state, a.postal_code, a.country,
       md5({seed} || ':contact:' || c.n)::uuid::text,
       c.created, c.created + make_interval(days => pg_temp.demo_int(c.n, 'contact.modified', 0, 400)), false
FROM demo_account a
CROSS JOIN LATERAL generate_series(a.contacts_before + 1, a.contacts_before + a.contacts) AS c_n
CROSS JOIN LATERAL (
    SELECT c_n AS n,
           pg_temp.demo_pick(c_n, 'contact.first', ARRAY['James', 'Mary', 'John', 'Patricia', 'Robert', 'Jennifer',
               'Michael', 'Linda', 'William', 'Elizabeth', 'David', 'Barbara', 'Richard', 'Susan', 'Joseph',
               'Jessica', 'Thomas', 'Sarah', 'Charles', 'Karen', 'Christopher', 'Lisa', 'Daniel', 'Nancy',
               'Matthew', 'Betty', 'Anthony', 'Margaret', 'Mark', 'Sandra', 'Steven', 'Ashley', 'Paul', 'Emily',
               'Andrew', 'Donna', 'Joshua', 'Michelle', 'Kevin', 'Amanda', 'Brian', 'Melissa', 'George', 'Deborah',
               'Priya', 'Wei', 'Aisha', 'Carlos', 'Sofia', 'Lukas', 'Emma', 'Hiroshi', 'Fatima', 'Olivia', 'Noah',
               'Liam', 'Mateo', 'Chloe', 'Arjun', 'Ingrid']) AS first_name,
           pg_temp.demo_pick(c_n, 'contact.last', ARRAY['Smith', 'Johnson', 'Williams', 'Brown', 'Jones', 'Garcia',
               'Miller', 'Davis', 'Rodriguez', 'Martinez', 'Hernandez', 'Lopez', 'Gonzalez', 'Wilson', 'Anderson',
               'Thomas', 'Taylor', 'Moore', 'Jackson', 'Martin', 'Lee', 'Perez', 'Thompson', 'White', 'Harris',
               'Sanchez', 'Clark', 'Ramirez', 'Lewis', 'Robinson', 'Walker', 'Young', 'Allen', 'King', 'Wright',
               'Scott', 'Torres', 'Nguyen', 'Hill', 'Flores', 'Green', 'Adams', 'Nelson', 'Baker', 'Hall', 'Rivera',
               'Campbell', 'Mitchell', 'Carter', 'Roberts', 'Patel', 'Kim', 'Chen', 'Schmidt', 'Singh', 'Khan',
               'Okafor', 'Novak', 'Rossi', 'Silva']) AS last_name,
           a.created + make_interval(days => pg_temp.demo_int(c_n, 'contact.age', 0, 60)) AS created
) AS c
"""

# The catalogue is the same for every seed: a price list that does not change between loads.
PLAN_PRODUCTS = """
CREATE TEMP TABLE demo_product ON COMMIT DROP AS
SELECT k, pg_temp.salesforce_id('01t', k) AS sfid, name, code, family, (price * 100)::integer AS cents
FROM (VALUES
    (1, 'Edge Router 200', 'HW-1001', 'Hardware', 1249.00),
    (2, 'Rack Server 2U', 'HW-1002', 'Hardware', 8900.00),
    (3, 'Laptop Pro 14', 'HW-1003', 'Hardware', 1899.00),
    (4, 'Docking Station', 'HW-1004', 'Hardware', 249.00),
    (5, 'Wireless Access Point', 'HW-1005', 'Hardware', 399.00),
    (6, 'Network Switch 48-port', 'HW-1006', 'Hardware', 2150.00),
    (7, 'Barcode Scanner', 'HW-1007', 'Hardware', 189.00),
    (8, 'Receipt Printer', 'HW-1008', 'Hardware', 329.00),
    (9, 'Tablet Kiosk', 'HW-1009', 'Hardware', 799.00),
    (10, 'UPS Battery Backup', 'HW-1010', 'Hardware', 459.00),
    (11, 'CRM Seat License (annual)', 'SW-2001', 'Software', 900.00),
    (12, 'Analytics Suite (annual)', 'SW-2002', 'Software', 4800.00),
    (13, 'Endpoint Security (per device)', 'SW-2003', 'Software', 60.00),
    (14, 'Cloud Backup 1 TB (annual)', 'SW-2004', 'Software', 240.00),
    (15, 'Office Suite (per user)', 'SW-2005', 'Software', 150.00),
    (16, 'Inventory Manager', 'SW-2006', 'Software', 2400.00),
    (17, 'Point of Sale Software', 'SW-2007', 'Software', 1200.00),
    (18, 'Email Archiving (annual)', 'SW-2008', 'Software', 96.00),
    (19, 'API Gateway Add-on', 'SW-2009', 'Software', 3600.00),
    (20, 'Developer Toolkit', 'SW-2010', 'Software', 480.00),
    (21, 'Onboarding Package', 'SV-3001', 'Services', 2500.00),
    (22, 'Premium Support (annual)', 'SV-3002', 'Services', 6000.00),
    (23, 'On-site Installation (per day)', 'SV-3003', 'Services', 1400.00),
    (24, 'Training Workshop', 'SV-3004', 'Services', 1800.00),
    (25, 'Consulting Hour', 'SV-3005', 'Services', 225.00),
    (26, 'Data Migration', 'SV-3006', 'Services', 5000.00),
    (27, 'Health Check', 'SV-3007', 'Services', 1200.00),
    (28, 'Custom Integration', 'SV-3008', 'Services', 9500.00),
    (29, 'Managed Services (monthly)', 'SV-3009', 'Services', 3200.00),
    (30, 'Extended Warranty (3 years)', 'SV-3010', 'Services', 350.00),
    (31, 'Thermal Paper Rolls (50)', 'SU-4001', 'Supplies', 64.50),
    (32, 'Toner Cartridge', 'SU-4002', 'Supplies', 89.99),
    (33, 'Cat6 Cable 10 ft (10 pack)', 'SU-4003', 'Supplies', 39.90),
    (34, 'Label Stock (1,000)', 'SU-4004', 'Supplies', 24.75),
    (35, 'Cleaning Kit', 'SU-4005', 'Supplies', 19.95),
    (36, 'Replacement Battery', 'SU-4006', 'Supplies', 49.00),
    (37, 'Carry Case', 'SU-4007', 'Supplies', 59.00),
    (38, 'Screen Protector (5 pack)', 'SU-4008', 'Supplies', 29.50),
    (39, 'Power Adapter', 'SU-4009', 'Supplies', 45.00),
    (40, 'Mounting Bracket', 'SU-4010', 'Supplies', 34.00)
) AS p (k, name, code, family, price)
"""

INSERT_PRODUCTS = """
INSERT INTO {table} (sfid, name, productcode, family, isactive, description, createddate, systemmodstamp, isdeleted)
SELECT sfid, name, code, family, true,
       CASE family WHEN 'Hardware' THEN 'Ships from our warehouse within 2 business days.'
                   WHEN 'Software' THEN 'Licensed per year; renews automatically.'
                   WHEN 'Services' THEN 'Delivered by our professional services team.'
                   ELSE 'Consumable, sold in the pack size shown.' END,
       {start}::timestamp - interval '5 years' + make_interval(hours => k),
       {start}::timestamp - interval '5 years' + make_interval(hours => k), false
FROM demo_product
"""

# Orders are drawn account by account (key p), then numbered by creation time, as Salesforce's
# auto-number would have numbered them. Their items are numbered in the same order, so an order's
# items are items_before + 1 .. items_before + items.
PLAN_ORDERS = """
CREATE TEMP TABLE demo_order ON COMMIT DROP AS
WITH drawn AS (
    SELECT a.n AS account, a.sfid AS account_sfid, a.trajectory, a.first_day,
           730.0 + a.fade_after AS fade_end, 730 - a.lapse_age AS lapse_day, p,
           a.contacts_before + pg_temp.demo_int(p, 'order.bill_to', 1, a.contacts) AS bill_to,
           -- stratified, not independent: the account's k-th of N orders falls in the k-th Nth of its
           -- trajectory's distribution, at a per-account phase plus a per-order jitter. Customers order
           -- at a rhythm, so "ordered last week" can mean "not due again for months".
           CASE WHEN a.rhythm < 0.3 THEN pg_temp.demo_unit(p, 'order.age')
                ELSE (p - a.orders_before - 1 + (a.rhythm - 0.3) + 0.3 * pg_temp.demo_unit(p, 'order.age'))
                     / greatest(a.orders, 1) END AS u,
           -- a small steady account may buy once a year, within three weeks of its renewal date
           CASE WHEN a.trajectory = 'steady' AND a.orders BETWEEN 2 AND 12 AND a.rhythm >= 0.6 AND a.first_day = 0
                THEN (a.rhythm - 0.6) / 0.4 * 340 + 365 * ((p - a.orders_before - 1) % 2)
                     + 21 * pg_temp.demo_unit(p, 'order.renewal') END AS renewal_day,
           CASE WHEN pg_temp.demo_unit(p, 'order.items') < 0.25 THEN 1
                WHEN pg_temp.demo_unit(p, 'order.items') < 0.55 THEN 2
                WHEN pg_temp.demo_unit(p, 'order.items') < 0.8 THEN 3
                WHEN pg_temp.demo_unit(p, 'order.items') < 0.9 THEN 4
                ELSE 5 END AS items
    FROM demo_account a
    CROSS JOIN LATERAL generate_series(a.orders_before + 1, a.orders_before + a.orders) AS p
), placed AS MATERIALIZED (
    -- The order's day in the history, first_day <= day < 730: its account's trajectory's cumulative
    -- distribution inverted at u, over the span from its first day. Growing: a density rising from zero
    -- (day = first + span * sqrt(u)); fading: one falling linearly to zero at fade_end, after today;
    -- lapsed: even until its last order; steady: even, or at its renewals if it buys once a year.
    SELECT *, least(729.999, first_day + CASE trajectory
                WHEN 'growing' THEN span * sqrt(u)
                WHEN 'fading' THEN (fade_end - first_day)
                                   - sqrt((fade_end - first_day) ^ 2 - u * (2 * (fade_end - first_day) - span) * span)
                WHEN 'lapsed' THEN greatest(lapse_day - first_day, 30) * u
                ELSE coalesce(renewal_day, span * u)
              END) AS day
    FROM (SELECT *, 730.0 - first_day AS span FROM drawn) AS spanned
), timed AS (
    SELECT *,
           -- days before today, 1..730
           730 - floor(day)::integer AS age,
           -- fading and lapsing accounts buy less per order as they go, growing ones more
           CASE trajectory WHEN 'growing' THEN 0.6 + 0.8 * day / 730
                           WHEN 'fading' THEN 1.4 - 0.8 * day / 730
                           WHEN 'lapsed' THEN 1.3 - 0.7 * day / greatest(lapse_day, 1)
                           ELSE 1.0 END AS size_factor
    FROM placed
), dated AS (
    SELECT account, account_sfid, trajectory, first_day, lapse_day, p, bill_to, items, day, age, size_factor,
           ({today}::date - age) + make_interval(secs => pg_temp.demo_int(p, 'order.second', 0, 86399)) AS created
    FROM timed
), numbered AS (
    SELECT row_number() OVER w AS n, sum(items) OVER w - items AS items_before, *
    FROM dated WINDOW w AS (ORDER BY created, p)
)
SELECT pg_temp.salesforce_id('801', n) AS sfid, pg_temp.salesforce_id('003', bill_to) AS bill_to_sfid, *
FROM numbered
"""

# Items are planned before their orders are written, because an order's TotalAmount is their sum.
# Products in one order are distinct: a popular product first, then steps of 7 around the catalogue.
# Money is in integer cents until it is written, so the sums are exact and cheap.
# Rows go in Id order (here and in the orders insert): every insert then lands on the right edge of
# the indexes on sfid, orderid and systemmodstamp; in hash-join order the items took twice as long.
PLAN_ITEMS = """
CREATE TEMP TABLE demo_item ON COMMIT DROP AS
SELECT i.n, o.n AS order_n, o.sfid AS order_sfid, o.created, pr.sfid AS product, i.quantity,
       pr.cents AS unit_cents, i.quantity * pr.cents AS total_cents
FROM demo_order o
CROSS JOIN LATERAL generate_series(1, o.items) AS j
CROSS JOIN LATERAL (
    SELECT o.items_before + j AS n,
           1 + least(19, floor(20 * o.size_factor
                               * pg_temp.demo_unit(o.items_before + j, 'item.quantity') ^ 2.5))::integer AS quantity,
           1 + ((floor(40 * pg_temp.demo_unit(o.n, 'order.product') ^ 1.6)::integer + 7 * (j - 1)) * 13) % 40
               AS product_k
) AS i
JOIN demo_product pr ON pr.k = i.product_k
ORDER BY i.n
"""

INSERT_ORDERS = """
INSERT INTO {table} (sfid, accountid, billtocontactid, ordernumber, status, statuscode, effectivedate, activateddate,
                     type, ponumber, totalamount, createddate, systemmodstamp, isdeleted)
SELECT o.sfid, o.account_sfid, o.bill_to_sfid,
       lpad(o.n::text, 8, '0'), s.status,
       CASE s.status WHEN 'Draft' THEN 'Draft' WHEN 'Cancelled' THEN 'Cancelled' ELSE 'Activated' END,
       o.created::date, s.activated,
       pg_temp.demo_pick(o.n, 'order.type', ARRAY['New', 'New', 'New', 'New', 'Renewal', 'Renewal', 'Renewal',
                                                  'Renewal', 'Upgrade', 'Upgrade']),
       CASE WHEN pg_temp.demo_unit(o.n, 'order.has_po') < 0.55
            THEN 'PO-' || lpad(pg_temp.demo_int(o.n, 'order.po', 1, 999999)::text, 6, '0') END,
       t.total_cents / 100.0::double precision,
       o.created,
       -- the last change: activation, shipping, delivery; never after the data's "now"
       least({today}::timestamp, coalesce(s.activated, o.created)
             + make_interval(days => CASE s.status WHEN 'Shipped' THEN 2 WHEN 'Delivered' THEN 6
                                                   WHEN 'Cancelled' THEN 3 ELSE 0 END,
                             secs => pg_temp.demo_int(o.n, 'order.modified', 0, 86399))),
       false
FROM demo_order o
JOIN (SELECT order_n, sum(total_cents) AS total_cents FROM demo_item GROUP BY order_n) AS t ON t.order_n = o.n
CROSS JOIN LATERAL (SELECT pg_temp.demo_unit(o.n, 'order.status') AS u) AS r
CROSS JOIN LATERAL (
    SELECT status,
           CASE WHEN status <> 'Draft'
                THEN least({today}::timestamp - interval '1 second',
                           o.created + make_interval(secs => pg_temp.demo_int(o.n, 'order.activated', 300, 172800)))
           END AS activated
    FROM (SELECT CASE WHEN r.u < 0.04 THEN 'Cancelled'
                      WHEN o.age <= 2 THEN CASE WHEN r.u < 0.45 THEN 'Draft' ELSE 'Activated' END
                      WHEN o.age <= 7 THEN CASE WHEN r.u < 0.12 THEN 'Draft' WHEN r.u < 0.45 THEN 'Activated'
                                                ELSE 'Shipped' END
                      WHEN o.age <= 21 THEN CASE WHEN r.u < 0.15 THEN 'Activated' WHEN r.u < 0.5 THEN 'Shipped'
                                                 ELSE 'Delivered' END
                      ELSE 'Delivered' END AS status) AS picked
) AS s
ORDER BY o.n
"""

INSERT_ITEMS = """
INSERT INTO {table} (sfid, orderid, product2id, orderitemnumber, quantity, unitprice, totalprice,
                     createddate, systemmodstamp, isdeleted)
SELECT pg_temp.salesforce_id('802', n), order_sfid, product, lpad(n::text, 10, '0'),
       quantity, unit_cents / 100.0::double precision, total_cents / 100.0::double precision, created, created, false
FROM demo_item
"""

# Cases follow orders: a share of orders leads to a case within two weeks. The share is the
# trajectory's: growing accounts ask questions in their first four months, fading ones report more
# problems as they fade, lapsing ones most in the four months before they leave. Cases are
# Salesforce's own (no External_ID__c); those older than ten days are closed.
INSERT_CASES = """
WITH opened AS (
    SELECT o.n AS order_n, o.sfid AS order_sfid, o.account_sfid, o.bill_to_sfid, o.trajectory,
           o.created + make_interval(secs => pg_temp.demo_int(o.n, 'case.delay', 600, 1209600)) AS created
    FROM demo_order o
    WHERE pg_temp.demo_unit(o.n, 'case.opened') < CASE o.trajectory
              WHEN 'growing' THEN 0.02 + 0.25 * greatest(0, 1 - (o.day - o.first_day) / 120)
              WHEN 'fading' THEN 0.03 + 0.15 * o.day / 730
              WHEN 'lapsed' THEN 0.03 + 0.35 * greatest(0, 1 - (o.lapse_day - o.day) / 120)
              ELSE 0.03 END
), numbered AS (
    SELECT row_number() OVER (ORDER BY created, order_n) AS n, *,
           created < {today}::timestamp - interval '10 days' AS closed
    FROM opened
    WHERE created < {today}::timestamp
)
INSERT INTO {table} (sfid, accountid, contactid, order__c, casenumber, subject, status, priority, origin, type,
                     isclosed, closeddate, createddate, systemmodstamp, isdeleted)
SELECT pg_temp.salesforce_id('500', c.n), c.account_sfid, c.bill_to_sfid, c.order_sfid, lpad(c.n::text, 8, '0'),
       CASE t.type WHEN 'Question' THEN pg_temp.demo_pick(c.n, 'case.subject', ARRAY['How do I add a user?',
                 'Where is my invoice?', 'Setting up the integration', 'Changing the delivery address'])
                   WHEN 'Problem' THEN pg_temp.demo_pick(c.n, 'case.subject', ARRAY['Delivery arrived damaged',
                 'Wrong item shipped', 'Invoice amount is wrong', 'Device stopped working', 'Late delivery'])
                   ELSE pg_temp.demo_pick(c.n, 'case.subject', ARRAY['Bulk pricing for next year',
                 'Request: export of our orders']) END,
       CASE WHEN c.closed THEN 'Closed' ELSE pg_temp.demo_pick(c.n, 'case.status', ARRAY['New', 'Working',
                 'Escalated']) END,
       pg_temp.demo_pick(c.n, 'case.priority', ARRAY['Low', 'Medium', 'Medium', 'High']),
       pg_temp.demo_pick(c.n, 'case.origin', ARRAY['Web', 'Phone', 'Email']),
       t.type, c.closed, t.closed_at, c.created, coalesce(t.closed_at, c.created), false
FROM numbered c
CROSS JOIN LATERAL (
    SELECT CASE WHEN pg_temp.demo_unit(c.n, 'case.type') < CASE c.trajectory WHEN 'growing' THEN 0.75
                                                                            WHEN 'steady' THEN 0.45 ELSE 0.2 END
                THEN 'Question'
                WHEN pg_temp.demo_unit(c.n, 'case.type') < 0.93 THEN 'Problem'
                ELSE 'Feature Request' END AS type,
           CASE WHEN c.closed
                THEN least({today}::timestamp - interval '1 second',
                           c.created + make_interval(secs => pg_temp.demo_int(c.n, 'case.open_for', 3600, 1209600)))
           END AS closed_at
) AS t
ORDER BY c.n
"""

# Invoices for each month with activated orders in the last 15 months, as an earlier billing run
# would have left them in Salesforce, up to the month before last: `invoices run --period previous`
# still has last month to bill. (Their orders are not in the app's ledger, so billing one of those
# months again would bill them twice: the history stands for invoicing done before this app.) Due
# 30 days after the month ends; most are paid before that, some late, some not yet. Growing
# accounts pay late in their first four months, fading ones more as they fade, lapsing ones in the
# four months before they leave.
PLAN_INVOICES = """
CREATE TEMP TABLE demo_invoice ON COMMIT DROP AS
WITH billed AS (
    SELECT d.account, d.account_sfid, date_trunc('month', o.effectivedate)::date AS month,
           sum(o.totalamount::numeric) AS amount, count(*) AS orders
    FROM {orders} o
    JOIN demo_order d ON d.sfid = o.sfid
    WHERE o.statuscode = 'Activated'
      AND o.effectivedate >= date_trunc('month', {today}::date) - interval '15 months'
      AND o.effectivedate < date_trunc('month', {today}::date) - interval '1 month'
    GROUP BY d.account, d.account_sfid, month
), numbered AS (
    SELECT row_number() OVER (ORDER BY b.month, b.account) AS n, b.*, a.account_number, a.trajectory,
           b.month - {start}::date AS day, a.first_day, 730 - a.lapse_age AS lapse_day,
           (b.month + interval '1 month' - interval '1 day')::date + 30 AS due
    FROM billed b
    JOIN demo_account a ON a.n = b.account
)
SELECT n.*, CASE WHEN p.paid < {today}::date THEN p.paid END AS paid
FROM numbered n
CROSS JOIN LATERAL (
    SELECT CASE WHEN pg_temp.demo_unit(n.n, 'invoice.late') < CASE n.trajectory
                         WHEN 'growing' THEN 0.05 + 0.4 * greatest(0, 1 - (n.day - n.first_day) / 120.0)
                         WHEN 'fading' THEN 0.05 + 0.3 * n.day / 730.0
                         WHEN 'lapsed' THEN 0.05 + 0.6 * greatest(0, 1 - (n.lapse_day - n.day) / 120.0)
                         ELSE 0.06 END
                THEN n.due + pg_temp.demo_int(n.n, 'invoice.days_late', 3, 75)
                ELSE n.due - pg_temp.demo_int(n.n, 'invoice.days_early', 0, 25) END AS paid
) AS p
"""

INSERT_INVOICES = """
INSERT INTO {table} (sfid, name, account__c, period__c, amount__c, tax__c, order_count__c, status__c, due_date__c,
                     paid_date__c, external_id__c, createddate, systemmodstamp, isdeleted)
SELECT pg_temp.salesforce_id('a0I', n), 'INV-' || to_char(month, 'YYYY-MM') || '-' || account_number, account_sfid,
       to_char(month, 'YYYY-MM'), round(amount, 2), round(round(amount, 2) * 0.20, 2), orders,
       CASE WHEN paid IS NULL THEN 'Issued' ELSE 'Paid' END, due, paid,
       'inv-' || account_sfid || '-' || to_char(month, 'YYYY-MM'),
       created, coalesce(paid + make_interval(secs => pg_temp.demo_int(n, 'invoice.paid_at', 28800, 64800)), created),
       false
FROM demo_invoice
CROSS JOIN LATERAL (
    SELECT month + interval '1 month' + make_interval(secs => pg_temp.demo_int(n, 'invoice.second', 3600, 21600))
           AS created
) AS c
ORDER BY n
"""

RECORD_LOAD = "INSERT INTO {table} (accounts, orders, seed) VALUES ({accounts}, {orders}, {seed})"


def _sql(template: str, **values) -> sql.Composed:
    """Compose a statement: `table` is an identifier, every other value a literal."""
    return sql.SQL(template).format(
        **{k: v if isinstance(v, sql.Composable) else sql.Literal(v) for k, v in values.items()}
    )


def create_sql_functions(conn, seed: int) -> None:
    """Create the seeded hash functions and `pg_temp.salesforce_id(prefix, n)` for this session."""
    conn.execute(_sql(FUNCTIONS, seed=seed))
    ids.create_sql_functions(conn)


def loaded(conn, app_schema: str = "app") -> bool:
    """Whether demo data has been loaded into this database (by any earlier `load`)."""
    return _exists(conn, app_schema, "demo_data_loads") and _has_rows(conn, app_schema, "demo_data_loads")


def _exists(conn, schema: str, table: str) -> bool:
    """Whether schema.table exists."""
    found = conn.execute("SELECT to_regclass(format('%%I.%%I', %s::text, %s::text)) AS t", (schema, table)).fetchone()
    return found["t"] is not None


def _has_rows(conn, schema: str, table: str) -> bool:
    """Whether schema.table holds at least one row."""
    query = sql.SQL("SELECT EXISTS (SELECT 1 FROM {}) AS e").format(connect.qualified(schema, table))
    return conn.execute(query).fetchone()["e"]


def _table_list(schema: str) -> sql.Composed:
    """The demo data's tables, quoted and comma-separated."""
    return sql.SQL(", ").join(connect.qualified(schema, t) for t in TABLES)


def _check_tables(conn, schema: str, app_schema: str) -> None:
    """Refuse clearly when the Connect schema or the app schema is not there yet."""
    for table in TABLES:
        if not _exists(conn, schema, table):
            raise ValueError(f"{schema}.{table} does not exist: run standins.provision.provision first")
    if not _exists(conn, app_schema, "demo_data_loads"):
        raise ValueError(f"{app_schema}.demo_data_loads does not exist: run core.migrate.migrate first")


def load(
    conn,
    *,
    accounts: int,
    orders: int,
    seed: int = 42,
    schema: str = "salesforce",
    app_schema: str = "app",
    today: date | None = None,
    replace: bool = False,
    log=print,
) -> dict:
    """Load demo rows into the Connect tables as Connect would write them; return row counts and seconds."""
    if not 1 <= accounts <= MAX_ROWS or not 0 <= orders <= MAX_ROWS:
        raise ValueError(f"demo data needs 1 to {MAX_ROWS:,} accounts and 0 to {MAX_ROWS:,} orders")
    if not -(2**31) <= seed < 2**31:
        raise ValueError("the seed must fit in a 32-bit integer")
    if conn.info.transaction_status != pq.TransactionStatus.IDLE:
        # SET LOCAL xmlbinary would outlive load() in the caller's transaction and hide its writes from Connect.
        raise ValueError("load() runs its own transaction: call it on an autocommit connection, outside a transaction")
    today = today or datetime.now(UTC).date()
    big = min(BIG_ACCOUNT_ORDERS, orders // 10)
    common = {"seed": seed, "today": today, "start": today - timedelta(days=730)}
    # Steps named demo_* plan a temporary table; the others insert into the Connect table of that object.
    steps = [
        ("demo_account", PLAN_ACCOUNTS, {"accounts": accounts, "big": big, "rest": orders - big}),
        ("Account", INSERT_ACCOUNTS, {}),
        ("Contact", INSERT_CONTACTS, {}),
        ("demo_product", PLAN_PRODUCTS, {}),
        ("Product2", INSERT_PRODUCTS, {}),
        ("demo_order", PLAN_ORDERS, {}),
        ("demo_item", PLAN_ITEMS, {}),
        ("Order", INSERT_ORDERS, {}),
        ("OrderItem", INSERT_ITEMS, {}),
        ("Case", INSERT_CASES, {}),
        ("demo_invoice", PLAN_INVOICES, {"orders": connect.qualified(schema, "order")}),
        ("Invoice__c", INSERT_INVOICES, {}),
    ]
    rows, seconds = {}, {}
    started = time.perf_counter()
    with conn.transaction():
        # Two loaders at once would each find the tables empty and both write.
        conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (f"demo_data:{schema}",))
        _check_tables(conn, schema, app_schema)
        full = [t for t in TABLES if _has_rows(conn, schema, t)]
        if full and not replace:
            raise ValueError(
                f"{schema} already holds rows in {', '.join(full)}: pass replace=True (--replace) to start over"
            )
        if full:
            # Connect's triggers do not capture TRUNCATE; acceptable for local demo data, never for real data.
            conn.execute(sql.SQL("TRUNCATE {}").format(_table_list(schema)))
        # Connect's own session setting: the status trigger marks rows SYNCED and the log trigger stays quiet.
        write_as_connect(conn)
        # Generated rows can be generated again, so the commit need not wait for the WAL flush;
        # the planning sorts and hash joins fit in memory.
        conn.execute("SET LOCAL synchronous_commit = off")
        conn.execute("SET LOCAL work_mem = '256MB'")
        create_sql_functions(conn, seed)
        for step, template, values in steps:
            t0 = time.perf_counter()
            if step.startswith("demo_"):
                conn.execute(_sql(template, **common, **values))
                # Temporary tables get no statistics by themselves, and the next statements join them.
                conn.execute(sql.SQL("ANALYZE {}").format(sql.Identifier(step)))
            else:
                table = connect.qualified(schema, connect.table_name(step))
                rows[step] = conn.execute(_sql(template, table=table, **common, **values)).rowcount
            seconds[step] = round(time.perf_counter() - t0, 2)
            if step in rows:
                log(f"{step}: {rows[step]:,} rows in {seconds[step]:.1f} s")
        conn.execute(_sql(RECORD_LOAD, table=sql.Identifier(app_schema, "demo_data_loads"),
                          accounts=accounts, orders=orders, seed=seed))
    t0 = time.perf_counter()
    # Fresh statistics, so the first queries on a just-loaded database get good plans.
    conn.execute(sql.SQL("ANALYZE {}").format(_table_list(schema)))
    seconds["analyze"] = round(time.perf_counter() - t0, 2)
    seconds["total"] = round(time.perf_counter() - started, 2)
    log(f"demo data loaded in {seconds['total']:.1f} s")
    return {"rows": rows, "seconds": seconds}


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--accounts", type=int, required=True, help="How many accounts.")
@click.option("--orders", type=int, required=True, help="How many orders, spread over them.")
@click.option("--seed", type=int, default=42, show_default=True, help="The same seed loads the same rows.")
@click.option("--replace", is_flag=True, help="Empty the demo data's Connect tables first.")
@click.option("--database-url", envvar="DATABASE_URL", show_envvar=True, metavar="URL",
              help="The database whose Connect schema gets the demo data.")
def main(accounts, orders, seed, replace, database_url):
    """Load demo data into a local Connect schema, as Connect's initial load would leave it."""
    if not database_url:
        raise click.UsageError("DATABASE_URL is not set: point it at the database whose Connect schema should get "
                               "demo data")
    with db.connect(database_url) as conn:
        try:
            # load() prints each table's row count and time, then the total.
            load(conn, accounts=accounts, orders=orders, seed=seed, replace=replace)
        except ValueError as error:
            raise click.ClickException(str(error)) from None


if __name__ == "__main__":
    main(prog_name="python -m standins.demo_data")
