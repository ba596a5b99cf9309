"""A small demo data set written into the org itself (`python manage.py org seed`), through the Bulk API 2.0.

A fresh org (Developer Edition, sandbox) has nothing for the portal to show. This writes a small,
realistic, deterministic data set into the org the app is pointed at, so that Connect syncs it
down like any other data: 12 accounts, 2 contacts each, 8 products with their standard price book
entries, 3 orders per account (2 items each; the older ones activated), a case and an invoice per
account — about 200 records, far under the demo plan's 10,000 synced rows.

What a real org requires for orders, in order: the standard price book (every org has one; it may
be inactive: it is activated), a price book entry per product in it, orders created in Draft with
that price book, order items against the entries, and only then the orders' activation (Salesforce
refuses to activate an order without items). Every record carries a key, so a rerun creates
nothing new: accounts by AccountNumber, products by ProductCode, entries by product, orders by
PoNumber, items by (order, product); contacts, cases and invoices by their External_ID__c field,
written with upsert on it. Whatever exists is read first and only the rest is created.
"""

import csv
import hashlib
import io
from dataclasses import dataclass, field
from datetime import date, timedelta

from simple_salesforce.exceptions import SalesforceError, SalesforceOperationError

from core import connect, connect_validate

ACCOUNTS, CONTACTS_PER_ACCOUNT, ORDERS_PER_ACCOUNT, ITEMS_PER_ORDER = 12, 2, 3, 2
# simple-salesforce waits this long before its first look at a Bulk API job (then backs off by itself).
BULK_POLL_SECONDS = 0.5
# Orders effective at least this many days ago are activated; the recent ones stay Draft.
ACTIVATED_AFTER_DAYS = 14
ACCOUNT_KEY, PRODUCT_KEY, ORDER_KEY = "SEED-A", "SEED-P", "SEED-O-"
CONTACT_KEY, CASE_KEY, INVOICE_KEY = "seed-contact-", "seed-case-", "seed-invoice-"
# The objects seeding writes, and what a real org needs switched on (or set up) for each.
NEEDED_OBJECTS = {
    "Account": "Account is a standard object every org has",
    "Contact": "Contact is a standard object every org has",
    "Product2": "Setup → Products: products must be available (Sales Cloud)",
    "Pricebook2": "Setup → Price Books: price books must be available (Sales Cloud)",
    "PricebookEntry": "Setup → Price Books: price books must be available (Sales Cloud)",
    "Order": "Setup → Order Settings → Enable Orders",
    "OrderItem": "Setup → Order Settings → Enable Orders",
    "Case": "Case is a standard object every org has (Service Cloud features may be off)",
    "Invoice__c": "run `python manage.py org setup` first: it creates the custom object",
}
NEEDED_FIELDS = {"Contact": "External_ID__c", "Case": "External_ID__c", "Invoice__c": "External_ID__c",
                 "Order": "Pricebook2Id", "OrderItem": "PricebookEntryId"}

_COMPANIES = ("Bluefield", "Cedar Point", "Ironwood", "Lakeview", "Northgate", "Oakridge", "Pinecrest", "Riverstone",
              "Silverline", "Stonebridge", "Sunvale", "Westbrook")
_KINDS = (("Technology", "Systems"), ("Manufacturing", "Industries"), ("Retail", "Stores"),
          ("Healthcare", "Clinics"), ("Energy", "Power"), ("Education", "Learning"))
_CITIES = (("Austin", "TX", "78701", "(512) 555-01"), ("Boston", "MA", "02108", "(617) 555-01"),
           ("Chicago", "IL", "60601", "(312) 555-01"), ("Denver", "CO", "80202", "(303) 555-01"),
           ("Seattle", "WA", "98101", "(206) 555-01"), ("Portland", "OR", "97204", "(503) 555-01"))
_FIRST = ("Ada", "Grace", "Alan", "Linus", "Margaret", "Dennis", "Barbara", "Ken", "Frances", "Edsger", "Radia",
          "Donald")
_LAST = ("Lovelace", "Hopper", "Turing", "Torvalds", "Hamilton", "Ritchie", "Liskov", "Thompson", "Allen",
         "Dijkstra", "Perlman", "Knuth")
