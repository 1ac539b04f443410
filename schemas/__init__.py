"""StructTypes of every lake table, the lineage columns, and the table registry."""
from schemas.lineage import LINEAGE_COLUMNS, LINEAGE_FIELDS, LineageError, check_lineage
from schemas.tables import TABLES, TableSpec, table

__all__ = ["LINEAGE_COLUMNS", "LINEAGE_FIELDS", "LineageError", "check_lineage", "TABLES", "TableSpec", "table"]
