"""Errors for people: each says what is wrong and what to do."""


class SpireeError(Exception):
    """A failure the user can act on; the CLI prints it as one line and exits 1."""


class ExportError(SpireeError):
    pass


class CompileError(SpireeError):
    pass


class RunError(SpireeError):
    pass


class ArtifactError(SpireeError):
    pass
