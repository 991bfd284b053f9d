"""Losses, optimizers, bounds and learning-rate schedules for inverse problems (shared by
``diffrender optimize`` and ``diffrender tune``)."""
from .losses import LOSSES, get_loss, l1, l2, l2_srgb, relative_l2
from .optimizers import (LBFGS, METHODS, SGD, Adam, LevenbergMarquardt, Schedule, UniformAdam, minimize,
                         project)

__all__ = ["LOSSES", "get_loss", "l1", "l2", "l2_srgb", "relative_l2", "Adam", "UniformAdam", "SGD",
           "LBFGS", "LevenbergMarquardt", "METHODS", "minimize", "Schedule", "project"]
