# Hello world through Flask (Debian's python3-flask): a framework's routing,
# request and response objects on top of the server's overhead.
from flask import Flask

app = Flask(__name__)


@app.route("/")
def hello():
    return "Hello, world!\n", 200, {"Content-Type": "text/plain"}


application = app
