"""The part of the Lambda context object StackFlow relies on, as a Protocol."""

from __future__ import annotations

from typing import Protocol


class LambdaContextLike(Protocol):
    aws_request_id: str
    function_name: str

    def get_remaining_time_in_millis(self) -> int: ...
