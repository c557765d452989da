"""The applications: the command lines and what they run, on top of the layers below."""
