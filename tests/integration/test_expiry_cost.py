"""The expiry cost measurement (bench/expiry_cost.py) in a tiny configuration, so it cannot rot:
reads track the sessions to end, not the sessions stored."""

from bench.expiry_cost import measure


def test_expiry_reads_one_index_item_per_ended_session(aws_env):
    figures = measure(idle=30, active=300)
    assert (figures["ended"], figures["items_read"]) == (30, 30)
    assert figures["requests"] == {"Query": 8, "UpdateItem": 30}
