"""Build, publish and deploy floorline's Greengrass components without the GDK CLI.

`python -m cloud.greengrass build|publish|deploy|gdk-projects`. The build writes the same
`greengrass-build/` layout as `gdk component build` (zip build system); publish does what
`gdk component publish` does; deploy creates a thing-group deployment from a site file.
edge_sim deploys from the same build outputs through `cloud.greengrass.build.load_build`.
"""
