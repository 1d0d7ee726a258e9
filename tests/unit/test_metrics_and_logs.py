import json

from chalicelib import log as log_module
from chalicelib.metrics import Metrics, RejectReason


def test_request_metrics_are_emf_in_the_guides_namespace_and_dimension():
    lines = []
    Metrics("Production", lines.append).request(
        events_processed=24, processing_ms=12.3456, processing_errors=1,
        rejected={RejectReason.INVALID: 2, RejectReason.BOT: 0}, properties={"status_code": 503})
    main, rejected = (json.loads(line) for line in lines)  # Bot: 0 writes no line
    directive = main["_aws"]["CloudWatchMetrics"][0]
    assert directive["Namespace"] == "LiveInsight"
    assert directive["Dimensions"] == [["Environment"]]
    assert {m["Name"]: m["Unit"] for m in directive["Metrics"]} == {
        "EventsProcessed": "Count", "ProcessingTime": "Milliseconds", "ProcessingErrors": "Count"}
    assert (main["Environment"], main["EventsProcessed"], main["ProcessingTime"], main["ProcessingErrors"]) == (
        "Production", 24, 12.346, 1)
    assert main["status_code"] == 503
    assert rejected["_aws"]["CloudWatchMetrics"][0]["Dimensions"] == [["Environment", "Reason"]]
    assert (rejected["Reason"], rejected["EventsRejected"]) == ("Invalid", 2)


def test_only_error_lines_contain_the_word_error(capsys):
    log_module.log("WARNING", "retrying", code="ERROR_FROM_UPSTREAM")
    log_module.log("ERROR", "events not stored", events=3)
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [line["level"] for line in lines] == ["WARNING", "ERROR"]
    raw = [json.dumps(line) for line in lines]
    assert ["ERROR" in text for text in raw] == [False, True]
