-- Support: tickets, their messages (from the user or staff) and image attachments. Attachments are
-- validated and stripped like uploads and stored under users/{user_id}/support/.
create table support_tickets (
    id uuid primary key default gen_random_uuid(),
    user_id uuid not null references accounts (id) on delete cascade,
    subject text not null check (char_length(subject) between 1 and 200),
    status text not null default 'open' check (status in ('open', 'answered', 'closed')),
    created_at timestamptz not null default clock_timestamp(),
    updated_at timestamptz not null default clock_timestamp()
);
alter table support_tickets enable row level security;
create index support_tickets_user on support_tickets (user_id, created_at desc, id desc);

create table support_messages (
    id uuid primary key default gen_random_uuid(),
    ticket_id uuid not null references support_tickets (id) on delete cascade,
    user_id uuid not null references accounts (id) on delete cascade,
    author text not null check (author in ('user', 'staff')),
    body text not null check (char_length(body) between 1 and 10000),
    created_at timestamptz not null default clock_timestamp()
);
alter table support_messages enable row level security;
create index support_messages_ticket on support_messages (ticket_id, created_at);

create table support_attachments (
    id uuid primary key,
    message_id uuid not null references support_messages (id) on delete cascade,
    user_id uuid not null references accounts (id) on delete cascade,
    position smallint not null check (position between 0 and 4),
    storage_key text not null unique,
    content_type text not null check (content_type in ('image/jpeg', 'image/png', 'image/webp')),
    width integer not null check (width > 0),
    height integer not null check (height > 0),
    bytes bigint not null check (bytes > 0),
    sha256 text not null check (sha256 ~ '^[0-9a-f]{64}$'),
    created_at timestamptz not null default now(),
    unique (message_id, position),
    constraint support_attachment_key_owned check (storage_key like 'users/' || user_id::text || '/support/%')
);
alter table support_attachments enable row level security;
create index support_attachments_message on support_attachments (message_id);
