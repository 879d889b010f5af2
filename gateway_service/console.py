"""The review console at /console: server-rendered pages (Jinja2, autoescaped) for the people who approve posts.

Sign-in with an API key or an OAuth2 access token, or through the OpenID issuer (authorization code flow with PKCE,
``gateway_service/oidc.py``) when ``GATEWAY_OIDC_CLIENT_ID`` is set; the credential is sealed in an HttpOnly,
SameSite=Strict cookie. The queue of
pending reviews of the reviewer's tenant; a review with each item's platform preview, character count, findings and
edit box; approve (with edits) or reject with comments; the workflow's timeline and artifacts, live over SSE.
Every form post carries the session's CSRF token and must come from the console's own origin."""

from __future__ import annotations

import base64
import hmac
import re
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlsplit

import grpc
from fastapi import APIRouter, Depends, Form, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from marketing.supervisor.v1 import review_pb2, supervisor_pb2

from common.logging import get_logger
from gateway_service.errors import HTTP_STATUS, grpc_problem
from gateway_service.grpc_client import Supervisor
from gateway_service.oidc import OidcClient, SignInError, new_flow
from gateway_service.session import (
    COOKIE,
    FLOW_COOKIE,
    FLOW_MAX_AGE_S,
    FLOW_PATH,
    MAX_AGE_S,
    Session,
    SignInFlow,
)

HERE = Path(__file__).resolve().parent
log = get_logger(__name__)
templates = Jinja2Templates(directory=str(HERE / "templates"))
router = APIRouter(prefix="/console")
LIVE_STATUSES = {"AWAITING_REVIEW", "RUNNING", "QUEUED"}  # statuses that still change (live updates on)
ERROR_CODE = re.compile(r"[\x20\x21\x23-\x5b\x5d-\x7e]+")  # the characters of an OAuth 2.0 error code


def static_files() -> StaticFiles:
    """The console's CSS and script (same origin: the CSP allows no inline script)."""
    return StaticFiles(directory=str(HERE / "static"))


class SignInRequired(Exception):
    """No valid session: the browser goes to the sign-in page."""


def session_of(request: Request) -> Session:
    """The reviewer's session, or ``SignInRequired``."""
    session: Session | None = request.app.state.sealer.open(request.cookies.get(COOKIE))
    if session is None:
        raise SignInRequired
    return session


Reviewer = Annotated[Session, Depends(session_of)]


def same_origin(request: Request) -> bool:
    """Whether a form post comes from this site (Origin, else Referer, must name this host)."""
    source = request.headers.get("origin") or request.headers.get("referer")
    if not source:
        return False
    return urlsplit(source).netloc == request.headers.get("host", "")


def check_post(request: Request, session: Session, token: str) -> None:
    """CSRF protection of a form post: same origin and the session's token in the hidden field."""
    if not same_origin(request) or not hmac.compare_digest(token.encode(), session.csrf.encode()):
        raise PermissionError("the form has expired or did not come from the console; reload the page")


def page(request: Request, name: str, status: int = 200, **values: Any) -> HTMLResponse:
    """A rendered page."""
    return templates.TemplateResponse(request, name, values, status_code=status)


def error_page(request: Request, exc: grpc.aio.AioRpcError) -> Response:
    """A gRPC error as a page (sign-in again when the credential no longer works)."""
    if exc.code() == grpc.StatusCode.UNAUTHENTICATED:
        return RedirectResponse("/console/sign-in", status_code=303)
    status = HTTP_STATUS.get(exc.code(), 502)
    detail = exc.details() if status < 500 else "the supervisor failed to answer; try again"
    return page(request, "error.html", status, title=f"Error {status}", message=detail, signed_in=True)


def client(request: Request) -> Supervisor:
    supervisor: Supervisor = request.app.state.supervisor
    return supervisor


def oidc_client(request: Request) -> OidcClient | None:
    """The issuer sign-in's client; None when the feature is off."""
    client: OidcClient | None = request.app.state.oidc
    return client


def sign_in_page(request: Request, status: int = 200, error: str = "") -> HTMLResponse:
    """The sign-in page: the key form, and "Sign in with <issuer>" when the issuer sign-in is on."""
    oidc = oidc_client(request)
    issuer = oidc.display_name if oidc is not None else None
    return page(request, "sign_in.html", status, signed_in=False, error=error, oidc_issuer=issuer)


