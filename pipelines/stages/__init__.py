"""The stages behind the CLI commands; each reads the previous stage's artifacts and writes its own."""
