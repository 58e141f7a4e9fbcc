"""``audiodiff serve``: a local web page over the same engine as the command line.

:mod:`.app` (the Starlette application and its JSON API), :mod:`.engine` (requests checked and run by the
command line's own functions with one loaded pipeline), :mod:`.jobs` (the queue: one generation at a time),
:mod:`.storage` (the output folder, file names the server picks), :mod:`.clips` (what the page shows of a
clip), :mod:`.prompt_fields` (the prompt's pickers), ``static/`` (the page: HTML, CSS, JavaScript; nothing
fetched from the internet). Needs the ``serve`` extra (starlette, uvicorn, python-multipart).
"""
