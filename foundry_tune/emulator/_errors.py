"""Errors in the service's wire shape.

The data plane (files, fine-tuning, inference) answers ``{"error": {"code", "message", "param",
"type"}}``; Azure Resource Manager (deployments, operation status) answers ARM's envelope
``{"error": {"code", "message"}}`` with no ``type`` or ``param`` (see [`arm_error()`][arm_error]).
"""

from __future__ import annotations

from starlette.responses import JSONResponse

_TYPES = {
    400: "invalid_request_error",
    401: "invalid_request_error",
    403: "permission_error",
    404: "invalid_request_error",
    409: "invalid_request_error",
    413: "invalid_request_error",
    429: "rate_limit_error",
    500: "server_error",
    503: "server_error",
}


class ApiError(Exception):
    """An error answered to the client with ``status`` and the official error body."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        code: str | None = None,
        param: str | None = None,
        type_: str | None = None,
        headers: dict[str, str] | None = None,
        arm: bool = False,
    ) -> None:
        super().__init__(message)
        self.arm = arm
        self.status = status
        self.message = message
        self.code = code
        self.param = param
        self.type = type_ or _TYPES.get(status, "invalid_request_error")
        self.headers = headers or {}

    def body(self) -> dict[str, object]:
        """The JSON body of this error (ARM's envelope for an ARM error)."""
        if self.arm:
            return {"error": {"code": self.code or str(self.status), "message": self.message}}
        return {"error": {"code": self.code, "message": self.message, "param": self.param, "type": self.type}}

    def response(self) -> JSONResponse:
        """This error as a Starlette response."""
        return JSONResponse(self.body(), status_code=self.status, headers=self.headers)


def invalid(message: str, param: str | None = None, code: str = "invalidPayload") -> ApiError:
    """A 400 for a request the service refuses."""
    return ApiError(400, message, code=code, param=param)


def not_found(what: str, ident: str) -> ApiError:
    """A 404 for an unknown object."""
    return ApiError(404, f"{what} with id '{ident}' not found.", code="notFound")


def arm_error(status: int, code: str, message: str, *, headers: dict[str, str] | None = None) -> ApiError:
    """An Azure Resource Manager error: ``{"error": {"code", "message"}}``."""
    return ApiError(status, message, code=code, headers=headers, arm=True)


def as_arm(error: ApiError) -> ApiError:
    """The same failure in ARM's envelope, with ARM's code for the generic ones."""
    if error.arm:
        return error
    code = _ARM_CODES.get(error.status, error.code or str(error.status))
    return arm_error(error.status, code, error.message, headers=error.headers)


_ARM_CODES = {
    400: "InvalidRequestContent",
    401: "AuthenticationFailed",
    404: "NotFound",
    405: "MethodNotAllowed",
    413: "RequestEntityTooLarge",
    429: "TooManyRequests",
    500: "InternalServerError",
    503: "ServiceUnavailable",
}


def is_arm_path(path: str) -> bool:
    """Whether ``path`` is an Azure Resource Manager path (errors there use ARM's envelope)."""
    return path.startswith("/subscriptions/") or path == "/subscriptions"
