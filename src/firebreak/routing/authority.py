"""Authority limits and permissions: what a person may offer a customer, and what they may do in Firebreak.

A person holds one or more roles in a workspace; they may do what any of their roles may. An offer
beyond all of their limits is not refused outright: the decision names the roles that could approve
it, from the front line up, so the agent knows whom to ask.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal, get_args

from firebreak.core.errors import InvalidInput
from firebreak.routing.schema import PERMISSIONS, ROLES, RolesSpec

OfferKind = Literal["refund", "goodwill_credit", "replacement", "public_apology", "delete_post", "hide_post"]
OFFER_KINDS: tuple[OfferKind, ...] = get_args(OfferKind)
MONEY_OFFERS: dict[str, str] = {"refund": "refund_up_to", "goodwill_credit": "goodwill_credit_up_to"}
_DOING = {
    "refund": "offer a refund",
    "goodwill_credit": "offer goodwill credit",
    "replacement": "offer a replacement",
    "public_apology": "apologise publicly",
    "delete_post": "delete a post",
    "hide_post": "hide a post",
}


@dataclass(frozen=True, slots=True)
class Offer:
    """Something a person wants to offer or do: a refund or credit of an amount, or a yes/no action."""

    kind: OfferKind
    amount: float | None = None

    def __post_init__(self) -> None:
        if self.kind not in OFFER_KINDS:
            raise InvalidInput(f"unknown offer {self.kind!r}; offers are {', '.join(OFFER_KINDS)}", field="kind")
        if self.kind in MONEY_OFFERS:
            if self.amount is None or self.amount <= 0:
                raise InvalidInput(f"a {self.kind.replace('_', ' ')} needs an amount above zero", field="amount")
        elif self.amount is not None:
            raise InvalidInput(f"{self.kind} takes no amount", field="amount")

    def describe(self) -> str:
        """Return the offer in words: 'refund of 80', 'replacement'."""
        name = self.kind.replace("_", " ")
        return f"{name} of {_money(self.amount)}" if self.amount is not None else name


@dataclass(frozen=True, slots=True)
class AuthorityDecision:
    """Whether a person may make an offer on their own, why, and which roles could approve it."""

    allowed: bool
    reason: str
    approvers: tuple[str, ...]


def check_authority(roles: RolesSpec, user_roles: Iterable[str], offer: Offer) -> AuthorityDecision:
    """Decide whether someone holding `user_roles` may make `offer` without approval."""
    held = _known_roles(user_roles)
    approvers = _approvers(roles, offer)
    if not held:
        return AuthorityDecision(False, "no role in this workspace, so no authority", approvers)
    if offer.amount is not None:  # a money offer: Offer makes sure refunds and credits carry an amount
        limits = {role: _limit(roles, role, offer.kind) for role in held}
        granting = [role for role in held if limits[role] >= offer.amount]
        if granting:
            role = min(granting, key=lambda r: (limits[r], ROLES.index(r)))
            reason = f"{offer.describe()} is within the {role} limit of {_money(limits[role])}"
            return AuthorityDecision(True, reason, approvers)
        best = max(held, key=lambda r: (limits[r], -ROLES.index(r)))
        if limits[best] > 0:
            reason = f"{offer.describe()} exceeds the {best} limit of {_money(limits[best])}"
        else:
            reason = f"{_naming(held)} may not {_DOING[offer.kind]}"
    else:
        granting = [role for role in held if getattr(roles.role(role).authority, offer.kind)]
        if granting:
            return AuthorityDecision(True, f"the {granting[0]} role may {_DOING[offer.kind]}", approvers)
        reason = f"{_naming(held)} may not {_DOING[offer.kind]}"
    if not approvers:
        reason += "; no role has that authority"
    return AuthorityDecision(False, reason, approvers)


def permits(roles: RolesSpec, user_roles: Iterable[str], permission: str) -> bool:
    """Return whether any of `user_roles` grants `permission`."""
    if permission not in PERMISSIONS:
        raise ValueError(f"unknown permission {permission!r}; permissions are {', '.join(PERMISSIONS)}")
    grants = roles.grants
    return any(permission in grants[role] for role in _known_roles(user_roles))


def _known_roles(user_roles: Iterable[str]) -> list[str]:
    held = set(user_roles)
    unknown = sorted(held.difference(ROLES))
    if unknown:
        raise ValueError(f"unknown role {unknown[0]!r}; roles are {', '.join(ROLES)}")
    return [role for role in ROLES if role in held]


def _limit(roles: RolesSpec, role: str, kind: str) -> float:
    limit: float = getattr(roles.role(role).authority, MONEY_OFFERS[kind])
    return limit


def _approvers(roles: RolesSpec, offer: Offer) -> tuple[str, ...]:
    """Return the roles whose own authority covers the offer: smallest sufficient limit first."""
    if offer.amount is not None:
        amount = offer.amount
        able = [role for role in ROLES if _limit(roles, role, offer.kind) >= amount]
        return tuple(sorted(able, key=lambda r: (_limit(roles, r, offer.kind), ROLES.index(r))))
    return tuple(role for role in ROLES if getattr(roles.role(role).authority, offer.kind))


def _naming(held: list[str]) -> str:
    if len(held) == 1:
        return f"the {held[0]} role"
    return f"the {', '.join(held[:-1])} and {held[-1]} roles"


def _money(amount: float) -> str:
    return f"{amount:.0f}" if amount == int(amount) else f"{amount:.2f}"
