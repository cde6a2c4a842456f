from workhand.cli import app

app(prog_name="workhand")
