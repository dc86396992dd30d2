"""Billing with Polar: the product catalogue, checkout and portal sessions, webhook effects, reconciliation."""
