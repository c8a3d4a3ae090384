"""check: what a rule is and the engine that checks one model in process (trace, graph, passes,
rules, probe, findings), and suppressions applied to the results; the rules themselves are
``gradlint.rules``."""
