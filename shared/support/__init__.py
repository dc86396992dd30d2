"""Support tickets, messages and validated image attachments."""
