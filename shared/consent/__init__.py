"""Consent: cookie-banner choices as append-only events, the can_process guard and usage analytics."""

from shared.consent.guard import PURPOSES, can_process, record_analytics

__all__ = ["PURPOSES", "can_process", "record_analytics"]
