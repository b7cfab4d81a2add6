"""I2C drivers on an smbus2-compatible bus. Decoding lives in pure functions in each module."""
