"""guard: running user code safely — the confinement of the process that runs it, interception of
training and process starts, model and random state left as found, child processes that never
outlive gradlint, and how far a worker got."""
