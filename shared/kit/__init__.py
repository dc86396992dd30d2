"""The ground floor: database, errors, outbound HTTP, pagination and text helpers. Knows nothing of the domain."""
