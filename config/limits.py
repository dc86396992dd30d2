"""Abuse limits as data: rate-limit budgets per bucket, request body caps per route, request shape caps.

Budgets are defaults; an operator overrides any of them with `ATELIER_RATE_LIMITS` (see
`config.settings.Settings.rate_limit_overrides`), e.g. `jobs.user=10/60,uploads.ip=100/3600`.
A bucket name used in code but missing here is an error at start-up, never a silent "allow".
"""

from __future__ import annotations

from dataclasses import replace

from config.values import value


@value
class Budget:
    """At most `limit` requests in any `window_seconds` (a sliding window: shared/ratelimit.py)."""

    limit: int
    window_seconds: int

    def __post_init__(self) -> None:
        if self.limit < 1 or self.window_seconds < 1:
            raise ValueError(f"a budget needs limit >= 1 and window_seconds >= 1, got {self}")

    @classmethod
    def parse(cls, text: str) -> Budget:
        """`"10/60"` → 10 requests per 60 seconds."""
        limit, sep, window = text.strip().partition("/")
        if not sep:
            raise ValueError(f"a budget is written LIMIT/SECONDS, got {text!r}")
        return cls(int(limit), int(window))

    def __str__(self) -> str:
        return f"{self.limit}/{self.window_seconds}"


@value
class Bucket:
    """One rate-limit budget family. `user` applies per account, `ip` per client address (either may be None)."""

    name: str
    user: Budget | None
    ip: Budget | None
    description: str


BUCKETS: dict[str, Bucket] = {
    bucket.name: bucket
    for bucket in (
        Bucket("jobs", Budget(20, 60), Budget(60, 60), "POST /v1/jobs: generation requests (cost GPU time)"),
        Bucket("uploads", Budget(30, 3600), Budget(60, 3600), "image uploads"),
        Bucket("exports", Budget(3, 86400), Budget(10, 86400), "data export requests"),
        Bucket("webhooks", None, Budget(600, 60), "payment provider webhooks, per sending address"),
        Bucket("public", None, Budget(120, 60), "unauthenticated endpoints (OpenAPI, docs), per address"),
        Bucket("reports", None, Budget(10, 3600), "POST /v1/gallery/{id}/report, per address, signed in or not"),
        Bucket("contact", None, Budget(5, 3600), "POST /v1/contact: anonymous messages, each one mailed back"),
        Bucket("account", Budget(120, 60), Budget(600, 60), "cheap authenticated reads such as GET /v1/me"),
        Bucket(
            "job_polls",
            Budget(600, 60),
            Budget(1200, 60),
            "GET /v1/jobs/{id} and its event stream: polling one's own jobs (once a second per job is plenty)",
        ),
        Bucket("auth_failures", Budget(20, 600), Budget(30, 600), "401 answers; over budget raises a security event"),
        Bucket("access_denied", Budget(30, 600), Budget(50, 600), "403/404 on id routes; over budget: security event"),
    )
}


def buckets_with(overrides: dict[str, str]) -> dict[str, Bucket]:
    """The defaults with `{"jobs.user": "10/60", "public.ip": "50/60"}` applied; unknown names are errors."""
    result = dict(BUCKETS)
    for name, text in overrides.items():
        bucket_name, _, scope = name.partition(".")
        if bucket_name not in result or scope not in ("user", "ip"):
            raise ValueError(f"unknown rate-limit budget {name!r}; known: {', '.join(sorted(result))} .user/.ip")
        budget = Budget.parse(text)
        current = result[bucket_name]
        result[bucket_name] = replace(current, user=budget) if scope == "user" else replace(current, ip=budget)
    return result


# Request body caps, by path prefix (longest match wins), from the upload limit in force
# (ATELIER_MAX_UPLOAD_BYTES). Counted while the body streams in; a request over its cap gets 413
# `payload_too_large` and nothing past the cap is read. One mechanism: functions/api/middleware.py.
DEFAULT_BODY_LIMIT = 1024 * 1024  # JSON bodies
MULTIPART_OVERHEAD = 256 * 1024  # boundaries, part headers and the text fields around the images
MAX_ATTACHMENTS = 5  # images per support message


def body_limits(max_upload_bytes: int) -> dict[str, int]:
    """The prefixes that take images, and how large their bodies may be."""
    return {
        "/v1/uploads": max_upload_bytes + MULTIPART_OVERHEAD,
        "/v1/support/tickets": MAX_ATTACHMENTS * max_upload_bytes + MULTIPART_OVERHEAD,
    }


# JSON request bodies nested deeper than this are refused with 422 `invalid_request`.
MAX_JSON_DEPTH = 32

# Images a single request may name or produce (the jobs and media routes enforce it).
MAX_IMAGES_PER_REQUEST = 4


def body_limit(path: str, limits: dict[str, int]) -> int:
    best, cap = "", DEFAULT_BODY_LIMIT
    for prefix, limit in limits.items():
        if path.startswith(prefix) and len(prefix) > len(best):
            best, cap = prefix, limit
    return cap
