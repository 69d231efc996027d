from siamface.cli.main import console

console()
