"""The processors the code calls, as data: who they are, what they do with personal data, and which settings say
where that data goes and under which safeguard it leaves the EEA.

The privacy policy's recipients table is rendered from this (config/policies/render.py) and the data map's
recipients (shared/privacy/datamap.py, named in every data export) are built from it, so the three cannot drift.
Where each processor keeps the data depends on the deployment (the Supabase project's region, the Modal
workspace, the SMTP provider chosen), so the region and the transfer safeguard come from settings:
`ATELIER_PROCESSOR_REGIONS` and `ATELIER_TRANSFER_SAFEGUARDS`, `key=text` pairs keyed by `Processor.key`.
`deploy.py deploy` refuses a production deployment that leaves one unset.
"""

from __future__ import annotations

from config.values import value


@value
class Processor:
    key: str  # in ATELIER_PROCESSOR_REGIONS / ATELIER_TRANSFER_SAFEGUARDS
    name: str  # as the policy names it; the email provider's comes from ATELIER_EMAIL_PROVIDER
    role: str
    data: str
    called_by: str  # where the code talks to it (a reader can check the claim)


PROCESSORS: tuple[Processor, ...] = (
    Processor(
        key="supabase",
        name="Supabase",
        role="processor: hosting of the database, file storage and sign-in",
        data="account, usage, media, device/connection, payment, support and consent data at rest",
        called_by="shared/kit/db, shared/media/storage.py, shared/accounts/auth_admin.py",
    ),
    Processor(
        key="modal",
        name="Modal",
        role="processor: the servers that run the API, the scheduled tasks and image generation",
        data="prompts and images while a request or generation runs; nothing is kept there afterwards",
        called_by="functions/deployment.py",
    ),
    Processor(
        key="polar",
        name="Polar",
        role="merchant of record: checkout, payments, invoices, tax and refunds",
        data="your account id, what you bought, and the billing details you give Polar directly",
        called_by="shared/billing/polar_api.py",
    ),
    Processor(
        key="email",
        name="Our email delivery service",
        role="processor: the SMTP provider that delivers the emails we send",
        data="your email address and the emails we send you (policy notices, exports, deletion, moderation "
        "decisions, support answers)",
        called_by="shared/notify/smtp.py",
    ),
)

KEYS: tuple[str, ...] = tuple(p.key for p in PROCESSORS)

# How the policy reads when the deployment has not said (local runs); production refuses these (deploy.py deploy).
UNSET_REGION = "not configured for this deployment"
EEA_ONLY = "none needed: the data stays in the EEA"


def processor(key: str) -> Processor:
    for item in PROCESSORS:
        if item.key == key:
            return item
    raise KeyError(key)
