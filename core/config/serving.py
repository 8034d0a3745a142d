"""Where Gluon listens and who reaches it: the server, the status page, GitHub, generic
webhooks, and the cluster of workers."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, SecretStr, field_validator

from core.config.section import Section


class ServerConfig(Section):
    host: str = "127.0.0.1"
    port: Annotated[int, Field(ge=0, le=65535)] = 8765
    token: SecretStr | None = None
    # Host names clients may use besides localhost and `host` (a LAN name, a reverse proxy);
    # requests naming any other host are refused (DNS-rebinding protection).
    hostnames: list[str] = Field(default_factory=list)
    # MCP sessions over HTTP: one unused this long is closed, and past `max_sessions` the one
    # idle the longest is; its client then starts a new one.
    session_idle_timeout_seconds: Annotated[float, Field(gt=0)] = 1800.0
    max_sessions: Annotated[int, Field(ge=1)] = 200


class WebConfig(Section):
    """The status page: where people reach it, and how long a sign-in lasts.

    ``public_url`` is the address in sign-in links (``https://gluon.example.com`` behind a
    proxy); without it links point at the address ``gluon serve`` listens on. Session cookies
    are ``Secure`` when it is https."""

    public_url: str | None = None
    session_hours: Annotated[float, Field(gt=0, le=24 * 90)] = 168.0
    link_minutes: Annotated[float, Field(gt=0, le=24 * 60)] = 10.0

    @field_validator("public_url")
    @classmethod
    def _http_url(cls, v: str | None) -> str | None:
        if v is not None and not v.startswith(("http://", "https://")):
            raise ValueError("expected an http:// or https:// URL, such as "
                             "'https://gluon.example.com'")
        return v.rstrip("/") if v else v


class GitHubConfig(Section):
    """GitHub: webhooks at ``POST /hooks/github`` and the REST API the bridge writes through.

    ``users`` maps a GitHub login to a Gluon chat user (``{ octocat = "telegram:42" }``): that
    person's role decides what their comments may do. ``api_url`` is GitHub Enterprise's
    ``https://HOST/api/v3``, or a fake in tests."""

    token: SecretStr | None = None  # or GH_TOKEN
    api_url: str = "https://api.github.com"
    webhook_secret: SecretStr | None = None
    trigger: Annotated[str, Field(min_length=1)] = "@gluon"
    label: Annotated[str, Field(min_length=1)] = "gluon"
    users: dict[str, str] = Field(default_factory=dict)
    # How many times failed checks may resume one run ("fix CI") before Gluon stops trying.
    fix_ci_attempts: Annotated[int, Field(ge=0, le=20)] = 3
    # Push a run started from a pull request onto the pull request's branch when it finishes.
    push_pull_requests: bool = True

    @field_validator("api_url")
    @classmethod
    def _http_url(cls, v: str) -> str:
        if not v.startswith(("http://", "https://")):
            raise ValueError("expected an http:// or https:// URL, such as "
                             "'https://api.github.com'")
        return v.rstrip("/")

    @field_validator("users")
    @classmethod
    def _chat_users(cls, v: dict[str, str]) -> dict[str, str]:
        for login, user in v.items():
            platform, _, user_id = user.partition(":")
            if platform not in ("telegram", "discord") or not user_id:
                raise ValueError(f"{login!r} maps to {user!r}; expected a chat user such as "
                                 "'telegram:42' or 'discord:1234'")
        return v


HOOK_NAME = r"^[a-z0-9][a-z0-9_-]{0,63}$"


class HookConfig(Section):
    """A generic webhook at ``POST /hooks/<name>``: a JSON body that starts a run.

    ``auth = "hmac"``: the ``signature_header`` carries ``sha256=<hex HMAC-SHA256 of the body
    with secret>``, as GitHub signs; ``"bearer"``: ``Authorization: Bearer <secret>``. The
    prompt's ``{field.path}`` placeholders are filled from the body (``{{`` is a brace)."""

    project: str
    secret: SecretStr
    auth: Literal["hmac", "bearer"] = "hmac"
    signature_header: str = "X-Gluon-Signature-256"
    id_header: str = "X-Delivery-Id"
    prompt: Annotated[str, Field(min_length=1)]
    model: str | None = None
    priority: Annotated[int, Field(ge=-100, le=100)] = 0
    # A body seen again within this window (and no delivery id header) is a replay.
    dedupe_window_seconds: Annotated[float, Field(ge=0)] = 600.0


class ClusterConfig(Section):
    """Where the job queue lives and where runs execute when there are workers (DESIGN §8).

    Without ``redis_url`` the queue is a table in ``gluon.db`` and runs execute in ``gluon
    serve``. With it the queue is Redis Streams, and ``run_on`` says where runs execute:
    ``"workers"`` (the default with a ``redis_url``), ``gluon worker`` processes on other hosts;
    ``"here"``, in ``gluon serve`` as without Redis. The URL may hold a password
    (``redis://:password@host:6379/0``), or ``username``/``password`` give it (they win over
    the URL's); it is masked in every message. ``rediss://`` talks TLS.

    ``lease_seconds``: how long a worker holds a run without renewing it (every third of it);
    a worker silent that long has its runs taken over by another worker.

    ``token`` is the secret workers and the coordinator share (``GLUON_CLUSTER_TOKEN``): with
    it, the coordinator serves its projects' repositories to workers at ``/git/<project>.git``
    (see :mod:`core.cluster.transfer.served`); without it, that route is off."""

    redis_url: str | None = None
    run_on: Literal["workers", "here"] | None = None
    lease_seconds: Annotated[float, Field(ge=1, le=600)] = 15.0
    username: str | None = None
    password: SecretStr | None = None
    token: SecretStr | None = None

    @property
    def remote(self) -> bool:
        """Runs execute on ``gluon worker`` processes, not in ``gluon serve``."""
        return bool(self.redis_url) and self.run_on != "here"

    @field_validator("token")
    @classmethod
    def _long_token(cls, v: SecretStr | None) -> SecretStr | None:
        if v is not None and len(v.get_secret_value().strip()) < 16:
            raise ValueError("expected at least 16 characters; make one with "
                             "`openssl rand -hex 32`")
        return v

    @field_validator("redis_url")
    @classmethod
    def _redis_scheme(cls, v: str | None) -> str | None:
        if v is not None and not v.startswith(("redis://", "rediss://", "unix://")):
            raise ValueError("expected a redis://, rediss:// or unix:// URL, such as "
                             "'redis://localhost:6379/0'")
        return v


WORKER_NAME = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"


class WorkerConfig(Section):
    """A ``gluon worker``: its name among the workers (default: the host's name), how many runs
    it executes at once, and the projects it takes runs of (empty: every project)."""

    name: Annotated[str | None, Field(pattern=WORKER_NAME)] = None
    max_runs: Annotated[int, Field(ge=1, le=64)] = 2
    projects: list[str] = Field(default_factory=list)
