"""The anonymised service-improvement dataset: eligibility, keyed links, build, purge and versions."""