PRODUCTS = (("Edge Gateway", "Hardware", 1200.0), ("Sensor Pack", "Hardware", 240.0),
            ("Fleet Analytics", "Software", 89.0), ("Sync Agent", "Software", 49.0),
            ("Onboarding", "Services", 950.0), ("Support Plan", "Services", 300.0),
            ("Cable Kit", "Supplies", 35.0), ("Label Roll", "Supplies", 12.5))
_CASES = (("Gateway offline after firmware update", "Problem", "High", "Phone"),
          ("How do I add a second site?", "Question", "Low", "Web"),
          ("Invoice shows the wrong address", "Problem", "Medium", "Email"),
          ("Request: export orders as CSV", "Feature Request", "Low", "Web"))


class SeedRefused(Exception):
    """The org cannot take the data as it is set up; the message says what to switch on."""


def _pick(n: int, what: str, choices):
    """A deterministic choice for row `n`: the same every run, spread like a random one."""
    digest = hashlib.sha256(f"{what}:{n}".encode()).digest()
    return choices[int.from_bytes(digest[:4], "big") % len(choices)]


@dataclass
class Plan:
    """Every record to seed, by object, each with the key that finds it again."""

    accounts: list[dict] = field(default_factory=list)
    contacts: list[dict] = field(default_factory=list)
    products: list[dict] = field(default_factory=list)
    orders: list[dict] = field(default_factory=list)
    items: list[dict] = field(default_factory=list)
    cases: list[dict] = field(default_factory=list)
    invoices: list[dict] = field(default_factory=list)

    def sizes(self) -> dict[str, int]:
        """Records per object, price book entries (one a product) included."""
        return {"Account": len(self.accounts), "Contact": len(self.contacts), "Product2": len(self.products),
                "PricebookEntry": len(self.products), "Order": len(self.orders), "OrderItem": len(self.items),
                "Case": len(self.cases), "Invoice__c": len(self.invoices)}


def plan(today: date) -> Plan:
    """The data set: the same records for the same `today` (dates count back from it)."""
    p = Plan()
    invoiced = (today.replace(day=1) - timedelta(days=1)).replace(day=1) - timedelta(days=1)  # two months back
    for n, (name, family, price) in enumerate(PRODUCTS, 1):
        p.products.append({"ProductCode": f"{PRODUCT_KEY}{n:02d}", "Name": name, "Family": family, "IsActive": True,
                           "Description": f"{name} ({family.lower()})", "price": price})
    for a in range(1, ACCOUNTS + 1):
        industry, suffix = _pick(a, "kind", _KINDS)
        city, state, postal, phone = _CITIES[(a - 1) % len(_CITIES)]
        number = f"{ACCOUNT_KEY}{a:03d}"
        p.accounts.append({"AccountNumber": number, "Name": f"{_COMPANIES[a - 1]} {suffix}",
                           "Type": "Customer - Channel" if a % 4 == 0 else "Customer - Direct",
                           "Industry": industry, "Phone": f"{phone}{a:02d}",
                           "BillingStreet": f"{100 + 7 * a} Main Street", "BillingCity": city,
                           "BillingState": state, "BillingPostalCode": postal,
                           "BillingCountry": "United States"})
        contacts = []
        for c in range(CONTACTS_PER_ACCOUNT):
            k = (a - 1) * CONTACTS_PER_ACCOUNT + c + 1
            first, last = _FIRST[(k - 1) % len(_FIRST)], _LAST[(k * 5) % len(_LAST)]
            contacts.append({"External_ID__c": f"{CONTACT_KEY}{k:03d}", "account": number, "FirstName": first,
                             "LastName": last, "Email": f"{first.lower()}.{last.lower()}.{k}@example.com",
                             "Phone": f"{phone}{k % 100:02d}", "MailingCity": city, "MailingState": state,
                             "MailingPostalCode": postal, "MailingCountry": "United States"})
        p.contacts += contacts
        for o in range(ORDERS_PER_ACCOUNT):
            k = (a - 1) * ORDERS_PER_ACCOUNT + o + 1
            effective = today - timedelta(days=(k * 11) % 84 + 1 if o else 40 + a)
            po = f"{ORDER_KEY}{k:03d}"
            p.orders.append({"PoNumber": po, "account": number, "contact": contacts[0]["External_ID__c"],
                             "EffectiveDate": effective.isoformat(), "Description": f"Order {k} for {number}",
                             "activate": (today - effective).days >= ACTIVATED_AFTER_DAYS})
            for i in range(ITEMS_PER_ORDER):
                product = p.products[(k + 3 * i) % len(p.products)]
                p.items.append({"order": po, "product": product["ProductCode"], "Quantity": float(1 + (k + i) % 4),
                                "UnitPrice": product["price"], "Description": f"{product['Name']} for {po}"})
        subject, kind, priority, origin = _CASES[(a - 1) % len(_CASES)]
        p.cases.append({"External_ID__c": f"{CASE_KEY}{a:03d}", "account": number,
                        "contact": contacts[-1]["External_ID__c"], "order": f"{ORDER_KEY}{(a - 1) * 3 + 1:03d}",
                        "Subject": subject, "Type": kind, "Priority": priority, "Origin": origin,
                        "Status": "Closed" if a % 3 == 0 else "New", "Description": f"{subject} ({number})"})
        p.invoices.append({"External_ID__c": f"{INVOICE_KEY}{a:03d}", "account": number,
                           "Name": f"INV-{invoiced:%Y%m}-{a:03d}", "Period__c": f"{invoiced:%Y-%m}",
                           "Amount__c": round(100.0 * (a + 4), 2), "Tax__c": round(8.0 * (a + 4), 2),
                           "Order_Count__c": float(1 + a % 3), "Status__c": "Paid" if a % 2 else "Issued",
                           "Due_Date__c": (invoiced + timedelta(days=30)).isoformat()})
    return p


