"""The ``graphkit`` command line."""
