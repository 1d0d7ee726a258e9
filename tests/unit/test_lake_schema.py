"""The lake's one schema is the one the docs and Terraform show."""

from pathlib import Path

from chalicelib.schema import lake

ROOT = Path(__file__).resolve().parents[2]


def test_terraform_lake_schema_is_generated_from_the_code():
    assert (ROOT / "terraform" / "lake_schema.json").read_text() == lake.lake_schema_json()


def test_docs_list_every_column_with_its_types():
    docs = (ROOT / "docs" / "lake.md").read_text()
    for column in lake.COLUMNS:
        assert f"| `{column.name}` | {column.glue_type} | {column.duckdb_type} | {column.description} |" in docs
    for column in lake.PARTITION_KEYS:
        assert f"| `{column.name}` (partition) | {column.glue_type} |" in docs


def test_partition_keys_are_not_columns_of_the_files():
    # Glue refuses a table whose partition key repeats a column; the files carry neither.
    assert not {c.name for c in lake.PARTITION_KEYS} & set(lake.COLUMN_NAMES)
