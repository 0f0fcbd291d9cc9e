"""Read request bodies with a size limit, so a huge upload is refused before it is held in memory."""

from __future__ import annotations

from fastapi import Request

from firebreak.api.errors import ApiError


async def read_limited(request: Request, limit: int) -> bytes:
    """Return the body, or refuse with 413 once it passes `limit` bytes (declared or streamed)."""
    declared = request.headers.get("content-length")
    if declared is not None:
        try:
            if int(declared) > limit:
                raise ApiError(413, "payload_too_large", f"body of {declared} bytes exceeds the limit of {limit}")
        except ValueError:
            raise ApiError(400, "bad_request", "Content-Length is not a number") from None
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise ApiError(413, "payload_too_large", f"body exceeds the limit of {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)