# ---- reading the org ------------------------------------------------------------------------------

def _soql_list(values) -> str:
    """A SOQL IN list of Ids or keys (they are ours: letters, digits and dashes)."""
    return ", ".join(f"'{v}'" for v in values)


def _query(sf, soql: str) -> list[dict]:
    return sf.query_all(soql)["records"]


def _by(records, key) -> dict:
    return {r[key]: r for r in records}


def check_org(sf) -> None:
    """SeedRefused naming what to switch on when the org lacks an object or field seeding writes."""
    available = {o["name"] for o in sf.describe()["sobjects"]}
    missing = [name for name in NEEDED_OBJECTS if name not in available]
    if missing:
        steps = dict.fromkeys(NEEDED_OBJECTS[name] for name in missing)
        raise SeedRefused(f"the org has no {', '.join(missing)}: " + "; ".join(steps))
    for obj, field_name in NEEDED_FIELDS.items():
        fields = {f["name"] for f in getattr(sf, obj).describe()["fields"]}
        if field_name not in fields:
            hint = NEEDED_OBJECTS[obj] if field_name.endswith("Id") else (
                "run `python manage.py org setup` first (if the field exists, give your user access to it: Setup → "
                f"Object Manager → {obj} → Fields → {field_name} → Set Field-Level Security)")
            raise SeedRefused(f"the org has no {obj}.{field_name} (or cannot see it): {hint}")


def standard_price_book(sf, *, dry_run: bool, echo) -> str | None:
    """The standard price book's Id, activated if it is not (None in a dry run of an org without one)."""
    books = _query(sf, "SELECT Id, IsActive FROM Pricebook2 WHERE IsStandard = true")
    if not books:
        raise SeedRefused("the org has no standard price book: open Setup → Price Books (or the Price Books tab) "
                          "once, which creates it, then rerun")
    book = books[0]
    if not book["IsActive"]:
        echo(f"  {'would activate' if dry_run else 'activate'}  the standard price book {book['Id']}")
        if not dry_run:
            sf.Pricebook2.update(book["Id"], {"IsActive": True})
    return book["Id"]


# ---- writing ----------------------------------------------------------------------------------------

def _cell(value):
    if isinstance(value, bool):
        return "true" if value else "false"
    return "" if value is None else value


