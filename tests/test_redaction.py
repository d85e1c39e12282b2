"""Credentials never reach a log line."""

from __future__ import annotations

import json
import logging

import pytest

from ingest.errors import describe_error
from ingest.url import redact_url
from sitewatch.logs import configure_logging


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("rtsp://admin:pa55@10.0.0.5:554/s", "rtsp://***:***@10.0.0.5:554/s"),
        ("rtsps://u:p%40ss@cam/x and http://a:b@h/", "rtsps://***:***@cam/x and http://***:***@h/"),
        ("rtsp://token@cam/x", "rtsp://***:***@cam/x"),
        ("rtsp://10.0.0.5/stream", "rtsp://10.0.0.5/stream"),
        ("no url here", "no url here"),
    ],
)
def test_redact_url(text: str, expected: str) -> None:
    assert redact_url(text) == expected


@pytest.mark.parametrize("fmt", ["text", "json"])
def test_log_lines_hide_credentials_and_secrets(
    fmt: str, capsys: pytest.CaptureFixture[str]
) -> None:
    configure_logging(fmt, "INFO", secrets=["mqtt-Secret-123"])
    log = logging.getLogger("test")
    log.info("connecting to %s", "rtsp://admin:hunter2@cam/s")
    log.warning("broker password is mqtt-Secret-123")
    try:
        raise OSError("failed rtsp://admin:hunter2@cam/s")
    except OSError:
        log.exception("read failed")
    written = capsys.readouterr().err
    assert "hunter2" not in written and "mqtt-Secret-123" not in written
    assert "rtsp://***:***@cam/s" in written
    if fmt == "json":
        lines = [json.loads(line) for line in written.splitlines() if line.startswith("{")]
        assert {line["level"] for line in lines} == {"info", "warning", "error"}


def test_stream_errors_do_not_echo_credentials() -> None:
    message = describe_error(RuntimeError("cannot open rtsp://root:toor@cam/s"))
    assert "toor" not in message
