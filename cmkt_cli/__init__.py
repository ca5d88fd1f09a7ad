"""The `cmkt` command line: parses options, calls `pipelines`, prints results."""
