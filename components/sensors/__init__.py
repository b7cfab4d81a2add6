"""I2C sensors: drivers, fault handling, bus scan and the `sensors` component."""
