"""The public newsroom: published responses as HTML pages and an Atom feed, no sign-in.

    GET /newsroom/{workspace}              every publication, newest first
    GET /newsroom/{workspace}/{slug}       one publication
    GET /newsroom/{workspace}/feed.atom    the Atom feed

Answers carry an ETag and Last-Modified, so readers and feed pollers revalidate with a 304, and may be
cached for a minute by anyone (they are public). An unknown workspace or slug is a plain 404 page.
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from email.utils import format_datetime, parsedate_to_datetime
from typing import Annotated

from fastapi import APIRouter, Header, Path, Response

from firebreak.api.deps import ReadSessionDep, SettingsDep
from firebreak.issues import newsroom

router = APIRouter(prefix="/newsroom", tags=["newsroom"])

CACHE_CONTROL = "public, max-age=60"
HTML = "text/html; charset=utf-8"
ATOM = "application/atom+xml; charset=utf-8"
WorkspacePath = Annotated[str, Path(min_length=1, max_length=64, description="Workspace slug")]
SlugPath = Annotated[str, Path(min_length=1, max_length=120, description="The publication's slug")]
IfNoneMatch = Annotated[str | None, Header(include_in_schema=False)]
IfModifiedSince = Annotated[str | None, Header(include_in_schema=False)]


def _answer(body: bytes, media_type: str, modified: datetime, if_none_match: str | None,
            if_modified_since: str | None) -> Response:
    """The body with validators, or 304 when the caller's copy is current (RFC 9110 section 13.2.2)."""
    etag = '"' + hashlib.sha256(body).hexdigest()[:32] + '"'
    headers = {
        "ETag": etag,
        # HTTP dates have whole seconds; dropping the fraction keeps If-Modified-Since comparable.
        "Last-Modified": format_datetime(modified.replace(microsecond=0), usegmt=True),
        "Cache-Control": CACHE_CONTROL,
        "X-Content-Type-Options": "nosniff",
    }
    if media_type == HTML:
        headers["Content-Security-Policy"] = newsroom.CONTENT_SECURITY_POLICY
    if if_none_match is not None:
        tags = {tag.strip().removeprefix("W/") for tag in if_none_match.split(",")}
        if etag in tags or "*" in tags:
            return Response(status_code=304, headers=headers)
    elif if_modified_since is not None and _not_modified_since(modified, if_modified_since):
        return Response(status_code=304, headers=headers)
    return Response(body, media_type=media_type, headers=headers)


def _not_modified_since(modified: datetime, header: str) -> bool:
    try:
        since = parsedate_to_datetime(header)
    except (TypeError, ValueError):
        return False  # an unreadable date is ignored, as the RFC asks
    return since.tzinfo is not None and modified.replace(microsecond=0) <= since


def _not_found(room: newsroom.Newsroom | None, what: str) -> Response:
    return Response(newsroom.render_not_found(room, what), status_code=404, media_type=HTML,
                    headers={"Content-Security-Policy": newsroom.CONTENT_SECURITY_POLICY,
                             "X-Content-Type-Options": "nosniff"})


@router.api_route("/{workspace}", methods=["HEAD"], include_in_schema=False)
@router.api_route("/{workspace}", methods=["GET"], response_class=Response, summary="The newsroom")
def newsroom_index(
    workspace: WorkspacePath, session: ReadSessionDep, settings: SettingsDep,
    if_none_match: IfNoneMatch = None, if_modified_since: IfModifiedSince = None,
) -> Response:
    """Return the workspace's publications, newest first, as an HTML page."""
    room = newsroom.find_newsroom(session, workspace, base_url=settings.base_url)
    if room is None:
        return _not_found(None, f"There is no newsroom called {workspace!r}.")
    entries = newsroom.latest_entries(session, room, limit=newsroom.INDEX_ENTRIES)
    body = newsroom.render_index(room, entries).encode()
    return _answer(body, HTML, newsroom.last_modified(room, entries), if_none_match, if_modified_since)


@router.api_route("/{workspace}/feed.atom", methods=["HEAD"], include_in_schema=False)
@router.api_route("/{workspace}/feed.atom", methods=["GET"], response_class=Response,
                  summary="The newsroom's Atom feed")
def newsroom_feed(
    workspace: WorkspacePath, session: ReadSessionDep, settings: SettingsDep,
    if_none_match: IfNoneMatch = None, if_modified_since: IfModifiedSince = None,
) -> Response:
    """Return the newest publications as an Atom feed (RFC 4287)."""
    room = newsroom.find_newsroom(session, workspace, base_url=settings.base_url)
    if room is None:
        return Response(f"There is no newsroom called {workspace!r}.\n", status_code=404,
                        media_type="text/plain; charset=utf-8")
    entries = newsroom.latest_entries(session, room, limit=newsroom.FEED_ENTRIES)
    return _answer(newsroom.render_feed(room, entries), ATOM, newsroom.last_modified(room, entries), if_none_match,
                   if_modified_since)


@router.api_route("/{workspace}/{slug}", methods=["HEAD"], include_in_schema=False)
@router.api_route("/{workspace}/{slug}", methods=["GET"], response_class=Response,
                  summary="One publication")
def newsroom_entry(
    workspace: WorkspacePath, slug: SlugPath, session: ReadSessionDep, settings: SettingsDep,
    if_none_match: IfNoneMatch = None, if_modified_since: IfModifiedSince = None,
) -> Response:
    """Return one publication as an HTML page."""
    room = newsroom.find_newsroom(session, workspace, base_url=settings.base_url)
    if room is None:
        return _not_found(None, f"There is no newsroom called {workspace!r}.")
    entry = newsroom.find_entry(session, room, slug)
    if entry is None:
        return _not_found(room, "Nothing has been published at this address.")
    return _answer(newsroom.render_entry(room, entry).encode(), HTML, entry.updated_at, if_none_match,
                   if_modified_since)
