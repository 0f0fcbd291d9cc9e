"""The first run: while nobody has an account, /setup makes the first admin and workspace and signs them in.

Once any account exists the page answers 404; later people are added under Settings → People (or with
`firebreak createuser`). "Nobody yet" is checked again inside the transaction that creates the admin, with
the users table locked on PostgreSQL (SQLite has one writer at a time), so two forms sent at once cannot
make two first admins: the second finds an account and gets the 404.
"""

from __future__ import annotations

from collections.abc import Callable

from fastapi import APIRouter, Request
from fastapi.responses import Response

from firebreak.accounts import service as accounts
from firebreak.core.errors import Conflict, InvalidInput
from firebreak.web.common import FormDep, PageError, Visit, VisitDep, db, redirect, render_page, with_cookie
from firebreak.workspaces import service as workspace_service

router = APIRouter(include_in_schema=False)

FIELDS = ("email", "name", "workspace_name", "workspace_slug")


def _already_set_up() -> PageError:
    return PageError(404, "Not found", "Firebreak is already set up: sign in, or ask an admin for an account.")


def _set_up(request: Request) -> bool:
    with db(request).read() as session:
        return accounts.has_users(session=session)


def _setup_page(request: Request, current: Visit, *, values: dict[str, str] | None = None,
                errors: dict[str, str] | None = None, status: int = 200) -> Response:
    return render_page(request, current, "setup.html", title="Set up Firebreak", status=status,
                       values=values or dict.fromkeys(FIELDS, ""), errors=errors or {},
                       min_password=accounts.MIN_PASSWORD)


@router.get("/setup")
def setup_form(request: Request, current: VisitDep) -> Response:
    if _set_up(request):
        raise _already_set_up()
    return _setup_page(request, current)


def _problems(values: dict[str, str], password: str, confirmation: str) -> dict[str, str]:
    """Every field's problem at once (the domain's own checks), so the form is fixed in one go."""
    checks: dict[str, Callable[[], object]] = {
        "email": lambda: accounts.normalise_email(values["email"]),
        "name": lambda: accounts.check_display_name(values["name"]),
        "password": lambda: accounts.check_password(password),
        "workspace_name": lambda: workspace_service.check_name(values["workspace_name"]),
        "workspace_slug": lambda: workspace_service.check_slug(values["workspace_slug"], what="workspace"),
    }
    problems = {}
    for name, check in checks.items():
        try:
            check()
        except InvalidInput as refusal:
            problems[name] = refusal.message
    if "password" not in problems and password != confirmation:
        problems["confirmation"] = "The two passwords are not the same."
    return problems


@router.post("/setup")
def setup(request: Request, current: VisitDep, form: FormDep) -> Response:
    """Create the first admin and workspace in one transaction, sign them in, and open the workspace's settings."""
    if _set_up(request):
        raise _already_set_up()
    values = {name: form.get(name, "").strip() for name in FIELDS}
    values["workspace_slug"] = values["workspace_slug"].lower()
    password, confirmation = form.get("password", ""), form.get("confirmation", "")
    problems = _problems(values, password, confirmation)
    if problems:
        return _setup_page(request, current, values=values, errors=problems, status=422)
    try:
        with db(request).write() as session:
            accounts.claim_first_user(session=session)
            address = accounts.normalise_email(values["email"])
            user = accounts.create_user(session=session, email=address, display_name=values["name"] or None,
                                        password=password, actor=address)
            workspace = workspace_service.create_workspace(session=session, slug=values["workspace_slug"],
                                                           name=values["workspace_name"], actor=address)
            accounts.grant_role(session=session, workspace_id=workspace.id, user=user, role="admin", actor=address)
            signed_in = current.session.signed_in(user.id, user.password_hash)
            slug = workspace.slug
    except Conflict:
        raise _already_set_up() from None
    except InvalidInput as refusal:
        where = {"workspace": "workspace_slug"}.get(refusal.field or "", refusal.field or "email")
        return _setup_page(request, current, values=values, errors={where: refusal.message}, status=422)
    return with_cookie(redirect(f"/w/{slug}/settings"), request, signed_in)
