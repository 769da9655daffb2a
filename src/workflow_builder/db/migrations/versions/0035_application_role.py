"""`wfb_app`: the role API and worker processes connect as, with no right beyond what they use.

The processes connected as whoever `DATABASE_URL` named, in practice the schema's owner or a
superuser: anything that reached the connection (tenant code, a stolen URL) owned every row of
every tenant. `wfb_app` is not a superuser, owns nothing, cannot bypass row-level security,
create roles, databases or objects in the product's schemas. It is a member of `anon`,
`authenticated` and `service_role`, so a unit of work can take the role its work needs:
requests run as `authenticated` (row-level security applies), system work as `service_role`
(the one role that bypasses it). Outside those, as itself, it reads the schema's revision and
sees no tenant's row (every table has row-level security and no policy names it).

The role is created without LOGIN: an administrator gives it a password and LOGIN, or creates a
login role `IN ROLE wfb_app`, and points `DATABASE_URL` at it; migrations keep running as the
owner (`WFB_OWNER_DATABASE_URL`). See docs/security.md.

Revision ID: 0035
Revises: 0025
"""

from __future__ import annotations

from alembic import op

revision = "0035"
down_revision = "0025"
branch_labels = None
depends_on = None

APP_ROLE = "wfb_app"


def upgrade() -> None:
    """Create the role (once per server) and grant it this database's access."""
    op.execute(
        f"""
        do $$
        begin
          if not exists (select 1 from pg_roles where rolname = '{APP_ROLE}') then
            begin
              create role {APP_ROLE} nologin inherit nosuperuser nocreatedb nocreaterole
                nobypassrls noreplication;
            exception when duplicate_object or unique_violation then
              null;  -- another database on this server created it at the same moment
            end;
          end if;
        end $$;
        grant anon, authenticated, service_role to {APP_ROLE};
        """
    )
    op.execute(f'grant connect on database "{_database()}" to {APP_ROLE}')
    op.execute(
        f"""
        grant usage on schema wfb_meta to {APP_ROLE};
        grant select on wfb_meta.alembic_version to {APP_ROLE};
        """
    )


def downgrade() -> None:
    """Revoke this database's grants; the role stays (other databases may use it)."""
    op.execute(
        f"""
        revoke select on wfb_meta.alembic_version from {APP_ROLE};
        revoke usage on schema wfb_meta from {APP_ROLE};
        """
    )
    op.execute(f'revoke connect on database "{_database()}" from {APP_ROLE}')


def _database() -> str:
    name = op.get_bind().exec_driver_sql("select current_database()").scalar()
    return str(name).replace('"', '""')
