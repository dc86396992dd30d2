"""Scheduled tasks: each a plain function over the database, run on a schedule, recorded, safe to overlap."""
