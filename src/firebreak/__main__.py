from firebreak.cli.main import app

app()
