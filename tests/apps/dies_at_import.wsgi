# A broken deployment: the process exits (status 3) while this script is
# imported. With `preload: true` every new worker dies young, so the
# supervisor's respawn backoff shows.
import os

os._exit(3)
