"""Libraries several components (and edge_sim) share: I2C chip drivers, RFID frame decoders,
GPIO, the export format. A library imports only components.core and third-party packages;
it is no component (no recipe, no __main__)."""
