"""Domain errors carry their HTTP status; one handler renders them as problem details."""

from typing import Any


class ServiceError(Exception):
    status = 500
    title = "Internal Server Error"
    type = "about:blank"

    def __init__(self, detail: str, *, errors: list[dict[str, Any]] | None = None, **extra: Any):
        super().__init__(detail)
        self.detail = detail
        self.errors = errors
        self.extra = extra


class BadRequest(ServiceError):
    status = 400
    title = "Bad Request"


class Unauthorized(ServiceError):
    status = 401
    title = "Unauthorized"


class Forbidden(ServiceError):
    status = 403
    title = "Forbidden"


class NotFound(ServiceError):
    status = 404
    title = "Not Found"


class Conflict(ServiceError):
    status = 409
    title = "Conflict"


class PayloadTooLarge(ServiceError):
    status = 413
    title = "Payload Too Large"


class Unprocessable(ServiceError):
    status = 422
    title = "Unprocessable Content"


class Unavailable(ServiceError):
    status = 503
    title = "Service Unavailable"


class ConfigurationError(Exception):
    """The service cannot start with the given settings; the message says how to fix it."""
