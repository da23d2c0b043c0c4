"""The one error class of spacy-textvae."""


class TextVAEError(ValueError):
    """Something the user can fix: the message says what was wrong and how.

    A `ValueError`, so code that catches spaCy's and thinc's configuration
    errors catches it too. Messages start with "[textvae]".
    """

    def __init__(self, message: str) -> None:
        if not message.startswith("[textvae]"):
            message = f"[textvae] {message}"
        super().__init__(message)


class NonFiniteBatchError(TextVAEError):
    """A training batch gave non-finite values (inputs, loss or gradients).
    The component skips such a batch with a warning; the update is undone.

    cause (str): What was not finite.
    """

    def __init__(self, cause: str) -> None:
        self.cause = cause
        super().__init__(f"A training batch gave non-finite {cause}; it was skipped and changed nothing.")