@router.get("/sign-in", response_class=HTMLResponse)
async def sign_in_form(request: Request) -> HTMLResponse:
    return sign_in_page(request)


async def refusal(request: Request, credential: str) -> str | None:
    """Why the supervisor refuses a credential (one call of the reviewer's queue), None when it accepts it."""
    try:
        await client(request).call(
            "review", "ListReviews", review_pb2.ListReviewsRequest(page_size=1), credential
        )
    except grpc.aio.AioRpcError as exc:
        if exc.code() in (grpc.StatusCode.UNAUTHENTICATED, grpc.StatusCode.PERMISSION_DENIED):
            return "That key or token was not accepted."
        return "The service is not available; try again."
    return None


def open_session(request: Request, response: Response, credential: str, max_age: int = MAX_AGE_S) -> None:
    """Seal the credential into the session cookie of the response."""
    value, _ = request.app.state.sealer.seal(credential)
    secure = request.app.state.settings.gateway_cookie_secure
    response.set_cookie(
        COOKIE, value, max_age=max_age, httponly=True, samesite="strict", secure=secure, path="/"
    )


@router.post("/sign-in", response_model=None)
async def sign_in(request: Request, credential: Annotated[str, Form(max_length=8192)]) -> Response:
    """Check the credential with one call of the reviewer's queue, then open the session."""
    if not same_origin(request):
        return sign_in_page(request, 403, "Sign in from the console's own page.")
    credential = credential.strip()
    if (refused := await refusal(request, credential)) is not None:
        return sign_in_page(request, 401, refused)
    response = RedirectResponse("/console", status_code=303)
    open_session(request, response, credential)
    return response


@router.get("/sign-in/oidc", response_model=None)
async def sign_in_oidc(request: Request) -> Response:
    """Start the authorization code flow: the flow's state, nonce and PKCE verifier go into a sealed cookie that
    only the callback receives (SameSite=Lax: the provider's redirect back is a cross-site top-level GET), and the
    browser to the issuer's authorization endpoint."""
    oidc = oidc_client(request)
    if oidc is None:
        raise HTTPException(404, "Not Found")
    flow = new_flow(oidc.redirect_uri(str(request.base_url)))
    try:
        location = await oidc.authorization_url(flow)
    except SignInError as exc:
        return sign_in_page(request, exc.status, exc.message)
    response = RedirectResponse(location, status_code=303)
    response.set_cookie(
        FLOW_COOKIE, request.app.state.sealer.seal_flow(flow), max_age=FLOW_MAX_AGE_S, httponly=True,
        samesite="lax", secure=request.app.state.settings.gateway_cookie_secure, path=FLOW_PATH,
    )  # fmt: skip
    return response


@router.get(FLOW_PATH.removeprefix("/console"), response_model=None)
async def sign_in_callback(request: Request) -> Response:
    """The issuer's redirect back: check the state against the flow cookie (constant time), exchange the code,
    verify the ID token, check the credential with the supervisor, then open the session. Every outcome ends the
    flow (its cookie is deleted: a replayed or second callback finds none)."""
    oidc = oidc_client(request)
    if oidc is None:
        raise HTTPException(404, "Not Found")
    params = request.query_params
    state, code = (params.get(name, "")[:2048] for name in ("state", "code"))
    flow = request.app.state.sealer.open_flow(request.cookies.get(FLOW_COOKIE))
    state_matches = flow is not None and hmac.compare_digest(state.encode(), flow.state.encode())
    response: Response
    if refused := _callback_refusal(params, flow is not None, state_matches, bool(code)):
        reason, status, message = refused
        response = sign_in_page(request, status, message)
    else:
        assert flow is not None
        reason, response = await _finish_sign_in(request, oidc, code, flow)
    log.info("console_sign_in", method="oidc", outcome=reason)
    response.delete_cookie(
        FLOW_COOKIE,
        path=FLOW_PATH,
        httponly=True,
        samesite="lax",
        secure=request.app.state.settings.gateway_cookie_secure,
    )
    response.headers["Referrer-Policy"] = "no-referrer"  # the callback's URL carries the code
    return response


