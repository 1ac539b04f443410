"""StructTypes of every lake table (schemas.tables), the lineage columns (schemas.lineage) and
the config schema (schemas.config). Import the module you need: schemas.config needs only
pydantic, the others pyspark."""
