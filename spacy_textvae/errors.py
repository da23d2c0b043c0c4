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
