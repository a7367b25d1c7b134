"""A local Foundry fine-tuning service that speaks the real wire contract (optional extra
``foundry-tune[emulator]``): files, uploads, fine-tuning jobs, graders, ARM deployments and
inference, with durable state and reproducible fault injection.

The library core never imports this package. [`Emulator`][Emulator] runs the server in a subprocess;
``foundry-tune emulator`` / ``python -m foundry_tune.emulator`` run it in the foreground.
"""

from foundry_tune.emulator._launcher import Emulator, EmulatorInfo

__all__ = ["Emulator", "EmulatorInfo"]
