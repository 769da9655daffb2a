"""API identity: API keys, refresh-token sessions and sign-in attempts (for rate limiting),
and the policies that let a signed-in user read and change their own auth.users row.

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

from alembic import op

from workflow_builder.db.migrations import rls

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

TABLES = """
create table public.api_keys (
  id uuid primary key default gen_random_uuid(),
  user_id uuid not null references public.users (id) on delete cascade,
  name varchar(100) not null,
  prefix varchar(16) not null,
  key_hash char(64) not null,
  expires_at timestamptz,
  last_used_at timestamptz,
  created_at timestamptz not null default now(),
  constraint api_keys_key_hash_key unique (key_hash),
  constraint api_keys_user_id_name_key unique (user_id, name),
  constraint api_keys_key_hash_hex check (key_hash ~ '^[0-9a-f]{64}$')
);
create index idx_api_keys_user_id on public.api_keys (user_id);

-- One row per sign-in: the refresh token currently valid for it is stored hashed, so a
-- replayed (already rotated) refresh token is recognised and ends the whole session.
create table public.auth_sessions (
  id uuid primary key default gen_random_uuid(),
  user_id uuid not null references public.users (id) on delete cascade,
  refresh_token_hash char(64) not null,
  user_agent varchar(255),
  ip_address varchar(64),
  created_at timestamptz not null default now(),
  refreshed_at timestamptz,
  expires_at timestamptz not null,
  revoked_at timestamptz,
  constraint auth_sessions_refresh_token_hash_key unique (refresh_token_hash)
);
create index idx_auth_sessions_user_id on public.auth_sessions (user_id);

-- Failed sign-ins per (email, ip) inside a time window decide when to answer 429.
create table public.sign_in_attempts (
  id uuid primary key default gen_random_uuid(),
  email varchar(255) not null,
  ip_address varchar(64) not null,
  succeeded boolean not null,
  attempted_at timestamptz not null default now()
);
create index idx_sign_in_attempts_email_ip_attempted_at
  on public.sign_in_attempts (lower(email), ip_address, attempted_at);
"""

POLICIES = f"""
{rls.owned("api_keys", "api_keys:write", owner="user_id")}

{rls.enable("auth_sessions")}
grant select, update, delete on public.auth_sessions to authenticated;
create policy auth_sessions_select on public.auth_sessions for select to authenticated
  using (user_id = {rls.UID});
create policy auth_sessions_update on public.auth_sessions for update to authenticated
  using (user_id = {rls.UID}) with check (user_id = {rls.UID});
create policy auth_sessions_delete on public.auth_sessions for delete to authenticated
  using (user_id = {rls.UID});

-- Only the system reads and writes sign-in attempts: no policy for authenticated.
{rls.enable("sign_in_attempts")}

grant select on auth.users to authenticated;
grant update (email, encrypted_password, raw_user_meta_data) on auth.users to authenticated;
create policy users_select_own on auth.users for select to authenticated
  using (id = {rls.UID});
create policy users_update_own on auth.users for update to authenticated
  using (id = {rls.UID}) with check (id = {rls.UID});
"""


def upgrade() -> None:
    op.execute(TABLES)
    op.execute(POLICIES)


def downgrade() -> None:
    op.execute(
        """
        drop policy users_update_own on auth.users;
        drop policy users_select_own on auth.users;
        revoke update (email, encrypted_password, raw_user_meta_data) on auth.users
          from authenticated;
        revoke select on auth.users from authenticated;
        drop table public.sign_in_attempts, public.auth_sessions, public.api_keys;
        """
    )
