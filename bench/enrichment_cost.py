"""What enrichment costs (issue 12, item 4): import, first call and steady state, on public user agents.

    .venv/bin/python -m bench.enrichment_cost [--quick]

Each figure that involves a cold process is taken in fresh `python -I` processes (median of 5):
- import_ms: importing chalicelib.enrich (no data is loaded at import);
- first_call_ms: the first event's User-Agent work (bot check, browser/OS/device, channel) in a fresh
  process, which loads the bot patterns, the device index and the referrer lookup;
Then in one process, over the browsers of Matomo's public fixtures (device-detector's wheel):
- uncached_ms: per distinct User-Agent never seen before (median);
- steady_events_per_second: a stream where each visitor's User-Agent sends EVENTS_PER_UA events,
  as visits do, through the caches the collector keeps;
- package_bytes: what the enrichment's data and libraries add to the Lambda package.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from importlib import resources
from pathlib import Path

PROJECT_DIR = Path(__file__).resolve().parent.parent
EVENTS_PER_UA = 5  # page views and engagement events of one visit
FIRST_CALL = """
import sys, time, json
sys.path.insert(0, {root!r})
t0 = time.perf_counter()
from chalicelib import enrich
from chalicelib.enrich import channels
t1 = time.perf_counter()
ua = {ua!r}
enrich.is_bot(ua); enrich.describe_client(ua); channels.classify("https://www.google.com/", "https://shop.example/")
t2 = time.perf_counter()
print(json.dumps({{"import_ms": (t1 - t0) * 1000, "first_call_ms": (t2 - t1) * 1000}}))
"""
FIRST_UAS = {
    "android": "Mozilla/5.0 (Linux; Android 14; SM-S921B) AppleWebKit/537.36 (KHTML, like Gecko) "
               "Chrome/131.0.0.0 Mobile Safari/537.36",
    "iphone": "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
              "Version/18.1.1 Mobile/15E148 Safari/604.1",
    "windows": "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
               "Chrome/131.0.0.0 Safari/537.36",
}


def fresh_process(user_agent: str, runs: int) -> dict:
    results = []
    for _ in range(runs):
        out = subprocess.run([sys.executable, "-I", "-c", FIRST_CALL.format(root=str(PROJECT_DIR), ua=user_agent)],
                             capture_output=True, text=True, check=True, timeout=120).stdout
        results.append(json.loads(out))
    return {key: round(statistics.median(r[key] for r in results), 1) for key in results[0]}


def browser_user_agents() -> list[str]:
    import yaml_rs

    root = resources.files("device_detector") / "tests" / "fixtures" / "upstream"
    agents = []
    for path in sorted(root.iterdir(), key=lambda p: p.name):
        if path.name.startswith(("desktop", "smartphone", "tablet")) and path.name.endswith(".yml"):
            agents += [r["user_agent"] for r in yaml_rs.loads(path.read_text()) or []
                       if (r.get("client") or {}).get("type") == "browser"]
    return list(dict.fromkeys(agents))


def in_process(agents: list[str]) -> dict:
    sys.path.insert(0, str(PROJECT_DIR))
    from chalicelib import enrich
    from chalicelib.enrich import channels

    def work(user_agent: str) -> None:
        enrich.is_bot(user_agent)
        enrich.describe_client(user_agent)
        channels.classify("https://www.google.com/", "https://shop.example/")

    work(agents[0])  # the one-off loads are first_call_ms's
    times = []
    for user_agent in agents[1:]:
        started = time.perf_counter()
        work(user_agent)
        times.append((time.perf_counter() - started) * 1000)
    stream = [ua for ua in agents[:1000] for _ in range(EVENTS_PER_UA)]
    started = time.perf_counter()
    for user_agent in stream:
        work(user_agent)
    elapsed_s = time.perf_counter() - started
    return {"uncached_ms": round(statistics.median(times), 2),
            "uncached_p99_ms": round(sorted(times)[int(len(times) * 0.99)], 2),
            "steady_events_per_second": round(len(stream) / elapsed_s),
            "steady_ms_per_event": round(elapsed_s * 1000 / len(stream), 3)}


def package_bytes() -> dict:
    import crawleruseragents

    data = PROJECT_DIR / "chalicelib" / "enrich" / "data"
    return {"enrich_data_bytes": sum(p.stat().st_size for p in data.glob("*.json")),
            "crawler_user_agents_bytes": sum(p.stat().st_size for p in Path(crawleruseragents.__file__).parent.glob("*")
                                             if p.is_file())}


def measure(quick: bool = False) -> dict:
    runs = 3 if quick else 5
    result = {f"{name}_{key}": value
              for name, ua in FIRST_UAS.items() for key, value in fresh_process(ua, runs).items()}
    agents = browser_user_agents()
    result.update(in_process(agents[:3000] if quick else agents))
    result["user_agents"] = len(agents[:3000] if quick else agents)
    result.update(package_bytes())
    return result


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    print(json.dumps(measure(parser.parse_args().quick), indent=2))
