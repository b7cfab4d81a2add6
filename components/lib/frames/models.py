"""The serial RFID reader models the decoders serve, for the RFID component's configuration
and the Console's `rfid test`."""

from __future__ import annotations

from components.lib.frames import id12, rdm6300, uhf_m100

# model -> (frame protocol, default baud rate). ID-2LA/12LA/20LA share one frame format.
MODELS = {
    "rdm6300": ("rdm6300", rdm6300.BAUD),
    "id12la": ("id12", id12.BAUD),
    "id20la": ("id12", id12.BAUD),
    "uhf_m100": ("uhf_m100", uhf_m100.BAUD),
}
VARIANTS = {"m100": uhf_m100.M100, "r200": uhf_m100.R200}
