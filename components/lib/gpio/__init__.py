"""GPIO through gpiozero: the status LED, the alarm output and the technician's inputs."""
