"""Logs, large payloads and code bundles in one S3 bucket, each under its own prefix."""

from __future__ import annotations

from collections.abc import Mapping
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import quote, unquote

from botocore.exceptions import ClientError

from chalicelib.aws.clients import AwsClients
from chalicelib.bundles import DIGEST_PREFIX
from chalicelib.errors import NotFoundError

if TYPE_CHECKING:
    from chalicelib.execute.cache import BundleCache

LOGS = "logs/"
RESULTS = "results/"
# The function's content type rides in metadata: the object's own ContentType cannot say "none".
RESULT_TYPE = "fn-content-type"
PAYLOADS = "payloads/"
BUNDLES = "bundles/sha256/"


def _missing(exc: ClientError) -> bool:
    return exc.response.get("Error", {}).get("Code") in {"NoSuchKey", "404", "NotFound"}


class S3Blobs:
    """LogStore, PayloadStore and CodeStore over one bucket."""

    def __init__(self, clients: AwsClients, bucket: str, cache_dir: Path) -> None:
        self._clients = clients
        self._bucket = bucket
        self._cache_dir = cache_dir

    def _get(self, key: str) -> bytes:
        body = self._clients.s3.get_object(Bucket=self._bucket, Key=key)["Body"]
        return body.read()

    def _put(
        self, key: str, data: bytes, content_type: str, metadata: Mapping[str, str] | None = None
    ) -> None:
        self._clients.s3.put_object(
            Bucket=self._bucket, Key=key, Body=data, ContentType=content_type, Metadata=dict(metadata or {})
        )

    # LogStore
    def put_log(
        self, app_name: str, call_id: str, log: bytes, outcome: Mapping[str, str] | None = None
    ) -> None:
        # S3 metadata is ASCII: values are percent-encoded.
        metadata = {k: quote(v, safe="") for k, v in (outcome or {}).items()}
        self._put(f"{LOGS}{app_name}/{call_id}", log, "text/plain; charset=utf-8", metadata)

    def get_log_outcome(self, app_name: str, call_id: str) -> dict[str, str] | None:
        try:
            head = self._clients.s3.head_object(Bucket=self._bucket, Key=f"{LOGS}{app_name}/{call_id}")
        except ClientError as exc:
            if _missing(exc):
                return None
            raise
        return {k: unquote(v) for k, v in head.get("Metadata", {}).items()}

    def get_log(self, app_name: str, call_id: str) -> bytes:
        try:
            return self._get(f"{LOGS}{app_name}/{call_id}")
        except ClientError as exc:
            if _missing(exc):
                raise NotFoundError("Call log not found") from exc
            raise

    def delete_logs(self, app_name: str) -> None:
        """Delete every log and result of an app (app deletion), a page of 1,000 keys per request."""
        paginator = self._clients.s3.get_paginator("list_objects_v2")
        for prefix in (LOGS, RESULTS):
            for page in paginator.paginate(Bucket=self._bucket, Prefix=f"{prefix}{app_name}/"):
                keys = [{"Key": obj["Key"]} for obj in page.get("Contents", [])]
                if keys:
                    delete = {"Objects": keys, "Quiet": True}
                    self._clients.s3.delete_objects(Bucket=self._bucket, Delete=delete)  # type: ignore[arg-type]

    def put_result(self, app_name: str, call_id: str, body: bytes, content_type: str) -> None:
        metadata = {RESULT_TYPE: quote(content_type, safe="")}
        self._put(f"{RESULTS}{app_name}/{call_id}", body, "application/octet-stream", metadata)

    def get_result(self, app_name: str, call_id: str) -> tuple[bytes, str]:
        try:
            got = self._clients.s3.get_object(Bucket=self._bucket, Key=f"{RESULTS}{app_name}/{call_id}")
        except ClientError as exc:
            if _missing(exc):
                raise NotFoundError("Call result not found") from exc
            raise
        return got["Body"].read(), unquote(got.get("Metadata", {}).get(RESULT_TYPE, ""))

    # PayloadStore
    def put_payload(self, key: str, data: bytes) -> None:
        self._put(f"{PAYLOADS}{key}", data, "application/octet-stream")

    def get_payload(self, key: str) -> bytes:
        return self._get(f"{PAYLOADS}{key}")

    # CodeStore
    def put_bundle(self, digest: str, data: bytes) -> None:
        self._put(self._bundle_key(digest), data, "application/zip")

    def has_bundle(self, digest: str) -> bool:
        try:
            self._clients.s3.head_object(Bucket=self._bucket, Key=self._bundle_key(digest))
        except ClientError as exc:
            if _missing(exc):
                return False
            raise
        return True

    def fetch_bundle(self, digest: str) -> Path:
        """Extracted once per digest per worker; the cache checks the bytes against the digest."""
        return self._bundle_cache.path_for(digest, lambda: self._get(self._bundle_key(digest)))

    @cached_property
    def _bundle_cache(self) -> BundleCache:
        # Imported at the first bundle fetched: chalicelib.execute stays off the cold start (wiring.py).
        from chalicelib.execute.cache import BundleCache

        return BundleCache(self._cache_dir / "bundles")

    @staticmethod
    def _bundle_key(digest: str) -> str:
        return f"{BUNDLES}{digest.removeprefix(DIGEST_PREFIX)}.zip"
