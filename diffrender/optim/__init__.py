"""Losses, optimizers, bounds and learning-rate schedules for inverse problems."""
from .losses import LOSSES, get_loss, l1, l2, l2_srgb, relative_l2
from .optimizers import LBFGS, SGD, Adam, Schedule, project

__all__ = ["LOSSES", "get_loss", "l1", "l2", "l2_srgb", "relative_l2", "Adam", "SGD", "LBFGS",
           "Schedule", "project"]
