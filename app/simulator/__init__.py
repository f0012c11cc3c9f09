"""A bundled stand-in for the demo providers' external APIs, so the service runs offline."""

from app.simulator.server import Simulator

__all__ = ["Simulator"]
