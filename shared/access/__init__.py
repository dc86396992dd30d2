"""The checks every package asks before it acts for an account: may this account write now (not locked, not
erased, onboarded, not blocked), and may we process its data for an optional purpose (the guard).

It sits low in shared/ so that media, notify, support and the rights workflows can all ask it; the workflows
that change what it answers (erasure, onboarding) live above, in shared/privacy and shared/lifecycle."""
