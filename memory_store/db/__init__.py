"""The SQL layer: tables, engines and retries, schema revisions, namespace rows."""
