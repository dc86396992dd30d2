"""Image safety classification at the edges: in process where torch is, or a Modal function called by name."""
