"""Graph core: ontology, Dgraph schema generation and the commit-versioned writer's logic."""
