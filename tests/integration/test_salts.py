"""Daily salts: random, shared by every process, rotated by day, kept for the midnight boundary."""

from datetime import date

from chalicelib.store import SaltStore

TABLE = "LiveInsight-local-Events"


def test_processes_agree_on_the_days_salt_and_days_differ(dynamodb):
    first, second = SaltStore(dynamodb, TABLE), SaltStore(dynamodb, TABLE)
    today = date(2026, 11, 26)
    salt, previous = first.salts_for(today)
    assert len(salt) == 16 and previous is None
    assert second.salts_for(today) == (salt, None)
    tomorrow_salt, kept = second.salts_for(date(2026, 11, 27))
    assert kept == salt and tomorrow_salt != salt


def test_salts_expire_two_days_after_their_day(dynamodb):
    SaltStore(dynamodb, TABLE).salts_for(date(2026, 11, 26))
    item = dynamodb.get_item(TableName=TABLE, Key={"pk": {"S": "salt#2026-11-26"}})["Item"]
    assert int(item["expires_at_s"]["N"]) == 1_795_910_400  # 2026-11-29T00:00:00Z
