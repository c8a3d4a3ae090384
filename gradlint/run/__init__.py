"""run: checking files and training commands from the main process — configuration, paths expanded
to files, source rules, the result cache, and the worker processes (fork server, worker, training
command observer) that run the engine on user code."""
