"""The in-memory vector side: embeddings, the FAISS index and its file, eviction pairs, sync."""
