"""Account workflows that reach across many packages: signup (account, signup credits, payments made before
the account existed), onboarding (and the under-13 erasure), the Supabase Auth sync, operator credit grants.

The top floor of shared/: it calls down into accounts, credits, billing, policies, access and privacy; nothing
below imports it."""
