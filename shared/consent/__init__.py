"""Consent: cookie-banner and account-settings choices as append-only events (the guard that reads them is
`shared.access.guard.can_process`)."""
