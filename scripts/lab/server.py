"""JupyterLab 4 for the book, without a Python JupyterLab: jupyterlab_server (Debian's
python3-jupyterlab-server) serves the front end that scripts/lab.ts builds into .cache/lab/build.

    /usr/bin/python3 scripts/lab/server.py --ServerApp.root_dir=notebooks [--ServerApp.* options]

(`npm run lab` builds the front end if needed and starts this with the book's notebooks.)

Settings and workspaces live where JupyterLab keeps them (<jupyter config dir>/lab/user-settings
and /lab/workspaces), and <jupyter config dir>/labconfig/page_config.json can disable extensions
("disabledExtensions"), as in JupyterLab itself.
"""
import json
import os

from jupyter_core.paths import jupyter_config_dir
from jupyter_server.base.handlers import APIHandler, JupyterHandler
from jupyterlab_server import LabServerApp
from tornado import web, websocket

HERE = os.path.dirname(os.path.abspath(__file__))
# Built outside scripts/, where the front end's npm packages and their TypeScript sources stay
# out of the project's own checks of scripts/.
STATIC = os.path.normpath(os.path.join(HERE, "..", "..", ".cache", "lab", "build", "static"))


def _lab_version():
    with open(os.path.join(HERE, "package-lock.json"), encoding="utf-8") as f:
        return json.load(f)["packages"]["node_modules/@jupyterlab/application"]["version"]


class MeHandler(APIHandler):
    """/api/me, which jupyter_server 2 answers and 1.x lacks: JupyterLab 4 asks it who the user is."""

    @web.authenticated
    def get(self):
        user = "reader"
        identity = {"username": user, "name": user, "display_name": user, "initials": "R", "avatar_url": None, "color": None}
        self.finish(json.dumps({"identity": identity, "permissions": {}}))


class EventsHandler(JupyterHandler, websocket.WebSocketHandler):
    """/api/events/subscribe, the server's event stream in jupyter_server 2. JupyterLab 4 keeps
    reconnecting while it is missing; jupyter_server 1.x has no events to send, so it stays quiet."""

    async def get(self, *args, **kwargs):
        if self.current_user is None:
            raise web.HTTPError(403)
        return await super().get(*args, **kwargs)

    def on_message(self, message):
        pass


def _jupyter_server_extension_points():
    return [{"module": __name__, "app": BookLab}]


class BookLab(LabServerApp):
    # Also the name of its static URL (/static/lab) and its config section (--BookLab.*).
    name = "lab"
    app_name = "JupyterLab"
    app_version = _lab_version()
    extension_url = "/lab"
    default_url = "/lab"
    load_other_extensions = False
    static_dir = STATIC
    templates_dir = os.path.join(HERE, "templates")
    schemas_dir = os.path.join(STATIC, "schemas")
    themes_dir = os.path.join(STATIC, "themes")
    # page_config.json there: extensions this build leaves off unless a reader's labconfig says otherwise.
    app_settings_dir = os.path.join(HERE, "settings")
    user_settings_dir = os.path.join(jupyter_config_dir(), "lab", "user-settings")
    workspaces_dir = os.path.join(jupyter_config_dir(), "lab", "workspaces")

    def initialize_handlers(self):
        super().initialize_handlers()
        self.handlers.extend([("/api/me", MeHandler), ("/api/events/subscribe", EventsHandler)])


if __name__ == "__main__":
    if not os.path.exists(os.path.join(STATIC, "bundle.js")):
        raise SystemExit("The JupyterLab front end is not built: run `npm run lab` (or bash scripts/setup.sh)")
    BookLab.launch_instance()