def _callback_refusal(
    params: Any, has_flow: bool, state_matches: bool, has_code: bool
) -> tuple[str, int, str] | None:
    """Why a callback is refused before any token request, as (log reason, status, message); None: go on."""
    if error := params.get("error", ""):  # RFC 6749 4.1.2.1
        shown = error[:64] if ERROR_CODE.fullmatch(error[:64]) else "error"
        described = params.get("error_description", "")[:300]
        if described and state_matches:  # the provider's own words only when the answer is this flow's
            shown += f": {described}"
        return "provider_error", 401, f"The identity provider did not sign you in ({shown})."
    if not has_flow:
        return "no_flow", 400, "This sign-in has expired or was not started in this browser; start again."
    if not state_matches:
        message = (
            "The identity provider's answer does not belong to the sign-in this browser started; start again."
        )
        return "bad_state", 400, message
    if not has_code:
        return "no_code", 400, "The identity provider's answer has no authorization code; start again."
    return None


async def _finish_sign_in(
    request: Request, oidc: OidcClient, code: str, flow: SignInFlow
) -> tuple[str, Response]:
    try:
        signed = await oidc.sign_in(code, flow)
    except SignInError as exc:
        return exc.reason, sign_in_page(request, exc.status, exc.message)
    if (refused := await refusal(request, signed.credential)) is not None:
        refused = refused.replace("That key or token", "Your identity provider's token")
        return "credential_refused", sign_in_page(request, 401, refused)
    # The session cookie is SameSite=Strict, and this response ends a redirect chain that began at the issuer
    # (cross-site): a redirect to /console would be sent without it. A page of this origin that continues to
    # /console starts a same-site navigation, which carries it.
    response = page(request, "signed_in.html", signed_in=False)
    open_session(request, response, signed.credential, signed.lifetime_s)
    log.info("console_signed_in", subject=signed.subject, credential=signed.kind)
    return "signed_in", response


@router.post("/sign-out")
async def sign_out(request: Request, reviewer: Reviewer, csrf: Annotated[str, Form()] = "") -> Response:
    check_post(request, reviewer, csrf)
    response = RedirectResponse("/console/sign-in", status_code=303)
    response.delete_cookie(COOKIE, path="/")
    return response


@router.get("", response_class=HTMLResponse, response_model=None)
async def queue(request: Request, reviewer: Reviewer) -> Response:
    """The pending reviews of the reviewer's tenant."""
    listing = review_pb2.ListReviewsRequest(status=review_pb2.REVIEW_STATUS_PENDING, page_size=100)
    try:
        response = await client(request).call("review", "ListReviews", listing, reviewer.credential)
    except grpc.aio.AioRpcError as exc:
        return error_page(request, exc)
    return page(request, "queue.html", reviews=list(response.reviews), csrf=reviewer.csrf, signed_in=True)


async def _review_and_workflow(request: Request, review_id: str, credential: str) -> tuple[Any, Any]:
    supervisor = client(request)
    review = (
        await supervisor.call(
            "review", "GetReview", review_pb2.GetReviewRequest(review_id=review_id), credential
        )
    ).review
    workflow = await supervisor.call(
        "supervisor",
        "GetWorkflow",
        supervisor_pb2.GetWorkflowRequest(workflow_id=review.workflow_id),
        credential,
    )
    return review, workflow.workflow


def review_page(
    request: Request, review: Any, workflow: Any, csrf: str, status: int = 200, **more: Any
) -> HTMLResponse:
    return page(
        request, "review.html", status, review=review, workflow=workflow, csrf=csrf, signed_in=True,
        review_status=review_pb2.ReviewStatus.Name(review.status), texts=more.pop("texts", {}),
        errors=more.pop("errors", {}), message=more.pop("message", ""), **view_helpers(),
    )  # fmt: skip


@router.get("/reviews/{review_id}", response_class=HTMLResponse, response_model=None)
async def review_detail(request: Request, review_id: str, reviewer: Reviewer) -> Response:
    try:
        review, workflow = await _review_and_workflow(request, review_id, reviewer.credential)
    except grpc.aio.AioRpcError as exc:
        return error_page(request, exc)
    return review_page(request, review, workflow, reviewer.csrf)


