"""Small shared vocabularies of the domain."""

from __future__ import annotations

from enum import StrEnum


class ChannelKind(StrEnum):
    """Where mentions come from; the kinds a channel row may have."""

    X = "x"
    FACEBOOK = "facebook"
    INSTAGRAM = "instagram"
    REDDIT = "reddit"
    MASTODON = "mastodon"
    BLUESKY = "bluesky"
    FORUM = "forum"
    BLOG = "blog"
    NEWS = "news"
    RSS = "rss"
    WEBHOOK = "webhook"
    SUPPORT_FORUM = "support_forum"


class Direction(StrEnum):
    """Whether a post came from the public (inbound) or from the brand itself (outbound)."""

    INBOUND = "inbound"
    OUTBOUND = "outbound"


class ProcessingState(StrEnum):
    """Where a mention is in the pipeline."""

    PENDING = "pending"
    PROCESSED = "processed"
    PARKED = "parked"


AUTHOR_TAGS = frozenset({"employee", "journalist", "influencer", "troll", "customer", "partner", "brand"})
