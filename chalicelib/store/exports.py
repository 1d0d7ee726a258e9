"""Export files in the lake bucket (under exports/, expired by the bucket's lifecycle after a day) and
the presigned links that hand them out: the only export code that speaks to S3."""

from __future__ import annotations

import os

from chalicelib.core.errors import StoreUnavailable

CONNECT_TIMEOUT_SECONDS = 2
READ_TIMEOUT_SECONDS = 30
TOTAL_ATTEMPTS = 3


def create_export_client():
    """An S3 client signing with SigV4: a presigned link to an SSE-KMS object needs it (the older
    query-string signature is refused for such objects)."""
    import boto3
    from botocore.config import Config

    local = bool(os.environ.get("AWS_ENDPOINT_URL_S3"))
    return boto3.client(
        "s3",
        region_name=os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1",
        config=Config(signature_version="s3v4", connect_timeout=CONNECT_TIMEOUT_SECONDS,
                      read_timeout=READ_TIMEOUT_SECONDS,
                      retries={"mode": "standard", "total_max_attempts": TOTAL_ATTEMPTS},
                      s3={"addressing_style": "path"} if local else None),
    )


class S3ExportFiles:
    def __init__(self, client, bucket: str) -> None:
        if not bucket:
            raise ValueError("the lake has no bucket: set LIVEINSIGHT_LAKE_BUCKET")
        self._client = client
        self._bucket = bucket

    def put_file(self, key: str, path: str, content_type: str, download_name: str) -> None:
        """Uploads a local file (multipart beyond 8 MB); a browser following the link saves it as download_name."""
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            self._client.upload_file(path, self._bucket, key, ExtraArgs={
                "ContentType": content_type, "ContentDisposition": f'attachment; filename="{download_name}"'})
        except (BotoCoreError, ClientError) as exc:
            raise StoreUnavailable(f"export upload failed: {type(exc).__name__}") from exc

    def link(self, key: str, expires_seconds: int) -> str:
        """A GET link valid expires_seconds (signed locally: no request is made)."""
        return self._client.generate_presigned_url("get_object", Params={"Bucket": self._bucket, "Key": key},
                                                   ExpiresIn=expires_seconds)
