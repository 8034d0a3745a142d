"""What the model API's failures mean to a person: the line shown for each retry of the Claude
Code CLI, and the one reason a run gives when the API failed it for good."""

from __future__ import annotations

from urllib.parse import urlsplit

from core.agent.session import AgentApiError, AgentApiRetry

DEFAULT_BASE_URL = "https://api.anthropic.com"

_STATUS_WORDS = {401: "refused the credentials", 403: "refused the credentials",
                 408: "timed out", 429: "rate limit reached", 500: "server error",
                 502: "bad gateway", 503: "unavailable", 504: "gateway timeout",
                 529: "overloaded"}


def endpoint(base_url: str | None) -> str:
    """The host (and port) of the model API, as a person recognises it."""
    parts = urlsplit(base_url or DEFAULT_BASE_URL)
    return parts.netloc or base_url or DEFAULT_BASE_URL


def _seconds(value: float) -> str:
    return f"{value:.1f} s" if value < 10 else f"{value:.0f} s"


def retry_line(retry: AgentApiRetry, where: str) -> str:
    """E.g. ``model API unreachable (127.0.0.1:1), retry 3/10 in 2.5 s``."""
    if retry.status is None:
        what = f"model API unreachable ({where})"
    else:
        words = _STATUS_WORDS.get(retry.status, "error")
        what = f"model API {words} (HTTP {retry.status} from {where})"
    return f"{what}, retry {retry.attempt}/{retry.max_retries} in " \
           f"{_seconds(retry.delay_seconds)}"


def failure_reason(error: AgentApiError, last_retry: AgentApiRetry | None, where: str) -> str:
    """The one line a run ends with when the model API failed it."""
    detail = error.text.removeprefix("API Error:").strip() or error.kind
    tries = f" after {last_retry.attempt} retries" if last_retry and last_retry.attempt else ""
    if error.kind == "authentication_failed" or (last_retry and last_retry.status in (401, 403)):
        return (f"the model API at {where} refused the credentials: {detail}; set a valid "
                "ANTHROPIC_API_KEY (or anthropic.api_key in config.toml), check it with "
                "`gluon doctor`, then resume the run")
    if last_retry is not None and last_retry.status is None:
        return (f"the model API at {where} is unreachable{tries}: {detail}; check "
                "ANTHROPIC_BASE_URL (anthropic.base_url) and the network, then resume the run")
    return f"the model API failed{tries}: {detail}"
