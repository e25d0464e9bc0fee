"""Knowledge: entries and their versions, curation, the embedder, indexes and hybrid search."""
