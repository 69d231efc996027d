from siamface.cli.entry import console

console()
