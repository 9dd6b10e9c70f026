"""The ``zomehost`` command line: a thin shell over the conductor and the client."""
