"""Trust and safety after publication: gallery reports, operator takedowns, account suspension, the review queue."""
