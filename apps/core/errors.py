"""The one shape of a refusal a person can act on, shared by every app's services."""

from __future__ import annotations


class Refusal(Exception):
    """A change that cannot be made; ``message`` is meant for the person who tried (in their
    words, in Chinese), ``field`` names the input it is about, ``status_code`` the HTTP answer."""

    status_code = 400

    def __init__(
        self, message: str, *, field: str | None = None, status_code: int | None = None
    ) -> None:
        super().__init__(message)
        self.message = message
        self.field = field
        if status_code is not None:
            self.status_code = status_code
