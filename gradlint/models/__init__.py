"""models: a file imported and its models found and built — the import under interception (scripts
and notebooks), construction from the project's own call sites, and sizing on the meta device
before building for real."""
