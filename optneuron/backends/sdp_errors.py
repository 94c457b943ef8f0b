"""The SDP backend's error, shared by its Fantope and its other formulations."""

__all__ = ["SDPSolverError"]


class SDPSolverError(RuntimeError):
    """The SDP solver did not return an optimal point; the message names the status."""
