"""MQTT 3.1.1 as the cloud side and the simulator speak it: packet encoding (wire) and topic
filters (filters). No device runs this code, so it lives outside components/core."""
