"""Command-line interface: ``diffrender <command>`` (click group; subsystems add commands)."""
import click


@click.group()
def cli():
    """diffrender: differentiable rendering and image processing."""


def _register():
    from .filters.cli import commands as filter_commands

    for cmd in filter_commands:
        cli.add_command(cmd)


_register()


def main():  # pragma: no cover
    cli()
