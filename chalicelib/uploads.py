"""Use cases of code bundles: `fn deploy` asks whether the server holds a digest, then uploads it."""

from __future__ import annotations

from chalicelib.bundles import DIGEST_PREFIX, digest_of, is_digest, validate_bundle
from chalicelib.errors import InvalidInputError, NotFoundError
from chalicelib.ports import CodeStore


class BundleUploads:
    def __init__(self, code: CodeStore) -> None:
        self._code = code

    def put_bundle(self, hex_digest: str, data: bytes) -> tuple[str, int]:
        """Store a bundle whose bytes match the digest and are safe to extract; answers digest, size."""
        digest = DIGEST_PREFIX + hex_digest
        if digest_of(data) != digest:
            raise InvalidInputError(f"Bundle digest mismatch: body is {digest_of(data)}")
        validate_bundle(data)
        if not self._code.has_bundle(digest):
            self._code.put_bundle(digest, data)
        return digest, len(data)

    def has_bundle(self, hex_digest: str) -> str:
        digest = DIGEST_PREFIX + hex_digest
        # Anything but 64 hex digits names no bundle (and would make an S3 key of any length).
        if not is_digest(digest) or not self._code.has_bundle(digest):
            raise NotFoundError("Bundle not found")
        return digest
