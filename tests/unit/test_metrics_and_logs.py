import json

from chalicelib.core import log as log_module
from chalicelib.core.metrics import Metrics, RejectReason


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


def test_a_single_sites_page_views_ride_on_the_requests_line():
    lines = []
    metrics = Metrics("Production", lines.append)
    metrics.request(events_processed=3, processing_ms=1, processing_errors=0, rejected={},
                    pageviews_by_site={"shop": 3})
    [line] = (json.loads(text) for text in lines)
    main, per_site = line["_aws"]["CloudWatchMetrics"]
    assert per_site["Dimensions"] == [["Environment", "Site"]] and per_site["Metrics"] == [
        {"Name": "PageViews", "Unit": "Count"}]
    assert (line["Site"], line["PageViews"], line["EventsProcessed"]) == ("shop", 3, 3)
    assert main["Dimensions"] == [["Environment"]]

    lines.clear()
    metrics.request(events_processed=3, processing_ms=1, processing_errors=0, rejected={},
                    pageviews_by_site={"shop": 2, "blog": 1})
    sites = [json.loads(text) for text in lines[1:]]
    assert sorted((s["Site"], s["PageViews"]) for s in sites) == [("blog", 1), ("shop", 2)]
    assert "Site" not in json.loads(lines[0])
