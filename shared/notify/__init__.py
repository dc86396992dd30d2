"""In-app notifications and the email outbox with a pluggable sender."""
