"""Retention enforcement: the policy table (config/retention.py) applied to the tables in sweeps.py."""
