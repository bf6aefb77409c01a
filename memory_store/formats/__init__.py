"""Memory files: the JSON and REMEMBERER YAML formats and export/import through them."""
