"""The whole event path on moto for the lake's tests: the app wired to DynamoDB (with its stream) and
an S3 lake bucket, events posted through the real collector one visit a request, the stream handed to
the lake writer as Lambda would. One place, so every lake test runs the same pipeline."""

from __future__ import annotations

import json
from dataclasses import dataclass, replace

import boto3
from chalice.test import Client

from app import app
from chalicelib.core.metrics import Metrics
from chalicelib.core.settings import parse_sites
from chalicelib.query import runner
from chalicelib.schema.tables import EVENTS
from chalicelib.services import Services, set_services
from chalicelib.store.lake_duckdb import LakeCache
from scripts.local_stream import StreamPoller
from tests.integration.conftest import STAGE, post, with_statistics_stream

BUCKET = "liveinsight-test-lake"
STREAMS_ENDPOINT = "https://streams.dynamodb.us-east-1.amazonaws.com"  # moto's streams need one


@dataclass
class LakePipeline:
    services: Services
    poller: StreamPoller
    s3: object
    settings: object
    dynamodb: object
    backoff: object

    def install(self, **changes) -> Services:
        """The app's services again, with settings changed (e.g. a query function's name)."""
        self.services = wire(self.settings, self.dynamodb, self.backoff, self.s3, **changes)
        return self.services

    def post_visits(self, events: list[dict]) -> None:
        """Each visitor's events in one POST /events, every one accepted, then the stream to the lake."""
        with Client(app, stage_name=STAGE) as api:
            for user in sorted({e["user_id"] for e in events}):
                visit = [e for e in events if e["user_id"] == user]
                response = post(api, {"events": visit})
                assert response.status_code == 200, response.body
                assert json.loads(response.body)["accepted"] == len(visit), response.body
        assert self.poller.poll_once() == len(events)


def wire(settings, dynamodb, backoff, s3, **changes) -> Services:
    services = Services(replace(settings, **changes), dynamodb_client=dynamodb, backoff=backoff, s3_client=s3)
    services.__dict__["metrics"] = Metrics(settings.metrics_environment, write=lambda line: None)
    with_statistics_stream(services, dynamodb)
    set_services(services)
    return services


def lake_pipeline(dynamodb, settings, backoff, *, sites_json: str = '{"demo": {"origins": []}}',
                  cache_dir=None, monkeypatch=None) -> LakePipeline:
    """The pipeline; with `cache_dir` and `monkeypatch`, the query engine's cache is a fresh directory."""
    s3 = boto3.client("s3", region_name="us-east-1")
    s3.create_bucket(Bucket=BUCKET)
    lake_settings = replace(settings, lake_bucket=BUCKET, sites=parse_sites(sites_json))
    if monkeypatch is not None:
        monkeypatch.setattr(runner, "_CACHE", LakeCache(root=str(cache_dir)))
    services = wire(lake_settings, dynamodb, backoff, s3)
    arn = dynamodb.describe_table(TableName=EVENTS.name(STAGE))["Table"]["LatestStreamArn"]
    streams = boto3.client("dynamodbstreams", region_name="us-east-1", endpoint_url=STREAMS_ENDPOINT)
    return LakePipeline(services, StreamPoller(streams, arn, services.write_event_lake), s3, lake_settings,
                        dynamodb, backoff)
