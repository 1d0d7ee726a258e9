"""`make screenshots` (scripts/screenshots.py) in its quick mode into a temporary directory: its own stack comes up and
goes away, every picture is written at its width, and the page had no console error, failed request or card error
while they were taken. What the pictures look like is looked at by a person, not compared pixel by pixel."""

from __future__ import annotations

import struct

import pytest

from scripts import screenshots

pytestmark = pytest.mark.e2e
VIEWS = ["realtime", "7d-filtered", "goals-funnel", "properties"]


def png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR"
    return struct.unpack(">II", data[16:24])


def test_the_screenshots_are_taken_at_both_widths_without_errors(tmp_path):
    result = screenshots.run(tmp_path, screenshots.QUICK, say=lambda text: None)
    assert result.problems == []
    assert sorted(p.name for p in result.files) == sorted(f"{w}-{v}.png" for w in ("desktop", "phone") for v in VIEWS)
    sizes = {p.name: png_size(p.read_bytes()) for p in result.files}
    assert sizes["desktop-realtime.png"] == sizes["desktop-7d-filtered.png"] == (1280, 900)  # the viewport
    for view in ("realtime", "7d-filtered"):  # a phone's go down to the chart's end
        width, height = sizes[f"phone-{view}.png"]
        assert width == 390 and 844 < height < 2000, (view, width, height)
    for view in ("goals-funnel", "properties"):  # cropped to their cards
        assert 300 < sizes[f"desktop-{view}.png"][0] <= 1280 and sizes[f"phone-{view}.png"][0] == 390
        assert 150 < sizes[f"desktop-{view}.png"][1] < 1600
    assert sum(p.stat().st_size for p in result.files) < 2 * 1024 * 1024
    assert result.pageviews > 100
    # the cards pictured answered rows: realtime's 30 minutes may leave goals empty, the 7 days may not
    assert not [e for e in result.empty if not e.startswith(("desktop-realtime", "phone-realtime"))], result.empty
