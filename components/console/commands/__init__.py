"""The console's commands, one module per group. Each module has `add_to(sub, flags)`, which
declares its subcommands, and `HANDLERS`, which maps `(command, action)` to the function
that runs it; `components/console/__main__.py` assembles them."""