def _bulk(sf, obj: str, operation: str, records: list[dict], external_id: str | None = None) -> None:
    """Write records with a Bulk API 2.0 ingest job; SeedRefused with Salesforce's reasons if any fails."""
    if not records:
        return
    rows = [{k: _cell(v) for k, v in r.items()} for r in records]
    handler = getattr(sf.bulk2, obj)
    try:
        if operation == "upsert":
            results = handler.upsert(records=rows, external_id_field=external_id, wait=BULK_POLL_SECONDS)
        else:
            results = getattr(handler, operation)(records=rows, wait=BULK_POLL_SECONDS)
    except SalesforceError as exc:
        raise SeedRefused(f"{obj}: Salesforce refused the Bulk API job ({exc.status}): {exc.content}") from exc
    except SalesforceOperationError as exc:
        raise SeedRefused(f"{obj}: the Bulk API job failed: {exc}") from exc
    for result in results:
        if result["numberRecordsFailed"]:
            failed = list(csv.DictReader(io.StringIO(handler.get_failed_records(result["job_id"]))))
            reasons = sorted({row.get("sf__Error", "") for row in failed})
            raise SeedRefused(f"{obj}: {result['numberRecordsFailed']} record(s) refused: {'; '.join(reasons[:3])}")


@dataclass
class Result:
    """What seeding created (or, in a dry run, would), by object, and the records that were already there."""

    created: dict = field(default_factory=dict)
    existing: dict = field(default_factory=dict)
    contacts: list = field(default_factory=list)  # the seeded contacts' external ids, each account's first

    def mapped_created(self) -> int:
        """Records created in the mapped objects: rows Connect will sync."""
        return sum(n for obj, n in self.created.items() if obj in connect.mappings())


def _existing(sf, obj: str, key_field: str, prefix: str, extra: str = "") -> dict:
    """The org's seeded records of an object, by key (the key is ours: letters, digits and dashes)."""
    soql = f"SELECT Id, {key_field}{extra} FROM {obj} WHERE {key_field} LIKE '{prefix}%'"  # noqa: S608
    return _by(_query(sf, soql), key_field)


def _without(record: dict, *names) -> dict:
    return {k: v for k, v in record.items() if k not in names}


