"""Privacy by construction: the data map, and (later) export, erasure, restriction and the consent guard."""
