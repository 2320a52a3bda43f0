"""Errors for people: each says what is wrong and what to do."""


class SpireeError(Exception):
    """A failure the user can act on; the CLI prints it as one line and exits 1.

    `repro_dir`: where the failure's inputs were kept (the CLI adds torch/IREE messages there)."""

    def __init__(self, message: str = "", *, repro_dir=None):
        super().__init__(message)
        self.repro_dir = repro_dir


class ExportError(SpireeError):
    pass


class CompileError(SpireeError):
    pass


class RunError(SpireeError):
    pass


class ArtifactError(SpireeError):
    pass
