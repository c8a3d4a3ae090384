"""fix: ``gradlint --fix`` — each rule's proposed edit verified on a private copy of the project
(``verify``), then written atomically; the same edits as data for the API."""
