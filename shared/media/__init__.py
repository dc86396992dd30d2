"""Media: private object storage, validated uploads, generation outputs, history and the public gallery."""
