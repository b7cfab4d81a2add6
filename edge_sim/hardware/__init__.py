"""Emulated hardware: I2C chips at the transaction level, an SMBus-compatible bus, RFID
readers on real pseudo-terminals."""
