"""The ``freshpoc`` command line."""
