"""Alembic's environment for Scanflow's schema. Alembic runs it for each command; it runs the
migrations on the connection :func:`scanflow.storage.schema.upgrade_schema` passes in, inside
that function's transaction (which holds the schema lock)."""

from alembic import context

from scanflow.storage.schema import VERSION_TABLE

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError(
        "Scanflow's migrations run when a store opens its database, on that store's connection: "
        "call scanflow.storage.open_database(URL) (there is no alembic.ini to run them with)"
    )

context.configure(
    connection=connection,
    version_table=VERSION_TABLE,
    transactional_ddl=True,  # SQLite too: the engines issue BEGIN themselves (see engines.py)
    render_as_batch=True,
)
with context.begin_transaction():
    context.run_migrations()
