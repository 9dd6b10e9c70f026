"""The conductor: keys, apps, cells, the call pipeline, and routing of nested calls."""