def _run(sf, p: Plan, *, dry_run: bool, echo) -> Result:
    """One pass over the plan: read what exists, create the rest (or only count it, in a dry run)."""
    result = Result(contacts=[c["External_ID__c"] for c in p.contacts[::CONTACTS_PER_ACCOUNT]])

    def step(obj, planned, existing_keys, write):
        missing = [r for r in planned if r["_key"] not in existing_keys]
        result.created[obj], result.existing[obj] = len(missing), len(planned) - len(missing)
        echo(f"  {obj:<16} {len(planned) - len(missing):>4} exist  {len(missing):>4} "
             f"{'to create' if dry_run else 'created'}")
        if missing and not dry_run:
            write([_without(r, "_key") for r in missing])

    def ids(found):
        return {k: r["Id"] for k, r in found.items()}

    book = standard_price_book(sf, dry_run=dry_run, echo=echo)
    step("Account", [{**r, "_key": r["AccountNumber"]} for r in p.accounts],
         _existing(sf, "Account", "AccountNumber", ACCOUNT_KEY), lambda rows: _bulk(sf, "Account", "insert", rows))
    accounts = ids(_existing(sf, "Account", "AccountNumber", ACCOUNT_KEY))

    contact_key = ("Contact", "External_ID__c", CONTACT_KEY)
    step("Contact", [{**_without(r, "account"), "AccountId": accounts.get(r["account"]), "_key": r["External_ID__c"]}
                     for r in p.contacts], _existing(sf, *contact_key),
         lambda rows: _bulk(sf, "Contact", "upsert", rows, "External_ID__c"))
    contacts = ids(_existing(sf, *contact_key))

    step("Product2", [{**_without(r, "price"), "_key": r["ProductCode"]} for r in p.products],
         _existing(sf, "Product2", "ProductCode", PRODUCT_KEY), lambda rows: _bulk(sf, "Product2", "insert", rows))
    products = ids(_existing(sf, "Product2", "ProductCode", PRODUCT_KEY))

    def entries():
        if not products:
            return {}
        return _by(_query(sf, "SELECT Id, Product2Id FROM PricebookEntry WHERE Pricebook2Id = "  # noqa: S608
                              f"'{book}' AND Product2Id IN ({_soql_list(products.values())})"), "Product2Id")
    step("PricebookEntry", [{"Pricebook2Id": book, "Product2Id": products.get(r["ProductCode"]),
                             "UnitPrice": r["price"], "IsActive": True,
                             "_key": products.get(r["ProductCode"]) or r["ProductCode"]} for r in p.products],
         entries(), lambda rows: _bulk(sf, "PricebookEntry", "insert", rows))
    prices = ids(entries())

    step("Order", [{**_without(r, "account", "contact", "activate"), "AccountId": accounts.get(r["account"]),
                    "BillToContactId": contacts.get(r["contact"]), "Pricebook2Id": book, "Status": "Draft",
                    "_key": r["PoNumber"]} for r in p.orders],
         _existing(sf, "Order", "PoNumber", ORDER_KEY), lambda rows: _bulk(sf, "Order", "insert", rows))
    orders = _existing(sf, "Order", "PoNumber", ORDER_KEY, ", Status")

    def items():
        if not orders:
            return set()
        found = _query(sf, "SELECT OrderId, Product2Id FROM OrderItem WHERE OrderId IN "  # noqa: S608
                           f"({_soql_list(r['Id'] for r in orders.values())})")
        return {(r["OrderId"], r["Product2Id"]) for r in found}
    planned = []
    for r in p.items:
        order, product = orders.get(r["order"], {}).get("Id"), products.get(r["product"])
        planned.append({**_without(r, "order", "product"), "OrderId": order, "Product2Id": product,
                        "PricebookEntryId": prices.get(product), "_key": (order or r["order"], product)})
    step("OrderItem", planned, items(), lambda rows: _bulk(sf, "OrderItem", "insert", rows))

    # Only now: Salesforce refuses to activate an order without items. A dry run counts the orders
    # still to create as well.
    due = [r for r in p.orders if r["activate"]]
    drafts = [{"Id": orders[r["PoNumber"]]["Id"], "Status": "Activated"} for r in due
              if orders.get(r["PoNumber"], {}).get("Status") == "Draft"]
    result.created["Order activated"] = len(drafts) + (sum(r["PoNumber"] not in orders for r in due) if dry_run else 0)
    echo(f"  {'Order activation':<16} {len(due) - result.created['Order activated']:>4} done   "
         f"{result.created['Order activated']:>4} {'to activate' if dry_run else 'activated'}")
    if drafts and not dry_run:
        _bulk(sf, "Order", "update", drafts)

    step("Case", [{**_without(r, "account", "contact", "order"), "AccountId": accounts.get(r["account"]),
                   "ContactId": contacts.get(r["contact"]), "Order__c": orders.get(r["order"], {}).get("Id"),
                   "_key": r["External_ID__c"]} for r in p.cases],
         _existing(sf, "Case", "External_ID__c", CASE_KEY),
         lambda rows: _bulk(sf, "Case", "upsert", rows, "External_ID__c"))
    step("Invoice__c", [{**_without(r, "account"), "Account__c": accounts.get(r["account"]),
                         "_key": r["External_ID__c"]} for r in p.invoices],
         _existing(sf, "Invoice__c", "External_ID__c", INVOICE_KEY),
         lambda rows: _bulk(sf, "Invoice__c", "upsert", rows, "External_ID__c"))
    return result


def seed(sf, *, today: date | None = None, dry_run: bool = False, cap: int = connect.DEMO_PLAN_ROWS,
         echo=print) -> tuple[Result, int]:
    """Create in the org whatever of the plan it lacks, once sure it fits under the cap (a dry run only reads).

    Returns what was created and the mapped objects' records afterwards (what Connect syncs).
    """
    p = plan(today or date.today())
    check_org(sf)
    counts = connect_validate.row_counts(sf, connect.mappings())
    planned = _run(sf, p, dry_run=True, echo=echo if dry_run else lambda *_: None)
    after = sum(counts.values()) + planned.mapped_created()
    if after > cap:
        raise SeedRefused(f"the mapped objects would hold {after:,} records, over the plan's cap of {cap:,} synced "
                          "rows: seed an emptier org (or a plan without the cap)")
    if dry_run:
        return planned, after
    done = _run(sf, p, dry_run=False, echo=echo)
    return done, sum(connect_validate.row_counts(sf, connect.mappings()).values())
