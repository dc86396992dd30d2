"""Typed settings read from the environment; the names are a public contract for operators."""

# Annotations are evaluated as the class body runs (not postponed by a __future__ import): postponed, pydantic would
# evaluate each of the ~80 fields' strings again when `Settings` is made, at every start (issue 34: cold start).
import hashlib
import ipaddress
from datetime import timedelta
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import AliasChoices, Field, field_validator, model_validator
from pydantic_settings import (
    BaseSettings,
    DotEnvSettingsSource,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

from config.limits import Bucket, buckets_with
from config.models import check_default_models, check_speedups_off, offered_models

# Values that mean "nobody filled this in"; production refuses them.
# The product catalogue ships next to this module, so it is found wherever the package is installed.
DEFAULT_PRODUCTS_FILE = Path(__file__).resolve().parent / "products.toml"

PLACEHOLDERS = frozenset({"", "changeme", "change-me", "placeholder", "secret", "xxx", "todo", "your-secret-here"})


def _env(name: str) -> AliasChoices:
    """Read a field from exactly this environment name (and from its field name in code)."""
    return AliasChoices(name)


# The empty defaults' factories, rather than the builtins `list` and `dict`: pydantic reads a default factory's
# signature when the class is made, and a builtin's is parsed from its text by the tokenizer (~2 million instructions
# each, and the first compiles the tokenizer's regular expressions: ~20 million of the API's cold start, issue 34).
def _empty_list() -> list[Any]:
    return []


def _empty_dict() -> dict[Any, Any]:
    return {}


class Settings(BaseSettings):
    """Every setting Atelier reads. Local defaults need no secrets; production refuses placeholders."""

    model_config = SettingsConfigDict(extra="ignore", populate_by_name=True, frozen=True)

    environment: Literal["local", "production"] = Field("local", validation_alias=_env("ATELIER_ENV"))
    database_url: str | None = Field(None, validation_alias=_env("DATABASE_URL"))
    data_dir: Path = Field(Path(".data"), validation_alias=_env("ATELIER_DATA_DIR"))
    db_pool_min: int = Field(1, ge=0, validation_alias=_env("ATELIER_DB_POOL_MIN"))
    db_pool_max: int = Field(10, ge=1, validation_alias=_env("ATELIER_DB_POOL_MAX"))
    # The connection budget (config/connections.py): how many clients the pooler accepts, and how long a request
    # waits for a pooled connection before answering 503 `busy`.
    db_connection_limit: int = Field(200, ge=1, validation_alias=_env("ATELIER_DB_CONNECTION_LIMIT"))
    db_acquire_timeout_seconds: float = Field(5.0, gt=0, validation_alias=_env("ATELIER_DB_ACQUIRE_TIMEOUT_SECONDS"))

    supabase_url: str | None = Field(None, validation_alias=_env("SUPABASE_URL"))
    supabase_jwt_secret: str | None = Field(None, validation_alias=_env("SUPABASE_JWT_SECRET"))
    supabase_secret_key: str | None = Field(None, validation_alias=_env("SUPABASE_SECRET_KEY"))
    jwks_cache_seconds: int = Field(600, ge=0, validation_alias=_env("ATELIER_JWKS_CACHE_SECONDS"))
    http_timeout_seconds: float = Field(10.0, gt=0, validation_alias=_env("ATELIER_HTTP_TIMEOUT_SECONDS"))
    # Local server (uvicorn): request headers must arrive within this, and a body may stall no longer.
    read_timeout_seconds: float = Field(10.0, gt=0, le=300, validation_alias=_env("ATELIER_READ_TIMEOUT_SECONDS"))

    signup_credits: int = Field(10, ge=0, validation_alias=_env("ATELIER_SIGNUP_CREDITS"))
    signup_credit_days: int = Field(30, ge=1, validation_alias=_env("ATELIER_SIGNUP_CREDIT_DAYS"))
    credit_hold_ttl_seconds: int = Field(3600, ge=1, validation_alias=_env("ATELIER_CREDIT_HOLD_TTL_SECONDS"))
    # Media: object storage, signed URLs, upload limits and trash (see shared/media/).
    storage_backend: Literal["local", "supabase"] | None = Field(None, validation_alias=_env("ATELIER_STORAGE"))
    storage_bucket: str = Field("atelier", min_length=3, validation_alias=_env("ATELIER_STORAGE_BUCKET"))
    signed_url_seconds: int = Field(3600, ge=10, le=7 * 24 * 3600, validation_alias=_env("ATELIER_SIGNED_URL_SECONDS"))
    max_upload_bytes: int = Field(20 * 1024 * 1024, ge=1, validation_alias=_env("ATELIER_MAX_UPLOAD_BYTES"))
    # A pixel cap that fits what generation takes (inputs are resized to the model's size anyway): a small file
    # can promise a huge image, and decoding costs memory per pixel. Stored images are at most max_image_side.
    max_upload_pixels: int = Field(4096 * 4096, ge=1, validation_alias=_env("ATELIER_MAX_UPLOAD_PIXELS"))
    max_image_side: int = Field(2048, ge=64, le=8192, validation_alias=_env("ATELIER_MAX_IMAGE_SIDE"))
    # Memory for decoding images, per process (shared/media/decoding.py): each decode reserves its estimated peak
    # first and waits at most decode_wait_seconds for room (then 503 image_decoding_busy). At the default pixel
    # cap a lossless WebP reserves ~304 MB, so below ~320 MB such an upload is refused (422 image_too_large).
    decode_memory_mb: int = Field(384, ge=16, le=1024 * 1024, validation_alias=_env("ATELIER_DECODE_MEMORY_MB"))
    decode_wait_seconds: float = Field(10.0, ge=0, le=120, validation_alias=_env("ATELIER_DECODE_WAIT_SECONDS"))
    trash_days: int = Field(30, ge=0, validation_alias=_env("ATELIER_TRASH_DAYS"))
    # Data exports (shared/privacy/exports.py): how long the download link and the archive live, and whether
    # the API starts a build at once in its own process (the build-exports task picks up whatever it does not).
    export_days: int = Field(7, ge=1, le=30, validation_alias=_env("ATELIER_EXPORT_DAYS"))
    export_inline: bool | None = Field(None, validation_alias=_env("ATELIER_EXPORT_INLINE"))

    polar_access_token: str | None = Field(None, validation_alias=_env("POLAR_ACCESS_TOKEN"))
    polar_webhook_secret: str | None = Field(None, validation_alias=_env("POLAR_WEBHOOK_SECRET"))
    polar_server: Literal["sandbox", "production"] = Field("sandbox", validation_alias=_env("POLAR_SERVER"))
    polar_api_url: str | None = Field(None, validation_alias=_env("POLAR_API_URL"))
    products_file: Path = Field(DEFAULT_PRODUCTS_FILE, validation_alias=_env("ATELIER_PRODUCTS_FILE"))
    checkout_success_url: str | None = Field(None, validation_alias=_env("ATELIER_CHECKOUT_SUCCESS_URL"))
    portal_return_url: str | None = Field(None, validation_alias=_env("ATELIER_PORTAL_RETURN_URL"))

    cors_origins: Annotated[list[str], NoDecode] = Field(
        default_factory=_empty_list, validation_alias=_env("CORS_ORIGINS")
    )
    # The studio web app's runtime config (functions/static_site.py): where its API is (empty: same origin) and
    # the Supabase publishable key its Google sign-in uses (public by design, unlike SUPABASE_SECRET_KEY).
    web_api_base_url: str | None = Field(None, validation_alias=_env("ATELIER_WEB_API_URL"))
    supabase_publishable_key: str | None = Field(None, validation_alias=_env("SUPABASE_PUBLISHABLE_KEY"))

    # Generation (config/models.py): where weights come from and which licences the operator holds.
    model_source: Literal["tiny", "volume"] = Field("tiny", validation_alias=_env("ATELIER_MODEL_SOURCE"))
    weights_dir: Path = Field(Path("/weights"), validation_alias=_env("ATELIER_WEIGHTS_DIR"))
    paid: bool | None = Field(None, validation_alias=_env("ATELIER_PAID"))
    noncommercial_licensed: Annotated[list[str], NoDecode] = Field(
        default_factory=_empty_list, validation_alias=_env("ATELIER_NONCOMMERCIAL_LICENSED")
    )
    # Each task's default model, `text_to_image=flux-schnell,edit=flux-kontext-dev` (tasks left out keep
    # config/models.DEFAULT_MODEL); checked against the registry and the licence gate at startup.
    default_models: Annotated[dict[str, str], NoDecode] = Field(
        default_factory=_empty_dict, validation_alias=_env("ATELIER_DEFAULT_MODELS")
    )
    # GPU serving speed-ups to turn off: `compile`, `fuse_qkv`, `fp8` (every model) or `<model id>:<speed-up>`.
    speedups_off: Annotated[list[str], NoDecode] = Field(
        default_factory=_empty_list, validation_alias=_env("ATELIER_SPEEDUPS_OFF")
    )

    # Consent, policies, device data (issue 8).
    trusted_proxies: Annotated[list[str], NoDecode] = Field(
        default_factory=_empty_list, validation_alias=_env("ATELIER_TRUSTED_PROXIES")
    )  # proxy IPs/CIDRs (or "*", never in production) whose X-Forwarded-For is believed: the one client-address rule
    security_log_retention_days: int = Field(90, ge=1, validation_alias=_env("ATELIER_SECURITY_LOG_RETENTION_DAYS"))
    signup_block_salt: str | None = Field(None, validation_alias=_env("ATELIER_SIGNUP_BLOCK_SALT"))
    signup_block_hours: int = Field(24, ge=1, validation_alias=_env("ATELIER_SIGNUP_BLOCK_HOURS"))
    # Email (shared/notify): `log` records outbox ids only (local); `smtp` sends through ATELIER_SMTP_URL.
    email_sender: Literal["log", "smtp"] = Field("log", validation_alias=_env("ATELIER_EMAIL_SENDER"))
    smtp_url: str | None = Field(None, validation_alias=_env("ATELIER_SMTP_URL"))
    email_from: str | None = Field(None, validation_alias=_env("ATELIER_EMAIL_FROM"))
    smtp_ca_file: Path | None = Field(None, validation_alias=_env("ATELIER_SMTP_CA_FILE"))  # a private CA to trust
    smtp_timeout_seconds: float = Field(10.0, gt=0, validation_alias=_env("ATELIER_SMTP_TIMEOUT_SECONDS"))
    email_max_attempts: int = Field(8, ge=1, le=50, validation_alias=_env("ATELIER_EMAIL_MAX_ATTEMPTS"))
    product_name: str = Field("Atelier", min_length=1, max_length=80, validation_alias=_env("ATELIER_PRODUCT_NAME"))
    public_url: str | None = Field(None, validation_alias=_env("ATELIER_PUBLIC_URL"))  # the API, for links in mail
    app_url: str | None = Field(None, validation_alias=_env("ATELIER_APP_URL"))  # the web app, for links in mail

    # Jobs (shared/jobs): how long a job may take end to end before the reconciler fails it and returns
    # its credits, and operator additions to the prompt term list (config/moderation.py).
    job_deadline_seconds: int = Field(900, ge=30, validation_alias=_env("ATELIER_JOB_DEADLINE_SECONDS"))
    blocked_terms: Annotated[list[str], NoDecode] = Field(
        default_factory=_empty_list, validation_alias=_env("ATELIER_BLOCKED_TERMS")
    )
    # Where images are classified (functions/safety/factory.py): in this process, by the Modal function, or not.
    image_classifier: Literal["local", "modal", "off"] = Field(
        "local", validation_alias=_env("ATELIER_IMAGE_CLASSIFIER")
    )

    # Provenance (shared/provenance): the C2PA signing chain and key, PEM text or a path to a PEM file.
    c2pa_cert: str | None = Field(None, validation_alias=_env("ATELIER_C2PA_CERT"))
    c2pa_key: str | None = Field(None, validation_alias=_env("ATELIER_C2PA_KEY"))

    # Privacy rights (issue 7).
    deletion_grace_days: int = Field(7, ge=0, le=90, validation_alias=_env("ATELIER_DELETION_GRACE_DAYS"))
    privacy_operator_emails: Annotated[list[str], NoDecode] = Field(
        default_factory=_empty_list, validation_alias=_env("ATELIER_PRIVACY_OPERATOR_EMAILS")
    )  # who is told about overdue rights requests

    # Service-improvement dataset (shared/dataset): whether the choice is off (opt_in) or on (opt_out) until the
    # person makes it, and the HMAC key that makes item ids unlinkable (else derived from the service secret).
    improvement_default: Literal["opt_in", "opt_out"] = Field(
        "opt_in", validation_alias=_env("ATELIER_IMPROVEMENT_DEFAULT")
    )
    dataset_secret: str | None = Field(None, validation_alias=_env("ATELIER_DATASET_KEY"))

    # The privacy policy's "who we are" and recipients (config/policies/render.py): the controller and how to reach
    # them, a data-protection contact where one is appointed, the supervisory authority ("Name https://url"), the
    # email provider's name and, per processor (config/processors.py), where the data goes and the safeguard for a
    # transfer outside the EEA (`key=text` pairs separated by `;`). `deploy.py deploy` refuses unset ones.
    controller_name: str | None = Field(None, validation_alias=_env("ATELIER_CONTROLLER_NAME"))
    controller_address: str | None = Field(None, validation_alias=_env("ATELIER_CONTROLLER_ADDRESS"))
    controller_email: str | None = Field(None, validation_alias=_env("ATELIER_CONTROLLER_EMAIL"))
    dpo_email: str | None = Field(None, validation_alias=_env("ATELIER_DPO_EMAIL"))
    supervisory_authority: str | None = Field(None, validation_alias=_env("ATELIER_SUPERVISORY_AUTHORITY"))
    email_provider: str | None = Field(None, validation_alias=_env("ATELIER_EMAIL_PROVIDER"))
    processor_regions: Annotated[dict[str, str], NoDecode] = Field(
        default_factory=_empty_dict, validation_alias=_env("ATELIER_PROCESSOR_REGIONS")
    )
    transfer_safeguards: Annotated[dict[str, str], NoDecode] = Field(
        default_factory=_empty_dict, validation_alias=_env("ATELIER_TRANSFER_SAFEGUARDS")
    )

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """pydantic-settings' sources in its own order, less the .env file's when no file is named (the model
        configures none; only a `_env_file=` argument names one): that source then reads nothing, yet walks every
        field to say so, half of the ~30 million instructions each `Settings()` costs (issue 34: cold start)."""
        if isinstance(dotenv_settings, DotEnvSettingsSource) and dotenv_settings.env_file is None:
            return init_settings, env_settings, file_secret_settings
        return init_settings, env_settings, dotenv_settings, file_secret_settings

    @field_validator("processor_regions", "transfer_safeguards", mode="before")
    @classmethod
    def _processor_pairs(cls, value: object) -> object:
        """`supabase=EU (Frankfurt);modal=United States` → {"supabase": "EU (Frankfurt)", ...}; keys are checked
        against config/processors.py."""
        if isinstance(value, str):
            pairs = [item.partition("=") for item in value.split(";") if item.strip()]
            if any(not sep for _, sep, _ in pairs):
                raise ValueError("a processor list is `key=text` pairs separated by `;`")
            value = {key.strip(): text.strip() for key, _, text in pairs}
        if isinstance(value, dict) and value:
            from config.processors import KEYS as PROCESSOR_KEYS  # noqa: PLC0415  (lazy: only when the list is set)

            unknown = sorted(set(value) - set(PROCESSOR_KEYS))
            if unknown:
                raise ValueError(f"unknown processor(s) {', '.join(unknown)}; known: {', '.join(PROCESSOR_KEYS)}")
        return value

    @field_validator(
        "noncommercial_licensed",
        "trusted_proxies",
        "blocked_terms",
        "privacy_operator_emails",
        "speedups_off",
        mode="before",
    )
    @classmethod
    def _split_list(cls, value: object) -> object:
        if isinstance(value, str):
            return [item.strip() for item in value.split(",") if item.strip()]
        return value

    # Abuse resistance (config/limits.py holds the defaults as data).
    # The one prompt limit: the API refuses longer prompts (422 `prompt_too_long`), its OpenAPI description states
    # it as the prompt's maxLength, and GET /v1/studio tells the web app.
    max_prompt_chars: int = Field(2000, ge=1, le=100_000, validation_alias=_env("ATELIER_MAX_PROMPT_CHARS"))
    # Jobs one account may have queued or running at once; past it POST /v1/jobs answers 429 `too_many_active_jobs`.
    max_active_jobs: int = Field(4, ge=1, le=100, validation_alias=_env("ATELIER_MAX_ACTIVE_JOBS"))
    rate_limit_overrides: Annotated[dict[str, str], NoDecode] = Field(
        default_factory=_empty_dict, validation_alias=_env("ATELIER_RATE_LIMITS")
    )
    # Deprecated: believe the N-th X-Forwarded-For entry from whatever peer connects. Outside production only, and
    # never with ATELIER_TRUSTED_PROXIES (see `_one_client_address_rule`).
    trusted_proxy_hops: int = Field(0, ge=0, le=5, validation_alias=_env("ATELIER_TRUSTED_PROXY_HOPS"))
    pseudonym_secret: str | None = Field(None, validation_alias=_env("ATELIER_PSEUDONYM_KEY"))

    @field_validator("speedups_off")
    @classmethod
    def _known_speedups(cls, value: list[str]) -> list[str]:
        return check_speedups_off(value)

    @field_validator("default_models", mode="before")
    @classmethod
    def _parse_default_models(cls, value: object) -> object:
        """`text_to_image=flux-schnell,edit=flux-kontext-dev` → {"text_to_image": "flux-schnell", ...}."""
        if isinstance(value, str):
            pairs = [item.partition("=") for item in value.split(",") if item.strip()]
            if any(not sep or not model.strip() for _, sep, model in pairs):
                raise ValueError("ATELIER_DEFAULT_MODELS is a comma-separated list of TASK=MODEL_ID")
            value = {task.strip(): model.strip() for task, _, model in pairs}
        return value

    @field_validator("rate_limit_overrides", mode="before")
    @classmethod
    def _parse_budgets(cls, value: object) -> object:
        """`jobs.user=10/60,public.ip=50/60` → {"jobs.user": "10/60", ...}; checked against config/limits.py."""
        if isinstance(value, str):
            pairs = [item.partition("=") for item in value.split(",") if item.strip()]
            if any(not sep for _, sep, _ in pairs):
                raise ValueError("ATELIER_RATE_LIMITS is a comma-separated list of BUCKET.user|ip=LIMIT/SECONDS")
            value = {name.strip(): budget.strip() for name, _, budget in pairs}
        if isinstance(value, dict):
            buckets_with({str(k): str(v) for k, v in value.items()})  # raises on unknown names or bad budgets
        return value

    @field_validator("cors_origins", mode="before")
    @classmethod
    def _split_origins(cls, value: object) -> object:
        if isinstance(value, str):
            return [origin.strip().rstrip("/") for origin in value.split(",") if origin.strip()]
        return value

    @field_validator("supabase_url", "public_url", "app_url", mode="after")
    @classmethod
    def _strip_slash(cls, value: str | None) -> str | None:
        return value.rstrip("/") if value else value

    @model_validator(mode="after")
    def _licences_name_known_models(self) -> "Settings":
        offered_models(self)  # raises ValueError for an unknown id in ATELIER_NONCOMMERCIAL_LICENSED
        check_default_models(self)  # and for a default model that is unknown, wrong for its task or not licensed
        return self

    @model_validator(mode="after")
    def _smtp_is_complete(self) -> "Settings":
        if self.email_sender == "smtp":
            from config.email import check_sender_settings  # noqa: PLC0415  (lazy: only with the SMTP sender)

            check_sender_settings(self.smtp_url, self.email_from)  # raises ValueError naming the variable
        return self

    @model_validator(mode="after")
    def _one_client_address_rule(self) -> "Settings":
        """One rule decides the client address (shared/devices/network.py). ATELIER_TRUSTED_PROXIES is it; the
        deprecated ATELIER_TRUSTED_PROXY_HOPS works alone outside production. Refused: both at once (they used to
        decide the address for different purposes and could disagree on one request), an entry that is not an
        address or network, and in production any rule that believes every peer (`*`, a /0 network, a hop count)."""
        every_peer: list[str] = []
        for item in self.trusted_proxies:
            if item == "*":
                every_peer.append("ATELIER_TRUSTED_PROXIES=*")
                continue
            try:
                network = ipaddress.ip_network(item, strict=False)
            except ValueError:
                raise ValueError(f"ATELIER_TRUSTED_PROXIES: {item!r} is not an IP address or network") from None
            if network.prefixlen == 0:
                every_peer.append(f"ATELIER_TRUSTED_PROXIES={item}")
        if self.trusted_proxies and self.trusted_proxy_hops:
            raise ValueError(
                "ATELIER_TRUSTED_PROXIES and ATELIER_TRUSTED_PROXY_HOPS are both set: one rule decides the client "
                "address; keep ATELIER_TRUSTED_PROXIES (the proxies' addresses) and unset ATELIER_TRUSTED_PROXY_HOPS"
            )
        if self.trusted_proxy_hops:
            every_peer.append("ATELIER_TRUSTED_PROXY_HOPS (deprecated: believes whoever connects)")
        if self.is_production and every_peer:
            raise ValueError(
                f"production refuses a client-address rule that trusts every peer: {', '.join(every_peer)}; "
                "name your proxies' addresses in ATELIER_TRUSTED_PROXIES, or leave it unset (Modal gives the app "
                "the caller's address)"
            )
        return self

    @model_validator(mode="after")
    def _production_needs_real_secrets(self) -> "Settings":
        if self.environment != "production":
            return self
        required = {
            "DATABASE_URL": self.database_url,
            "SUPABASE_URL": self.supabase_url,
            "SUPABASE_SECRET_KEY": self.supabase_secret_key,
        }
        if self.supabase_jwt_secret is not None:
            required["SUPABASE_JWT_SECRET"] = self.supabase_jwt_secret
        if self.billing_enabled:  # billing is on as soon as either Polar secret is set; then both must be real
            required["POLAR_ACCESS_TOKEN"] = self.polar_access_token
            required["POLAR_WEBHOOK_SECRET"] = self.polar_webhook_secret
        required["ATELIER_PUBLIC_URL"] = self.public_url  # links in mail
        bad = sorted(name for name, value in required.items() if is_placeholder(value))
        if self.email_sender == "log":  # mail must leave in production: the log sender only records outbox ids
            bad.append("ATELIER_EMAIL_SENDER (log; use smtp with ATELIER_SMTP_URL and ATELIER_EMAIL_FROM)")
        if bad:
            raise ValueError(f"production refuses missing or placeholder settings: {', '.join(bad)}")
        return self

    @property
    def supervisory_authority_parts(self) -> tuple[str, str | None]:
        """ATELIER_SUPERVISORY_AUTHORITY as (name, URL): the URL is its last word when that is an http(s) link."""
        text = (self.supervisory_authority or "").strip()
        name, _, last = text.rpartition(" ")
        if last.startswith(("https://", "http://")):
            return name.strip(), last
        return text, None

    def privacy_settings_missing(self) -> list[str]:
        """The settings the privacy policy needs that are unset or placeholders (`deploy.py deploy` refuses them):
        the controller, the supervisory authority with its URL, and, per processor this deployment calls, its
        region and transfer safeguard (and the email provider's name when mail goes out by SMTP)."""
        bad = [
            name
            for name, value in (
                ("ATELIER_CONTROLLER_NAME", self.controller_name),
                ("ATELIER_CONTROLLER_ADDRESS", self.controller_address),
                ("ATELIER_CONTROLLER_EMAIL", self.controller_email),
                ("ATELIER_SUPERVISORY_AUTHORITY", self.supervisory_authority),
            )
            if is_placeholder(value)
        ]
        if not is_placeholder(self.supervisory_authority) and self.supervisory_authority_parts[1] is None:
            bad.append("ATELIER_SUPERVISORY_AUTHORITY (name, then its https:// URL)")
        if self.dpo_email and is_placeholder(self.dpo_email):
            bad.append("ATELIER_DPO_EMAIL (a placeholder; leave it unset when no DPO is appointed)")
        used = ["supabase", "modal"] + (["polar"] if self.billing_enabled else [])
        if self.email_sender == "smtp":
            used.append("email")
            if is_placeholder(self.email_provider):
                bad.append("ATELIER_EMAIL_PROVIDER")
        for key in used:
            if is_placeholder(self.processor_regions.get(key)):
                bad.append(f"ATELIER_PROCESSOR_REGIONS ({key}=...)")
            if is_placeholder(self.transfer_safeguards.get(key)):
                bad.append(f"ATELIER_TRANSFER_SAFEGUARDS ({key}=...)")
        return bad

    @property
    def is_production(self) -> bool:
        return self.environment == "production"

    @property
    def job_deadline(self) -> timedelta:
        return timedelta(seconds=self.job_deadline_seconds)

    @property
    def is_paid(self) -> bool:
        """A paid deployment offers only commercially licensed models (see config/models.py)."""
        return self.paid if self.paid is not None else self.is_production

    @property
    def billing_enabled(self) -> bool:
        return self.polar_access_token is not None or self.polar_webhook_secret is not None

    @property
    def supabase_issuer(self) -> str | None:
        return f"{self.supabase_url}/auth/v1" if self.supabase_url else None

    @property
    def supabase_jwks_url(self) -> str | None:
        return f"{self.supabase_url}/auth/v1/.well-known/jwks.json" if self.supabase_url else None

    @property
    def storage_kind(self) -> Literal["local", "supabase"]:
        """`ATELIER_STORAGE` when set; otherwise Supabase Storage when its URL and secret key are configured."""
        if self.storage_backend is not None:
            return self.storage_backend
        return "supabase" if self.supabase_url and self.supabase_secret_key else "local"

    @property
    def build_exports_inline(self) -> bool:
        """`ATELIER_EXPORT_INLINE` when set; by default only locally (on Modal the scheduled task builds them)."""
        return self.export_inline if self.export_inline is not None else not self.is_production

    @property
    def api_base_url(self) -> str:
        """Where links in mail point for API resources (policy texts, local signed files)."""
        return self.public_url or "http://127.0.0.1:8000"

    @property
    def web_base_url(self) -> str:
        """Where links in mail point for the app (cancel a deletion, settings, support)."""
        return self.app_url or self.api_base_url

    @property
    def storage_dir(self) -> Path:
        """The local storage backend's folder (and its URL-signing key beside it)."""
        return self.data_dir / "storage"

    @property
    def rate_buckets(self) -> dict[str, Bucket]:
        """The rate-limit budgets in force: config/limits.py with ATELIER_RATE_LIMITS applied."""
        return buckets_with(self.rate_limit_overrides)

    @property
    def pseudonym_key(self) -> bytes:
        """HMAC key for hashed subjects (rate-limit keys, security events): ATELIER_PSEUDONYM_KEY, else derived
        from the service secret, else a fixed local key. Rotating it only restarts counters."""
        material = self.pseudonym_secret or self.supabase_secret_key or "atelier-local-pseudonyms"
        return hashlib.sha256(b"atelier-pseudonym:" + material.encode()).digest()

    @property
    def dataset_key_path(self) -> Path:
        """The local dataset HMAC key, generated on first use when no secret is configured; never in production."""
        return self.data_dir / "dataset.key"

    @property
    def dev_key_path(self) -> Path:
        """Signing key for local-only tokens (`deploy.py token`); never read in production."""
        return self.data_dir / "dev-jwt.key"

    @property
    def signup_block_salt_path(self) -> Path:
        """Salt for under-13 block hashes when neither ATELIER_SIGNUP_BLOCK_SALT nor a secret key is set."""
        return self.data_dir / "signup-block.salt"


def is_placeholder(value: str | None) -> bool:
    return value is None or value.strip().lower() in PLACEHOLDERS


@lru_cache(maxsize=1)
def get_settings() -> "Settings":
    """The process-wide settings, read once from the environment."""
    return Settings()
