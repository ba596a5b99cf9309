"""The records every org has before anyone writes one: its Organization, the integration user and its
profile, and the standard price book.

Clients read them: simple-salesforce's `is_sandbox()` queries `Organization.IsSandbox`, tools ask
who they are logged in as (`SELECT Id, Username FROM User`), and every owned record's OwnerId points
at the user. `ensure_records` creates them when the org starts, and is safe to run at every start.
"""

from psycopg import sql
from psycopg.types.json import Jsonb

from standins.org import describe, store
from standins.org.api.common import ORG_ID, TIME_ZONE, USER_ID
from standins.org.ids import salesforce_id

PROFILE_ID = salesforce_id("00e", 1)
STANDARD_PRICE_BOOK_ID = salesforce_id("01s", 1)
USERNAME = "developer@local.org"

RECORDS = (
    ("Organization", ORG_ID, {
        "Name": "Local Developer Org", "Country": "US", "PrimaryContact": "Local Developer",
        "DefaultLocaleSidKey": "en_US", "LanguageLocaleKey": "en_US", "TimeZoneSidKey": TIME_ZONE,
        "FiscalYearStartMonth": 1, "IsSandbox": False, "InstanceName": "LOCAL", "OrganizationType": "Developer Edition",
        "NamespacePrefix": None, "TrialExpirationDate": None}),
    ("Profile", PROFILE_ID, {"Name": "System Administrator", "UserType": "Standard", "Description": None}),
    ("User", USER_ID, {
        "Username": USERNAME, "FirstName": "Local", "LastName": "Developer", "Name": "Local Developer",
        "Email": USERNAME, "Alias": "ldev", "CommunityNickname": "developer", "IsActive": True,
        "TimeZoneSidKey": TIME_ZONE, "LocaleSidKey": "en_US", "EmailEncodingKey": "UTF-8",
        "LanguageLocaleKey": "en_US", "ProfileId": PROFILE_ID, "UserType": "Standard"}),
    ("Pricebook2", STANDARD_PRICE_BOOK_ID, {
        "Name": "Standard Price Book", "IsActive": True, "IsArchived": False, "IsStandard": True,
        "Description": None}),
)

ADD_RECORD = ("INSERT INTO {s}.records (id, object, fields, created_date, system_modstamp) "
              "VALUES (%s, %s, %s, {now}, {now}) ON CONFLICT (id) DO NOTHING")
# Records written before the org kept owners belong to the integration user, as every new one does.
ADOPT_UNOWNED = ("UPDATE {s}.records SET fields = fields || jsonb_build_object('OwnerId', %s::text) "
                 "WHERE object = ANY(%s) AND NOT fields ? 'OwnerId'")


def ensure_records(conn, schema: str) -> None:
    """Create the standard records the org lacks, and give every owned record an owner (idempotent)."""
    s = sql.Identifier(schema)
    with conn.transaction():
        for obj, record_id, fields in RECORDS:
            conn.execute(sql.SQL(ADD_RECORD).format(s=s, now=store.NOW), (record_id, obj, Jsonb(fields)))
        owned = [name for name in describe.objects() if describe.owned(name)]
        conn.execute(sql.SQL(ADOPT_UNOWNED).format(s=s), (USER_ID, owned))
