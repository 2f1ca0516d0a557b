//! Sandboxes: a simulated in-memory system for every connector of the catalog.
