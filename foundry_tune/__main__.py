from foundry_tune.cli import console

console()
