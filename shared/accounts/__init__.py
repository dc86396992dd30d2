"""Accounts: who the caller is, created from their access token on first use."""