@router.post("/reviews/{review_id}/approve", response_model=None)
async def approve(request: Request, review_id: str, reviewer: Reviewer) -> Response:
    """Approve with the edited texts; a text over its limit or against the brand rules comes back with the error."""
    form = await request.form()
    check_post(request, reviewer, str(form.get("csrf", "")))
    try:
        review, workflow = await _review_and_workflow(request, review_id, reviewer.credential)
    except grpc.aio.AioRpcError as exc:
        return error_page(request, exc)
    texts = {  # browsers send a textarea's line breaks as CRLF: compare and approve the text as the team wrote it
        v.item.artifact_id: str(form.get(f"text-{v.item.artifact_id}", v.item.text)).replace("\r\n", "\n")
        for v in review.items
    }
    edits = [
        review_pb2.ItemEdit(artifact_id=v.item.artifact_id, text=texts[v.item.artifact_id])
        for v in review.items
        if texts[v.item.artifact_id] != (v.approved_text or v.item.text)
    ]
    request_message = review_pb2.ApproveReviewRequest(
        review_id=review_id, edits=edits, override_flags=form.get("override_flags") == "on"
    )
    try:
        await client(request).call("review", "ApproveReview", request_message, reviewer.credential)
    except grpc.aio.AioRpcError as exc:
        if exc.code() not in (grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.FAILED_PRECONDITION):
            return error_page(request, exc)
        problem = grpc_problem(exc)
        errors = {v["field"]: v["description"] for v in _violations(problem)}
        return review_page(
            request,
            review,
            workflow,
            reviewer.csrf,
            400,
            texts=texts,
            errors=errors,
            message=exc.details() or "",
        )
    return RedirectResponse(f"/console/workflows/{review.workflow_id}", status_code=303)


def _violations(problem: Response) -> list[dict[str, str]]:
    import json

    body: dict[str, Any] = json.loads(bytes(problem.body))
    return list(body.get("violations", []))


@router.post("/reviews/{review_id}/reject", response_model=None)
async def reject(
    request: Request,
    review_id: str,
    reviewer: Reviewer,
    csrf: Annotated[str, Form()] = "",
    comments: Annotated[str, Form(max_length=20_000)] = "",
    final: Annotated[str, Form()] = "",
) -> Response:
    check_post(request, reviewer, csrf)
    message = review_pb2.RejectReviewRequest(review_id=review_id, comments=comments, final=final == "on")
    try:
        review = (await client(request).call("review", "RejectReview", message, reviewer.credential)).review
    except grpc.aio.AioRpcError as exc:
        return error_page(request, exc)
    return RedirectResponse(f"/console/workflows/{review.workflow_id}", status_code=303)


@router.get("/workflows/{workflow_id}", response_class=HTMLResponse, response_model=None)
async def workflow_detail(request: Request, workflow_id: str, reviewer: Reviewer) -> Response:
    """The workflow's status, timeline and artifacts; live while it still changes."""
    get = supervisor_pb2.GetWorkflowRequest(workflow_id=workflow_id)
    try:
        response = await client(request).call("supervisor", "GetWorkflow", get, reviewer.credential)
    except grpc.aio.AioRpcError as exc:
        return error_page(request, exc)
    workflow = response.workflow
    shown = supervisor_pb2.WorkflowStatus.Name(workflow.status).removeprefix("WORKFLOW_STATUS_")
    return page(
        request, "workflow.html", workflow=workflow, shown_status=shown, live=shown in LIVE_STATUSES, csrf=reviewer.csrf,
        signed_in=True, **view_helpers(),
    )  # fmt: skip


def view_helpers() -> dict[str, Any]:
    """Functions the templates use to show proto values."""

    def image_url(artifact: Any) -> str:
        if artifact.data and artifact.mime_type in ("image/png", "image/jpeg"):
            return f"data:{artifact.mime_type};base64,{base64.b64encode(artifact.data).decode()}"
        return ""

    def enum_name(message: Any, field: str) -> str:
        descriptor = message.DESCRIPTOR.fields_by_name[field].enum_type
        return str(descriptor.values_by_number[getattr(message, field)].name)

    return {"image_url": image_url, "enum_name": enum_name}
