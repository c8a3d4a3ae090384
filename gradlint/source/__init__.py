"""source: the project's source read without running it — files and the project's root, notebooks as
one source, suppression comments, call sites evaluated statically, and the facts they state
(clipping, optimizers, warm-up, recurrences)."""
