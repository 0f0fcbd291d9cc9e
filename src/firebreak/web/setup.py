"""Pages for this area are being added in this change (issue 6); the router is registered already."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(include_in_schema=False)
