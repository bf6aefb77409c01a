"""`rlem serve`: the memory-augmented agent as an HTTP service (FastAPI on uvicorn).

One process holds the policy, the memory and its index; episodes from many clients are decided in
shared batches; the memory, backups and API keys are behind keys scoped to namespaces.
"""
