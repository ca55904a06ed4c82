"""Search core: chunking and embedding of code and docs for Weaviate."""
