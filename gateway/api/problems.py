"""RFC 9457 problem responses: every error the API returns has this one shape."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from gateway.errors import ErrorLocation, InboundRejected, StoreBusy
from gateway.logs import get_logger

log = get_logger(__name__)
PROBLEM_TYPE = "urn:missing-episode-gateway:problem:"
MEDIA_TYPE = "application/problem+json"
_TITLES = {
    400: "Bad request",
    401: "Authentication required",
    403: "Forbidden",
    404: "Not found",
    405: "Method not allowed",
    409: "Conflict",
    413: "Payload too large",
    415: "Unsupported media type",
    422: "Unprocessable content",
    429: "Too many requests",
    500: "Internal server error",
    503: "Service unavailable",
}


class ApiProblem(Exception):
    """Raised by route code to answer with a problem (not for inbound message errors)."""

    def __init__(
        self, status: int, code: str, detail: str, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.code = code
        self.detail = detail
        self.headers = headers


def problem(
    status: int,
    code: str,
    detail: str,
    *,
    title: str | None = None,
    errors: list[ErrorLocation] | None = None,
    instance: str | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    """A problem+json response."""
    body: dict[str, Any] = {
        "type": PROBLEM_TYPE + code,
        "title": title or _TITLES.get(status, "Error"),
        "status": status,
        "detail": detail,
        "code": code,
    }
    if instance:
        body["instance"] = instance
    if errors:
        body["errors"] = [e.as_dict() for e in errors]
    return JSONResponse(body, status_code=status, media_type=MEDIA_TYPE, headers=headers)


def describe_problems(spec: dict[str, Any]) -> dict[str, Any]:
    """Document every problem answer as what it is: `application/problem+json`, `Problem` schema.

    FastAPI files a response `model` under `application/json` and adds its own 422 shape
    (`HTTPValidationError`) to every route with parameters; both are wrong for this app, whose
    errors all go through `problem()`, so clients and contract tests would check the wrong thing.
    """
    ref = "#/components/schemas/Problem"
    replaced = {ref, "#/components/schemas/HTTPValidationError"}
    for path_item in spec.get("paths", {}).values():
        for operation in path_item.values():
            for response in operation.get("responses", {}).values():
                refs = {
                    m.get("schema", {}).get("$ref") for m in response.get("content", {}).values()
                }
                if refs & replaced:
                    response["content"] = {MEDIA_TYPE: {"schema": {"$ref": ref}}}
                    if response.get("description") == "Validation Error":
                        response["description"] = "A parameter is not valid (each one is named)"
    schemas = spec.get("components", {}).get("schemas", {})
    for name in ("HTTPValidationError", "ValidationError"):
        schemas.pop(name, None)
    return spec


def describe_limits(spec: dict[str, Any]) -> dict[str, Any]:
    """Document the answers every authenticated route may give: `429` after failed keys.

    Failed authentications are limited per client address and per key
    (gateway/api/auth_failures.py) in front of every route that takes a key, so each route
    that documents a `401` may also answer `429`.
    """
    content = {MEDIA_TYPE: {"schema": {"$ref": "#/components/schemas/Problem"}}}
    retry = {"Retry-After": {"description": "Seconds to wait", "schema": {"type": "integer"}}}
    for path_item in spec.get("paths", {}).values():
        for operation in path_item.values():
            responses = operation.get("responses", {})
            if "401" in responses and "429" not in responses:
                responses["429"] = {
                    "description": (
                        "Too many failed authentications from this address, or naming this "
                        "key: wait for Retry-After"
                    ),
                    "headers": retry,
                    "content": content,
                }
    return spec


def install(app: FastAPI) -> None:
    """Route every error the app can raise to a problem response, and document it so."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = describe_limits(describe_problems(FastAPI.openapi(app)))
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]  # FastAPI's documented override hook

    @app.exception_handler(InboundRejected)
    async def _rejected(request: Request, exc: InboundRejected) -> JSONResponse:
        log.info("message_rejected", status=exc.status, problem=exc.code, path=request.url.path)
        return problem(
            exc.status,
            exc.code,
            exc.detail,
            title=exc.title,
            errors=exc.errors,
            instance=request.url.path,
        )

    @app.exception_handler(StoreBusy)
    async def _busy(request: Request, exc: StoreBusy) -> JSONResponse:
        log.warning("store_busy", path=request.url.path)
        return problem(
            503,
            "store-busy",
            exc.detail,
            instance=request.url.path,
            headers={"Retry-After": str(exc.retry_after)},
        )

    @app.exception_handler(ApiProblem)
    async def _api(request: Request, exc: ApiProblem) -> JSONResponse:
        return problem(
            exc.status, exc.code, exc.detail, instance=request.url.path, headers=exc.headers
        )

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [
            ErrorLocation(
                path="/" + "/".join(str(p) for p in e["loc"]),
                line=None,
                column=None,
                message=str(e["msg"]),
            )
            for e in exc.errors()
        ]
        return problem(
            422,
            "invalid-request",
            "the request's parameters are not valid",
            errors=errors,
            instance=request.url.path,
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = _TITLES.get(exc.status_code, "error").lower().replace(" ", "-")
        return problem(
            exc.status_code,
            code,
            str(exc.detail),
            instance=request.url.path,
            headers=getattr(exc, "headers", None),
        )

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unexpected_error", path=request.url.path, error_type=type(exc).__name__)
        return problem(
            500,
            "internal-error",
            "the gateway failed unexpectedly; retry the request "
            "(a resend of an accepted message is answered with its receipt)",
            instance=request.url.path,
        )
