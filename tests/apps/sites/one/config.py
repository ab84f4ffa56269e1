# This site's settings; the site's site.wsgi imports it as the top-level module
# `config`, as many small deployments do.
SITE_NAME = "one"
