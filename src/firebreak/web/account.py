"""Accounts: the home redirect, sign-in with rate limiting, sign-out and password change."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from firebreak.accounts import service as accounts
from firebreak.accounts.models import User
from firebreak.core.errors import InvalidInput
from firebreak.web import auth
from firebreak.web.common import (
    FormDep,
    PageError,
    UserDep,
    Visit,
    VisitDep,
    config,
    db,
    redirect,
    render_page,
    safe_next,
    with_cookie,
)
from firebreak.web.sessions import COOKIE_NAME

router = APIRouter(include_in_schema=False)


@router.get("/")
def home(request: Request, current: VisitDep) -> Response:
    if current.user is None:  # nobody has an account yet: the first run (web/setup.py) makes the first admin
        with db(request).read() as session:
            first_run = not accounts.has_users(session=session)
        return redirect("/setup" if first_run else "/sign-in")
    with db(request).read() as session:
        workspaces = auth.workspaces_of(session, current.user.id)
    if not workspaces:
        raise PageError(403, "No workspace yet", "Your account is not a member of any workspace; ask an admin.")
    return redirect(f"/w/{workspaces[0].slug}/inbox")


def _sign_in_page(request: Request, current: Visit, *, email: str = "", error: str = "", next_path: str = "/",
                  status: int = 200) -> Response:
    return render_page(request, current, "sign_in.html", title="Sign in", status=status, next=next_path,
                       email=email, error=error)


@router.get("/sign-in")
def sign_in_form(request: Request, current: VisitDep, next: str = "/") -> Response:
    if current.user is not None:
        return redirect(safe_next(next))
    return _sign_in_page(request, current, next_path=safe_next(next))


@router.post("/sign-in")
def sign_in(request: Request, current: VisitDep, form: FormDep) -> Response:
    email, next_path = form.get("email", ""), safe_next(form.get("next"))
    client = request.client.host if request.client else "unknown"
    try:
        with db(request).write() as session:
            user = auth.sign_in(session, config(request).limiter, email=email, password=form.get("password", ""),
                                client=client)
            fresh = current.session.signed_in(user.id, user.password_hash)
    except auth.SignInRefused as refused:
        return _sign_in_page(request, current, email=email, error=refused.message, next_path=next_path,
                             status=refused.status)
    return with_cookie(redirect(next_path), request, fresh)


@router.post("/sign-out")
def sign_out(form: FormDep) -> Response:
    response = redirect("/sign-in")
    response.delete_cookie(COOKIE_NAME, path="/")
    return response


def _password_page(request: Request, current: Visit, *, notice: str = "", current_error: str = "",
                   new_error: str = "", status: int = 200) -> Response:
    return render_page(request, current, "password.html", title="Change password", status=status, notice=notice,
                       current_error=current_error, new_error=new_error, min_length=accounts.MIN_PASSWORD)


@router.get("/account/password")
def password_form(request: Request, current: VisitDep, user: UserDep) -> Response:
    return _password_page(request, current)


@router.post("/account/password")
def change_password(request: Request, current: VisitDep, user: UserDep, form: FormDep) -> Response:
    """Check the current password, store the new one, and keep only this session signed in."""
    try:
        with db(request).write() as session:
            account = session.get(User, user.id)
            if account is None or not accounts.verify_password(account, form.get("current_password", "")):
                return _password_page(request, current, current_error="That is not your current password.",
                                      status=422)
            account.password_hash = accounts.hash_password(form.get("new_password", ""))
            renewed = current.session.with_password(account.password_hash)
    except InvalidInput as problem:
        return _password_page(request, current, new_error=problem.message, status=422)
    return _password_page(request, Visit(renewed, True, user),
                          notice="Your password has been changed; other sessions are signed out.")
