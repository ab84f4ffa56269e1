# A Flask application (Debian's python3-flask) as a WSGI script, for mounting
# at a prefix such as /flask: url_for() must include the mount, which Flask
# takes from SCRIPT_NAME.
#
#   /                 JSON: url_for of both views (relative and external),
#                     request.script_root, request.path, request.url
#   /hello/<name>     "Hello, NAME!"
from flask import Flask, jsonify, request, url_for

app = Flask(__name__)


@app.route("/")
def index():
    return jsonify(
        index=url_for("index"),
        hello=url_for("hello", name="wörld"),
        hello_external=url_for("hello", name="x", _external=True),
        script_root=request.script_root,
        path=request.path,
        url=request.url,
    )


@app.route("/hello/<name>")
def hello(name):
    return f"Hello, {name}!\n", 200, {"Content-Type": "text/plain; charset=utf-8"}


application = app
