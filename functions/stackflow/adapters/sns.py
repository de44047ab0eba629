"""SNS: publish one notification to a topic (the drift report's change alerts)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from stackflow.adapters import aws_error, default_client

if TYPE_CHECKING:
    from mypy_boto3_sns import SNSClient

SUBJECT_MAX = 100
# SNS rejects messages over 256 KiB; keep a margin for the JSON envelope of email/HTTP.
MESSAGE_MAX_BYTES = 250_000


class Topic:
    """Implements ``drift.ports.Notifier`` for one topic ARN."""

    def __init__(self, topic_arn: str, client: SNSClient | None = None) -> None:
        self.topic_arn = topic_arn
        self._client = client

    @property
    def client(self) -> SNSClient:
        if self._client is None:
            self._client = default_client("sns")
        return self._client

    def publish(self, subject: str, message: str) -> None:
        """Publish; a subject over SNS's limit is cut, an oversized message truncated."""
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            self.client.publish(TopicArn=self.topic_arn, Subject=_subject(subject),
                                Message=_truncate(message))
        except (ClientError, BotoCoreError) as e:
            raise aws_error(e, f"SNS Publish to {self.topic_arn}") from e


def _subject(subject: str) -> str:
    # SNS subjects must be one line of printable ASCII.
    line = " ".join(subject.split())
    return line.encode("ascii", "replace").decode()[:SUBJECT_MAX] or "StackFlow"


def _truncate(message: str) -> str:
    data = message.encode()
    if len(data) <= MESSAGE_MAX_BYTES:
        return message
    marker = "\n... (truncated; the full report is in the drift Lambda's log)"
    return data[:MESSAGE_MAX_BYTES - len(marker.encode())].decode(errors="ignore") + marker
