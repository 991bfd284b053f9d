"""Inverse rendering: ``diffrender optimize`` configs and the optimization loop."""
from .config import OptimizeConfig, load_config, parse_config
from .run import Run, optimize

__all__ = ["OptimizeConfig", "load_config", "parse_config", "Run", "optimize"]
