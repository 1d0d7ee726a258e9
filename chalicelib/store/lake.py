"""The lake's objects on S3 (lake.ports.LakeObjects): the only lake code that speaks to S3.

Keys are relative to the lake bucket. Encryption is the bucket's default (Terraform sets SSE), so a
PUT names none; AWS_ENDPOINT_URL_S3 points the client at the local emulator (`make local`).
"""

from __future__ import annotations

import os

from botocore.exceptions import ClientError

from chalicelib.lake.layout import LakeObject
from chalicelib.lake.ports import ObjectMissing
from chalicelib.store.base import chunks, error_code

CONNECT_TIMEOUT_SECONDS = 2
# A stream object is a few hundred KB; a compacted one up to a few hundred MB read in one GET.
READ_TIMEOUT_SECONDS = 30
# botocore retries S3's throttling (SlowDown, 503) and dropped connections itself: a few attempts,
# each bounded, and the caller (a stream batch retried whole by Lambda; a job re-run) does the rest.
TOTAL_ATTEMPTS = 3
DELETE_LIMIT = 1000  # keys per DeleteObjects call
_MISSING_CODES = frozenset({"NoSuchKey", "404", "NotFound"})


def create_s3_client():
    """One client per process, in the style of store.base.create_dynamodb_client."""
    import boto3
    from botocore.config import Config

    local = bool(os.environ.get("AWS_ENDPOINT_URL_S3"))
    return boto3.client(
        "s3",
        region_name=os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1",
        config=Config(
            retries={"mode": "standard", "total_max_attempts": TOTAL_ATTEMPTS},
            connect_timeout=CONNECT_TIMEOUT_SECONDS,
            read_timeout=READ_TIMEOUT_SECONDS,
            tcp_keepalive=True,
            # An emulator on 127.0.0.1 has no per-bucket host names.
            s3={"addressing_style": "path"} if local else None,
        ),
    )


class S3LakeObjects:
    def __init__(self, client, bucket: str) -> None:
        if not bucket:
            raise ValueError("the lake has no bucket: set LIVEINSIGHT_LAKE_BUCKET")
        self._client = client
        self._bucket = bucket

    def list(self, prefix: str) -> list[LakeObject]:
        found: list[LakeObject] = []
        for page in self._client.get_paginator("list_objects_v2").paginate(Bucket=self._bucket, Prefix=prefix):
            found.extend(LakeObject(o["Key"], o["Size"]) for o in page.get("Contents", []))
        return found

    def get(self, key: str) -> bytes:
        try:
            return self._client.get_object(Bucket=self._bucket, Key=key)["Body"].read()
        except ClientError as exc:
            if error_code(exc) in _MISSING_CODES:
                raise ObjectMissing(key) from None
            raise

    def put(self, key: str, body: bytes, content_type: str = "application/octet-stream") -> None:
        self._client.put_object(Bucket=self._bucket, Key=key, Body=body, ContentType=content_type)

    def delete(self, keys: list[str]) -> None:
        for chunk in chunks(sorted(set(keys)), DELETE_LIMIT):
            response = self._client.delete_objects(
                Bucket=self._bucket, Delete={"Objects": [{"Key": k} for k in chunk], "Quiet": True})
            errors = response.get("Errors") or []
            if errors:  # an absent key is not an error (S3 answers Deleted); anything here is real
                raise OSError(f"DeleteObjects failed for {len(errors)} key(s): {errors[0].get('Code')}")
