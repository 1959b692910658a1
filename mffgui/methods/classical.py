"""Classical fusion methods (filled in by the foundation work)."""
