"""Sub-commands of the `leanspeech` CLI.

A module here defines `add_parser(subparsers)`, which adds its parser and sets `run=callable(args)`
as a default. The CLI discovers the modules, so a command appears when its module lands.
"""
