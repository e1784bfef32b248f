"""The errors a client sees as OpenAI's error JSON, with OpenAI's wording for bad requests."""

from __future__ import annotations


class ApiError(Exception):
    """An error the client should see as OpenAI's error JSON with this status."""

    def __init__(
        self,
        *,
        status: int,
        message: str,
        code: str | None,
        error_type: str = "invalid_request_error",
        param: str | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code
        self.error_type = error_type
        self.param = param


def error_missing(*, param: str) -> ApiError:
    return ApiError(
        status=400,
        message=f"Missing required parameter: '{param}'.",
        code="missing_required_parameter",
        param=param,
    )


def error_invalid(*, param: str, message: str) -> ApiError:
    return ApiError(status=400, message=message, code="invalid_value", param=param)


def error_unsupported(*, param: str) -> ApiError:
    """What OpenAI answers a parameter the model does not take (`reasoning_effort` to gpt-4o)."""
    return ApiError(
        status=400,
        message=f"Unsupported parameter: '{param}' is not supported with this model.",
        code="unsupported_parameter",
        param=param,
    )
