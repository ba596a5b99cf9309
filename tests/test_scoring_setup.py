"""`org setup` creates the Account's churn-risk fields, as the write-back needs them."""

from core import org_setup


def test_org_setup_creates_the_three_churn_fields_with_their_types():
    _, fields = org_setup.required_metadata()
    wanted = {f["fullName"]: f for f in fields if f["fullName"].startswith("Account.Churn_Risk")}
    assert set(wanted) == {"Account.Churn_Risk__c", "Account.Churn_Risk_Band__c",
                           "Account.Churn_Risk_Scored_At__c"}
    risk, band, at = (wanted[f"Account.Churn_Risk{n}__c"] for n in ("", "_Band", "_Scored_At"))
    assert (risk["type"], risk["precision"], risk["scale"]) == ("Number", 5, 1)
    assert band["type"] == "Picklist" and band["valueSet"]["restricted"] is True
    assert [v["fullName"] for v in band["valueSet"]["valueSetDefinition"]["value"]] == ["Low", "Medium", "High"]
    assert at["type"] == "DateTime"
