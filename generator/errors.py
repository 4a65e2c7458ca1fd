"""The one exception type a user of the atlas ever sees."""


class AtlasError(Exception):
    """A problem with the user's input or environment, stated in one line.

    The message says what was expected, what was found and how to fix it. The command line prints it
    without a traceback and exits with ``exit_code``.
    """

    def __init__(self, message: str, exit_code: int = 2):
        super().__init__(message)
        self.exit_code = exit_code
