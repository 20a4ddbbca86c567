"""PostgreSQL triggers that tell RADIUS servers when an Access-Request's inputs change.

Every change that can alter an Access-Request decision sends ``NOTIFY octet_auth`` in its
own transaction (delivered at commit): ``u:USERNAME`` for a subscription, ``s:ID`` for a
quota cut, ``*`` for a plan version or the operator. The RADIUS auth cache
(octet/network/authcache.py) drops what changed. Only the columns the decision reads count,
so billing's updates of next_bill_at notify nobody. Nothing on SQLite (no NOTIFY; there the
server reads the database for every request).
"""

from django.db import migrations

WATCHED = (
    "state",
    "password_encrypted",
    "static_ip",
    "framed_pool",
    "prepaid_expires_at",
    "anchor_date",
    "plan_version_id",
    "username",
)

CREATE = f"""
CREATE OR REPLACE FUNCTION octet_auth_changed() RETURNS trigger AS $$
BEGIN
  IF TG_TABLE_NAME = 'subscriptions_subscription' THEN
    IF TG_OP <> 'INSERT' THEN PERFORM pg_notify('octet_auth', 'u:' || OLD.username); END IF;
    IF TG_OP <> 'DELETE' THEN PERFORM pg_notify('octet_auth', 'u:' || NEW.username); END IF;
  ELSIF TG_TABLE_NAME = 'metering_quotaevent' THEN
    IF TG_OP = 'DELETE' THEN
      PERFORM pg_notify('octet_auth', 's:' || OLD.subscription_id);
    ELSE
      PERFORM pg_notify('octet_auth', 's:' || NEW.subscription_id);
    END IF;
  ELSE
    PERFORM pg_notify('octet_auth', '*');
  END IF;
  RETURN NULL;
END
$$ LANGUAGE plpgsql;

CREATE TRIGGER octet_auth_subscription_insert_delete
  AFTER INSERT OR DELETE ON subscriptions_subscription
  FOR EACH ROW EXECUTE FUNCTION octet_auth_changed();
CREATE TRIGGER octet_auth_subscription_update
  AFTER UPDATE ON subscriptions_subscription
  FOR EACH ROW WHEN ({" OR ".join(f"OLD.{c} IS DISTINCT FROM NEW.{c}" for c in WATCHED)})
  EXECUTE FUNCTION octet_auth_changed();
CREATE TRIGGER octet_auth_quota
  AFTER INSERT OR UPDATE OR DELETE ON metering_quotaevent
  FOR EACH ROW EXECUTE FUNCTION octet_auth_changed();
CREATE TRIGGER octet_auth_plan_version
  AFTER UPDATE OR DELETE ON catalog_planversion
  FOR EACH STATEMENT EXECUTE FUNCTION octet_auth_changed();
CREATE TRIGGER octet_auth_operator
  AFTER UPDATE ON core_operator
  FOR EACH STATEMENT EXECUTE FUNCTION octet_auth_changed();
"""

DROP = """
DROP TRIGGER IF EXISTS octet_auth_subscription_insert_delete ON subscriptions_subscription;
DROP TRIGGER IF EXISTS octet_auth_subscription_update ON subscriptions_subscription;
DROP TRIGGER IF EXISTS octet_auth_quota ON metering_quotaevent;
DROP TRIGGER IF EXISTS octet_auth_plan_version ON catalog_planversion;
DROP TRIGGER IF EXISTS octet_auth_operator ON core_operator;
DROP FUNCTION IF EXISTS octet_auth_changed();
"""


def _run(sql):
    def apply(apps, schema_editor):
        if schema_editor.connection.vendor == "postgresql":
            schema_editor.execute(sql)

    return apply


class Migration(migrations.Migration):
    dependencies = [
        ("network", "0002_coa_response_length"),
        ("subscriptions", "0003_prepaid_notices"),
        ("metering", "0001_initial"),
        ("catalog", "0002_planversion_overage_tiers"),
        ("core", "0003_receipt_series"),
    ]

    operations = [migrations.RunPython(_run(CREATE), _run(DROP))]
