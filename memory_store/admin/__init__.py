"""Tools for people: inspection, editing, the audit log, re-embedding and copying namespaces."""
