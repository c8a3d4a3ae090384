"""core: what every stage shares — findings and where they point, the settings of one run, its
time and memory limits, how a model will be trained, and where the user's code is on the stack.

Imports no other gradlint package, and not torch.
"""

__version__ = "0.1.0"
