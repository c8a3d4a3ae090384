"""tracing: a built model turned into a graph — example inputs inferred from its first layers, the
torch.fx trace with the user's source lines, and the networkx graph whose nodes carry the facts
rules read."""
