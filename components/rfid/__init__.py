"""Serial RFID readers: frame decoders, presence tracking and the `rfid` component."""
