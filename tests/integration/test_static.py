"""What the API serves itself: the SDK (first party, cacheable) and the demo site."""

import gzip
import json
import subprocess

from chalicelib.static import static_file, static_version
from tests.conftest import PROJECT_DIR


def test_the_sdk_is_served_with_an_etag_and_revalidated(api):
    response = api.http.get("/liveinsight.js")
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/javascript")
    assert response.body.decode() == static_file("liveinsight.js")
    etag = response.headers["ETag"]
    assert etag == f'"{static_version("liveinsight.js")}"'
    assert response.headers["Cache-Control"] == "public, max-age=3600"
    again = api.http.get("/liveinsight.js", headers={"If-None-Match": etag})
    assert again.status_code == 304 and again.body == b""


def test_a_versioned_sdk_url_is_cached_for_a_year(api):
    version = static_version("liveinsight.js")
    response = api.http.get(f"/liveinsight.js?v={version}")
    assert response.headers["Cache-Control"] == "public, max-age=31536000, immutable"
    stale = api.http.get("/liveinsight.js?v=0000")
    assert stale.headers["Cache-Control"] == "public, max-age=3600"  # an old version is not pinned


def test_the_served_sdk_is_the_current_build_and_within_its_2kb_budget():
    check = subprocess.run(["node", "build.mjs", "--check"], cwd=PROJECT_DIR / "sdk", capture_output=True, text=True)
    assert check.returncode == 0, check.stderr + check.stdout
    assert len(gzip.compress(static_file("liveinsight.js").encode(), 9)) <= 2048


def test_the_demo_site_installs_the_sdk_with_one_line(api):
    for path, sdk in (("/demo", 'src="liveinsight.js"'), ("/demo/pricing", 'src="../liveinsight.js"')):
        page = api.http.get(path)
        assert page.status_code == 200 and page.headers["Content-Type"].startswith("text/html")
        html = page.body.decode()
        assert f'<script defer {sdk} data-site="demo" data-outbound></script>' in html
        assert "{{" not in html


def test_dashboard_files(api):
    page = api.http.get("/dashboard")
    assert page.status_code == 200 and "default-src 'self'" in page.headers["Content-Security-Policy"]
    for asset, kind in (("app.js", "text/javascript"), ("chart.js", "text/javascript"), ("app.css", "text/css")):
        served = api.http.get(f"/dashboard/{asset}")
        assert served.headers["Content-Type"].startswith(kind) and served.body.decode() == static_file(asset)
    # a bookmarked view's query string is the page's own (site, period, filters)
    assert api.http.get("/dashboard?site=demo&period=7d&f=is,visit:country,DE").status_code == 200
    missing = api.http.get("/dashboard/secrets.txt")
    assert missing.status_code == 404 and json.loads(missing.body)["error"]["code"] == "not_found"
