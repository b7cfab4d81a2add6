"""floorline's IoT topic rules as data, and a local engine that runs them."""
