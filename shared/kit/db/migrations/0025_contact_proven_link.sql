-- A contact-form ticket names an account only when its address is proven: sent by a signed-in person with the
-- account's own address. Anyone can type any address into the form, so an unproven ticket is linked to nobody:
-- it is never exported, and it is deleted with the account whose address it names (or by its retention rule).
alter table support_tickets add column contact_user_id uuid references accounts (id) on delete cascade;
alter table support_tickets add constraint support_tickets_contact_link
    check (contact_user_id is null or source = 'contact');
create index support_tickets_contact_user on support_tickets (contact_user_id) where contact_user_id is not null;
