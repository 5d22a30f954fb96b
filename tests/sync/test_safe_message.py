"""Run error messages: secret values are blanked as whole values, ordinary words stay readable."""

from connectors.base import FatalUpstreamError
from service.sync.record import safe_message


def test_whole_secret_values_are_blanked() -> None:
    exc = FatalUpstreamError("GET /github/repos/acme/web gave up: token ghp_Secret123 refused")
    text = safe_message(exc, ["ghp_Secret123", "t"])
    assert "ghp_Secret123" not in text
    assert "GET /github/repos/acme/web gave up" in text  # a one-letter secret blanks no letters


def test_secrets_with_pattern_characters_are_matched_literally() -> None:
    exc = RuntimeError("auth failed for a+b(c)* at host")
    assert safe_message(exc, ["a+b(c)*"]) == "RuntimeError: auth failed for *** at host"
